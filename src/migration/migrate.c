/* Live migration: sockets, the source's pre-copy loop and switch-over, the destination's receive. */
#include "migration/migrate.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mem/dirty.h"
#include "migration/stream.h"
#include "security/seccomp.h"
#include "util/log.h"
#include "vmm/config_state.h"
#include "vmm/vmm.h"

#define MIG_MAX_PASSES 30
/*
 * Pages of data per RAM frame (the protocol allows MIG_MAX_PAGES): the destination takes a
 * frame whole before writing it, so the frame size is how far it may trail the source when
 * the VM pauses; 1 MiB keeps that near 0.5 ms here instead of 2 ms.
 */
#define MIG_DATA_PAGES 256
/* Auto-converge, as QEMU's defaults: engage after two passes in which the guest dirtied more
 * than half of what was sent, at 20 %; then 10 % more after each such pass, up to 99 %. */
#define MIG_THROTTLE_INITIAL 20
#define MIG_THROTTLE_STEP 10
#define MIG_THROTTLE_MAX 99
#define MIG_REPLY_TIMEOUT_MS 30000
/* The destination gives up on a source that sends nothing for this long. */
#define MIG_IDLE_TIMEOUT_MS 60000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- sockets -------------------------------------------------------------------------- */

static int mig_socket(const char *url, bool listening, char *err, size_t errlen)
{
	int fd = -1, ret;

	if (!strncmp(url, "unix:", 5) && url[5]) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		/* A listener binds a temporary name and renames it into place once it listens,
		 * so a source that sees the path never finds it refusing connections. */
		if (strlen(url + 5) + (listening ? 24 : 0) >= sizeof(a.sun_path)) {
			snprintf(err, errlen, "migration URL '%s': the path is too long", url);
			return -ENAMETOOLONG;
		}
		if (listening)
			snprintf(a.sun_path, sizeof(a.sun_path), "%s.%d.tmp", url + 5, (int)getpid());
		else
			strcpy(a.sun_path, url + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (listening)
			unlink(a.sun_path);
		ret = fd < 0 ? -1 : listening ? bind(fd, (void *)&a, sizeof(a)) : connect(fd, (void *)&a, sizeof(a));
		if (!ret && listening && (ret = listen(fd, 1)) == 0 && (ret = rename(a.sun_path, url + 5)))
			unlink(a.sun_path);
	} else if (!strncmp(url, "tcp:", 4)) {
		char host[128];
		const char *colon = strrchr(url + 4, ':');
		/* Numeric addresses only: no name service files behind the API's seccomp filter. */
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
						      (listening ? AI_PASSIVE : 0) }, *ai = NULL;
		if (!colon || (size_t)(colon - url - 4) >= sizeof(host)) {
			snprintf(err, errlen, "migration URL '%s': use tcp:ADDR:PORT or unix:PATH", url);
			return -EINVAL;
		}
		memcpy(host, url + 4, (size_t)(colon - url - 4));
		host[colon - url - 4] = '\0';
		if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) || !ai) {
			snprintf(err, errlen, "migration URL '%s': cannot resolve the address", url);
			return -EINVAL;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd >= 0 && listening)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		ret = fd < 0 ? -1 : listening ? bind(fd, ai->ai_addr, ai->ai_addrlen)
					     : connect(fd, ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
	} else {
		snprintf(err, errlen, "migration URL '%s': use tcp:ADDR:PORT or unix:PATH", url);
		return -EINVAL;
	}
	if (ret == 0 && listening && strncmp(url, "unix:", 5))
		ret = listen(fd, 1);
	if (ret < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot %s %s: %s", listening ? "listen on" : "connect to", url,
			 strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
}

/*
 * A peer that takes no bytes for this long has failed (a link gone without a reset, a
 * destination stopped): send() gives up, so the source resumes and a cancel is heard.
 */
#define MIG_SEND_TIMEOUT_S 10

int mig_connect(const char *url, char *err, size_t errlen)
{
	int fd = mig_socket(url, false, err, errlen);
	struct timeval tv = { .tv_sec = MIG_SEND_TIMEOUT_S };
	unsigned int user_timeout_ms = MIG_SEND_TIMEOUT_S * 1000;

	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (!strncmp(url, "tcp:", 4))
			setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
				   sizeof(user_timeout_ms));
	}
	return fd;
}

int mig_listen(const char *url, char *err, size_t errlen)
{
	return mig_socket(url, true, err, errlen);
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -ETIMEDOUT; /* SO_SNDTIMEO: the peer took nothing for that long */
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n, len -= (size_t)n;
	}
	return 0;
}

/* The first bytes of a message with a descriptor attached (SCM_RIGHTS); 0 or -errno. */
static int send_fd(int fd, const uint8_t *p, size_t len, int passed)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl = { 0 };
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &passed, sizeof(int));
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : -EPIPE;
	/* The descriptor went with the first byte; the rest is plain. */
	return send_all(fd, p + n, len - (size_t)n);
}

/* Send what `b` holds and empty it. */
static int flush_buf(int fd, struct snap_buf *b)
{
	int ret = snap_buf_error(b) ?: send_all(fd, b->data, b->len);

	b->len = 0;
	return ret;
}

/*
 * recv() that also takes descriptors passed with SCM_RIGHTS: the first into *passed (when
 * passed is not NULL and holds -1), every other one closed and counted in *extra.
 */
static ssize_t recv_fds(int fd, void *buf, size_t len, int *passed, int *extra)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return n;
	if (mh.msg_flags & MSG_CTRUNC)
		(*extra)++;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int nr = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < nr; i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (passed && *passed < 0) {
				*passed = got;
			} else {
				close(got);
				(*extra)++;
			}
		}
	}
	return n;
}

/*
 * Read until the parser yields one message (timeout_ms < 0: wait forever). A descriptor
 * passed on the way lands in *passed (NULL: none may come).
 */
static int read_msg(int fd, struct mig_parser *p, uint8_t *buf, size_t cap, size_t *have,
		    struct mig_msg *m, int timeout_ms, int *passed, char *err, size_t errlen)
{
	int extra = 0;

	for (;;) {
		size_t used = 0;
		int ret = mig_parser_feed(p, buf, *have, &used, m, err, errlen);

		memmove(buf, buf + used, *have - used);
		*have -= used;
		if (ret != 0)
			return ret < 0 ? ret : 0;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, timeout_ms) == 0) {
			snprintf(err, errlen, "the peer did not answer within %d s", timeout_ms / 1000);
			return -ETIMEDOUT;
		}
		ssize_t n = recv_fds(fd, buf + *have, cap - *have, passed, &extra);
		if (n < 0 && errno == EINTR)
			continue;
		if (extra) {
			snprintf(err, errlen, "the peer passed file descriptors where the protocol has none");
			return -EPROTO;
		}
		if (n <= 0) {
			snprintf(err, errlen, "the connection closed%s", n < 0 ? " with an error" : "");
			return -ECONNRESET;
		}
		*have += (size_t)n;
	}
}

/* ---- progress ---------------------------------------------------------------------------- */

static const char *const state_names[] = { "none", "active", "completed", "failed", "cancelled" };

json_t *mig_progress_json(const struct mig_progress *pr)
{
	if (!pr)
		return json_pack("{s:s}", "state", "none");
	int st = atomic_load(&pr->state);
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "state", state_names[st < 0 || st > MIG_CANCELLED ? 0 : st],
			      "pass", (json_int_t)atomic_load(&pr->pass),
			      "ram_total", (json_int_t)atomic_load(&pr->ram_total),
			      "ram_sent", (json_int_t)atomic_load(&pr->ram_sent),
			      "ram_remaining", (json_int_t)atomic_load(&pr->ram_remaining),
			      "dirty_rate", (json_int_t)atomic_load(&pr->dirty_rate),
			      "bandwidth", (json_int_t)atomic_load(&pr->bandwidth),
			      "expected_downtime_ms", (json_int_t)atomic_load(&pr->expected_downtime_ms),
			      "downtime_ms", (json_int_t)atomic_load(&pr->downtime_ms),
			      "downtime_us", (json_int_t)atomic_load(&pr->downtime_us),
			      "bytes_sent", (json_int_t)atomic_load(&pr->bytes_sent),
			      "throttle_percent", (json_int_t)atomic_load(&pr->throttle_pct));
	if (o && (st == MIG_FAILED || st == MIG_CANCELLED))
		json_object_set_new(o, "error", json_string(pr->error));
	return o;
}

static json_t *mig_metrics(struct vmm *vmm)
{
	return mig_progress_json(vmm->migration);
}

/* ---- source ---------------------------------------------------------------------------- */

struct mig_source {
	struct vmm *vmm;
	struct mig_send_params p;
	int fd;
	struct snap_buf out;
	uint64_t pages_sent;
	uint32_t passes;
	uint64_t cap_start_ns, cap_bytes; /* max_bandwidth_mbps accounting */
	unsigned dirty_high;              /* passes in a row that dirtied over half they sent */
	uint64_t mark_ns;                 /* the last phase's end (phase()) */
};

/* Log at info level how long the phase that ends now took: where a migration's time goes. */
static void phase(uint64_t *mark, const char *side, const char *what)
{
	uint64_t now = now_ns();

	pr_info("migration %s: %s in %.2f ms", side, what, (double)(now - *mark) / 1e6);
	*mark = now;
}

/* Sleep as long as the bytes sent so far are ahead of the bandwidth limit. */
static void bandwidth_wait(struct mig_source *s, uint64_t bytes)
{
	uint64_t bps = s->p.max_bandwidth_mbps * 1000000 / 8;

	if (!bps)
		return;
	if (!s->cap_start_ns)
		s->cap_start_ns = now_ns();
	s->cap_bytes += bytes;
	uint64_t due = s->cap_start_ns + s->cap_bytes * 1000000000ull / bps, now = now_ns();
	if (due > now) {
		struct timespec ts = { (time_t)((due - now) / 1000000000ull), (long)((due - now) % 1000000000ull) };
		nanosleep(&ts, NULL);
	}
}

static void fail_progress(struct mig_progress *pr, int state, const char *why)
{
	snprintf(pr->error, sizeof(pr->error), "%s", why);
	atomic_store(&pr->state, state);
	pr_err("migration %s: %s", state == MIG_CANCELLED ? "cancelled" : "failed", why);
}

/*
 * Send pages [first, first + n) of region r (n <= MIG_MAX_PAGES), honouring the bandwidth
 * cap; `zero`: they are known to be zero and are not read.
 */
static int send_pages(struct mig_source *s, int r, uint64_t first, uint32_t n, bool zero)
{
	const struct gm_region *g = &s->vmm->vm.mem.regions[r];
	struct mig_progress *pr = s->vmm->migration;
	int ret = mig_put_ram(&s->out, g->fd_offset + first * MIG_PAGE_SIZE,
			      zero ? NULL : g->host + first * MIG_PAGE_SIZE, n);

	atomic_fetch_add(&pr->bytes_sent, s->out.len);
	if (!ret)
		ret = flush_buf(s->fd, &s->out);
	s->pages_sent += n;
	atomic_fetch_add(&pr->ram_sent, (uint64_t)n * MIG_PAGE_SIZE);
	bandwidth_wait(s, zero ? MIG_HEADER_SIZE + MIG_RAM_HEADER_SIZE + n / 8 : (uint64_t)n * MIG_PAGE_SIZE);
	if (atomic_load(&pr->cancel))
		return -ECANCELED;
	return ret;
}

/*
 * Where the data of region r ends, from page `i` on, if page i is data; else (a hole in the
 * memfd: never written, zero) the negative of where the hole ends. Pages in a hole are sent
 * as zero without being read: reading a memfd hole would allocate it. Without a memfd
 * (RAM restored from a file or through userfaultfd) everything counts as data.
 */
static int64_t data_or_hole(const struct guest_mem *gm, const struct gm_region *g, uint64_t i,
			    uint64_t pages)
{
	off_t at = (off_t)(g->fd_offset + i * MIG_PAGE_SIZE), end = (off_t)(g->fd_offset + g->size);
	off_t data = gm->fd >= 0 ? lseek(gm->fd, at, SEEK_DATA) : at;

	if (data < 0 || data >= end) /* ENXIO: only a hole from here to the end */
		return errno == ENXIO || data >= end ? -(int64_t)pages : (int64_t)pages;
	if (data > at)
		return -(int64_t)((uint64_t)(data - (off_t)g->fd_offset) / MIG_PAGE_SIZE);
	off_t hole = gm->fd >= 0 ? lseek(gm->fd, at, SEEK_HOLE) : end;
	if (hole < 0 || hole > end)
		hole = end;
	return (int64_t)(((uint64_t)(hole - (off_t)g->fd_offset) + MIG_PAGE_SIZE - 1) / MIG_PAGE_SIZE);
}

/* Every page set in bits (region r), in runs; all of the region when bits is NULL. */
static int send_region(struct mig_source *s, int r, const uint64_t *bits)
{
	const struct guest_mem *gm = &s->vmm->vm.mem;
	uint64_t pages = gm->regions[r].size / MIG_PAGE_SIZE, run_end = 0;
	bool hole = false;
	int ret = 0;

	for (uint64_t i = 0; !ret && i < pages;) {
		if (bits && !(bits[i / 64] & (1ull << (i % 64)))) {
			i++;
			continue;
		}
		if (!bits && i >= run_end) { /* the whole region: data and holes in turn */
			int64_t e = data_or_hole(gm, &gm->regions[r], i, pages);
			hole = e < 0;
			run_end = MIN((uint64_t)(e < 0 ? -e : e), pages);
			if (run_end <= i)
				run_end = i + 1, hole = false;
		}
		uint64_t limit = bits ? pages : run_end;
		uint32_t n = 1, max = !bits && hole ? MIG_MAX_PAGES : MIG_DATA_PAGES;
		while (i + n < limit && n < max && (!bits || (bits[(i + n) / 64] & (1ull << ((i + n) % 64)))))
			n++;
		ret = send_pages(s, r, i, n, !bits && hole);
		i += n;
	}
	return ret;
}

/* One pass: the pages dirtied since the last harvest (all RAM in pass 0). Returns bytes sent. */
static int send_pass(struct mig_source *s, bool all, uint64_t *bytes)
{
	struct vm *vm = &s->vmm->vm;
	uint64_t before = s->pages_sent;
	int ret = vm_dirty_sync(vm);

	for (int r = 0; !ret && r < vm->mem.nr_regions; r++) {
		uint64_t *bits = calloc(gm_dirty_words(&vm->mem, r), sizeof(*bits));
		if (!bits)
			return -ENOMEM;
		ret = gm_dirty_harvest(&vm->mem, r, bits);
		if (!ret)
			ret = send_region(s, r, all ? NULL : bits);
		free(bits);
	}
	*bytes = (s->pages_sent - before) * MIG_PAGE_SIZE;
	s->passes++;
	char what[64];
	snprintf(what, sizeof(what), "pass %u (%llu pages)", s->passes - 1,
		 (unsigned long long)(s->pages_sent - before));
	phase(&s->mark_ns, "source", what);
	return ret;
}

/* Dirty pages not yet sent (a count of the bitmap, after folding in KVM's log). */
static uint64_t dirty_bytes(struct vm *vm)
{
	if (vm_dirty_sync(vm))
		return UINT64_MAX;
	return gm_dirty_count(&vm->mem) * MIG_PAGE_SIZE;
}

/* After a pass that sent `sent` bytes while the guest dirtied `dirtied`: throttle more? */
static void auto_converge(struct mig_source *s, uint64_t sent, uint64_t dirtied)
{
	struct mig_progress *pr = s->vmm->migration;
	unsigned pct = atomic_load(&pr->throttle_pct), next = pct;

	if (dirtied <= sent / 2) {
		s->dirty_high = 0;
		return;
	}
	if (pct)
		next = MIN(pct + MIG_THROTTLE_STEP, (unsigned)MIG_THROTTLE_MAX);
	else if (++s->dirty_high >= 2)
		next = MIG_THROTTLE_INITIAL;
	if (next == pct)
		return;
	if (vcpus_throttle(&s->vmm->vm.vcpus, next)) {
		pr_warn("migration: cannot throttle the vCPUs (no thread)");
		return;
	}
	atomic_store(&pr->throttle_pct, next);
	pr_info("migration: the guest dirties memory faster than it can be sent; vCPUs throttled "
		"to %u %%", 100 - next);
}

static int precopy(struct mig_source *s)
{
	struct mig_progress *pr = s->vmm->migration;
	struct vm *vm = &s->vmm->vm;
	uint64_t bytes, t0 = now_ns();
	int ret = send_pass(s, true, &bytes);

	for (uint32_t pass = 1; !ret && pass < MIG_MAX_PASSES; pass++) {
		uint64_t dt = now_ns() - t0 ?: 1, bw = bytes * 1000000000ull / dt;
		uint64_t left = dirty_bytes(vm);

		atomic_store(&pr->pass, pass);
		atomic_store(&pr->bandwidth, bw);
		atomic_store(&pr->dirty_rate, left * 1000000000ull / dt);
		atomic_store(&pr->ram_remaining, left);
		atomic_store(&pr->expected_downtime_ms, bw ? left * 1000 / bw : 0);
		if (bw && left * 1000 / bw <= s->p.downtime_limit_ms)
			break;
		if (s->p.auto_converge)
			auto_converge(s, bytes, left);
		t0 = now_ns();
		ret = send_pass(s, false, &bytes);
	}
	return ret;
}

/* The destination's answer at `phase`: `want`, or its REFUSE/ERROR text after `what`. */
static int read_reply(struct mig_source *s, enum mig_phase phase, enum mig_type want,
		      const char *what, char *err, size_t errlen)
{
	struct mig_parser p;
	struct mig_msg m;
	uint8_t buf[2048];
	size_t have = 0;
	int ret;

	mig_parser_init(&p, MIG_AT_SOURCE);
	p.phase = phase;
	ret = read_msg(s->fd, &p, buf, sizeof(buf), &have, &m, MIG_REPLY_TIMEOUT_MS, NULL, err,
		       errlen);
	if (!ret && m.type != want) {
		snprintf(err, errlen, "%s: %.*s", what, (int)m.text.len, m.text.text);
		ret = -EPROTO;
	}
	mig_parser_free(&p);
	return ret;
}

/* Paused: the last dirty pages, the device state, DONE; then wait for the destination's ACK. */
static int switch_over(struct mig_source *s, char *err, size_t errlen)
{
	struct vm *vm = &s->vmm->vm;
	struct snap_buf state;
	uint64_t bytes;
	/* Local: the destination maps the same RAM, there is nothing to copy. */
	int ret = s->p.local ? 0 : send_pass(s, false, &bytes);

	snap_buf_init(&state);
	if (!ret)
		ret = device_list_save(&vm->devices, &state, err, errlen);
	phase(&s->mark_ns, "source", "device state saved");
	if (!ret)
		ret = mig_put_state_all(&s->out, state.data, state.len) ?:
		      mig_put_done(&s->out, s->pages_sent, s->passes);
	if (!ret) {
		atomic_fetch_add(&s->vmm->migration->bytes_sent, s->out.len);
		ret = flush_buf(s->fd, &s->out);
	}
	snap_buf_free(&state);
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "cannot send the final state: %s", strerror(-ret));
		return ret;
	}
	phase(&s->mark_ns, "source", "state and DONE sent");
	ret = read_reply(s, MIG_WANT_ACK, MIG_ACK, "the destination failed", err, errlen);
	phase(&s->mark_ns, "source", "ACK");
	return ret;
}

/* HELLO with the configuration; ACCEPT or REFUSE. */
static int handshake(struct mig_source *s, char *err, size_t errlen)
{
	struct vm *vm = &s->vmm->vm;
	struct snap_buf cfg;
	int ret;

	snap_buf_init(&cfg);
	ret = config_save(&s->vmm->cfg, &cfg) ?:
	      mig_put_hello(&s->out, vm->mem.size, s->p.local ? MIG_HELLO_LOCAL_MEMFD : 0, cfg.data,
			    cfg.len) ?: snap_buf_error(&s->out);
	if (!ret)
		ret = s->p.local ? send_fd(s->fd, s->out.data, s->out.len, vm->mem.fd)
				 : send_all(s->fd, s->out.data, s->out.len);
	s->out.len = 0;
	snap_buf_free(&cfg);
	if (ret) {
		snprintf(err, errlen, "cannot send the configuration: %s", strerror(-ret));
		return ret;
	}
	return read_reply(s, MIG_WANT_REPLY, MIG_ACCEPT, "the destination refused", err, errlen);
}

/* Dirty logging for the whole migration, whether or not the VM was built with it. */
static int track_dirty(struct vm *vm)
{
	int ret = gm_dirty_enable(&vm->mem);

	if (!ret && !vm->dirty_log) {
		ret = vm->hv_ops->map_memory(vm->hv, &vm->mem, true);
		vm->dirty_log = !ret;
	}
	return ret;
}

/* The guest runs at full speed again (the figure stays in the progress). */
static void unthrottle(struct mig_source *s)
{
	if (atomic_load(&s->vmm->migration->throttle_pct))
		(void)vcpus_throttle(&s->vmm->vm.vcpus, 0);
}

static int migrate(struct mig_source *s, char *err, size_t errlen)
{
	struct vmm *vmm = s->vmm;
	int ret;

	s->mark_ns = now_ns();
	ret = handshake(s, err, errlen);
	phase(&s->mark_ns, "source", "HELLO and ACCEPT");
	if (!ret && !s->p.local && (ret = track_dirty(&vmm->vm)))
		snprintf(err, errlen, "cannot log dirty pages: %s", strerror(-ret));
	phase(&s->mark_ns, "source", "dirty logging on");
	if (!ret && !s->p.local && (ret = precopy(s)) && !err[0])
		snprintf(err, errlen, ret == -ECANCELED ? "cancelled" : "the transfer failed: %s", strerror(-ret));
	if (ret) {
		unthrottle(s);
		return ret;
	}
	/* Switch-over: no API request may pause or resume under us from here. */
	pthread_mutex_lock(&vmm->lock);
	bool was_running = vmm->state == VMM_RUNNING;
	uint64_t t0 = now_ns();
	s->mark_ns = t0;
	if (was_running && (ret = vm_pause(&vmm->vm)))
		snprintf(err, errlen, "cannot pause the VM for the switch-over");
	unthrottle(s);
	phase(&s->mark_ns, "source", "pause");
	if (!ret)
		ret = switch_over(s, err, errlen);
	if (ret) {
		if (was_running && vm_resume(&vmm->vm))
			pr_warn("migration: the guest clock could not be restored");
	} else {
		uint64_t us = (now_ns() - t0) / 1000;

		atomic_store(&vmm->migration->downtime_us, us);
		atomic_store(&vmm->migration->downtime_ms, us / 1000);
		atomic_store(&vmm->migration->state, MIG_COMPLETED);
		pr_warn("migrated to %s: %llu pages in %u passes, %llu bytes sent, %.1f ms paused",
			s->p.url, (unsigned long long)s->pages_sent, s->passes,
			(unsigned long long)atomic_load(&vmm->migration->bytes_sent), (double)us / 1000);
		vm_request_stop(&vmm->vm, VMON_EXIT_POWEROFF, "the VM migrated");
	}
	pthread_mutex_unlock(&vmm->lock);
	return ret;
}

static void *mig_thread(void *arg)
{
	struct mig_source *s = arg;
	char err[512] = "";

	seccomp_thread_start(SECCOMP_API, "migration");
	if (migrate(s, err, sizeof(err)))
		fail_progress(s->vmm->migration,
			      atomic_load(&s->vmm->migration->cancel) ? MIG_CANCELLED : MIG_FAILED, err);
	close(s->fd);
	snap_buf_free(&s->out);
	free(s);
	return NULL;
}

int mig_send_start(struct vmm *vmm, const struct mig_send_params *p, char *err, size_t errlen)
{
	struct mig_progress *pr = vmm->migration;
	struct mig_source *s;
	pthread_t t;

	if (pr && atomic_load(&pr->state) == MIG_ACTIVE) {
		snprintf(err, errlen, "A migration is already under way.");
		return -EBUSY;
	}
	if (vm_gdb_check_ram(&vmm->vm, err, errlen) || vm_shm_check_saveable(&vmm->vm, true, err, errlen))
		return -EBUSY;
	if (vmm->cfg.cpu_template) {
		snprintf(err, errlen, "The VM runs with a custom CPU template (PUT /cpu-config), which "
			 "vmon's migration stream does not carry yet.");
		return -ENOTSUP;
	}
	if (vm_suspended(&vmm->vm)) {
		snprintf(err, errlen, "The guest is suspended to RAM (S3): wake it first (vmon ctl wake).");
		return -EBUSY;
	}
	if (p->local && strncmp(p->url, "unix:", 5)) {
		snprintf(err, errlen, "A local migration passes guest RAM over a Unix socket: use a "
			 "unix:PATH URL.");
		return -EINVAL;
	}
	if (p->local && vmm->vm.mem.fd < 0) {
		snprintf(err, errlen, "This VM's RAM is not in a memfd (it was restored from a snapshot's "
			 "memory file or through userfaultfd), so it cannot be passed: migrate it without "
			 "\"local\".");
		return -EINVAL;
	}
	int fd = mig_connect(p->url, err, errlen);
	if (fd < 0)
		return fd;
	if (!(s = calloc(1, sizeof(*s)))) {
		close(fd);
		return -ENOMEM;
	}
	*s = (struct mig_source){ .vmm = vmm, .p = *p, .fd = fd };
	snap_buf_init(&s->out);
	if (!pr && !(pr = vmm->migration = calloc(1, sizeof(*pr)))) {
		close(fd);
		free(s);
		return -ENOMEM;
	}
	memset(pr, 0, sizeof(*pr));
	vmm->migration_metrics = mig_metrics;
	atomic_store(&pr->ram_total, vmm->vm.mem.size);
	atomic_store(&pr->state, MIG_ACTIVE);
	if (pthread_create(&t, NULL, mig_thread, s)) {
		atomic_store(&pr->state, MIG_FAILED);
		close(fd);
		free(s);
		snprintf(err, errlen, "cannot start the migration thread");
		return -EAGAIN;
	}
	pthread_detach(t);
	return 0;
}

/* ---- destination ------------------------------------------------------------------------ */

struct mig_dest {
	struct vmm *vmm;
	int fd;
	struct mig_parser p;
	uint8_t *buf;
	size_t have;
	struct snap_buf state;
	int memfd; /* a local migration's RAM, passed with HELLO, or -1 */
	bool built;
	bool via_fd; /* RAM frames go into the memfd with pwritev() (not hugetlbfs) */
	uint64_t mark_ns;
};

#define RECV_BUF (MIG_MAX_PAYLOAD + MIG_HEADER_SIZE)

static void dest_reply(struct mig_dest *d, bool refuse, const char *why)
{
	struct snap_buf b;

	snap_buf_init(&b);
	if (!(refuse ? mig_put_refuse(&b, why) : mig_put_error(&b, why)))
		(void)flush_buf(d->fd, &b);
	snap_buf_free(&b);
}

/* HELLO: the configuration becomes the VMM's and the VM is built around fresh RAM. */
static int dest_hello(struct mig_dest *d, const struct mig_msg *m, char *err, size_t errlen)
{
	struct vmm *vmm = d->vmm;
	struct vm_config fresh = { .log_level = vmm->cfg.log_level, .mmds_service = vmm->mmds },
			 old = vmm->cfg;
	bool local = m->hello.flags & MIG_HELLO_LOCAL_MEMFD;
	struct vm_restore_mem src = { .kind = local ? RESTORE_MEM_MEMFD : RESTORE_MEM_FRESH,
				      .fd = d->memfd };
	struct snap_rd rd;
	int ret;

	if (m->hello.version != MIG_PROTOCOL_VERSION) {
		snprintf(err, errlen, "this vmon speaks migration protocol %d, the source %u",
			 MIG_PROTOCOL_VERSION, m->hello.version);
		return -EPROTO;
	}
	if (local != (d->memfd >= 0)) {
		snprintf(err, errlen, local ? "a local migration's HELLO came without the RAM's memfd "
					      "(local migration works over Unix sockets only)"
					    : "a memfd came with a HELLO that is not a local migration's");
		return -EPROTO;
	}
	snap_rd_init(&rd, m->hello.config, m->hello.config_len);
	/* This host's CPUs and cgroup, not the source's. */
	if ((ret = config_keep_placement(&fresh, &vmm->cfg)) ||
	    (ret = config_restore(&fresh, &rd, CONFIG_STATE_VERSION, err, errlen))) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		config_clear(&fresh);
		return ret;
	}
	if (fresh.memory != m->hello.ram_size) {
		snprintf(err, errlen, "the configuration's %llu MiB do not match the %llu MiB of RAM sent",
			 (unsigned long long)(fresh.memory / MiB), (unsigned long long)(m->hello.ram_size / MiB));
		config_clear(&fresh);
		return -EINVAL;
	}
	vmm->cfg = fresh;
	ret = vm_build_restore(&vmm->vm, &vmm->cfg, &src, err, errlen);
	if (ret) {
		config_clear(&vmm->cfg);
		vmm->cfg = old;
		return ret;
	}
	vmm->cfg.api_sock = old.api_sock, old.api_sock = NULL;
	config_clear(&old);
	d->built = true;
	d->via_fd = vmm->vm.mem.fd >= 0 && !vmm->cfg.hugepages;
	/* The threads wait, parked, while RAM arrives: at DONE only the state and a resume remain. */
	vm_start_paused(&vmm->vm);
	if ((ret = vm_start_threads(&vmm->vm)))
		snprintf(err, errlen, "cannot start the VM's threads");
	return ret;
}

/*
 * Pages [off, off + n * 4 KiB) of the RAM file: written from iov (n entries), or zero
 * (iov NULL). Into the memfd with pwritev() and hole punching rather than through the
 * mapping: no page fault per page, and a zero page stays unallocated.
 */
static int dest_put(struct guest_mem *gm, bool via_fd, uint64_t off, const struct iovec *iov, int n)
{
	size_t len = (size_t)n * MIG_PAGE_SIZE;

	if (!n)
		return 0;
	if (off > gm->size || len > gm->size - off)
		return -EINVAL;
	if (!via_fd) { /* hugetlbfs has no write(2): through the mapping */
		for (int i = 0; i < n; i++)
			if (iov)
				memcpy(gm->base + off + (size_t)i * MIG_PAGE_SIZE, iov[i].iov_base, MIG_PAGE_SIZE);
			else
				memset(gm->base + off + (size_t)i * MIG_PAGE_SIZE, 0, MIG_PAGE_SIZE);
		return 0;
	}
	if (iov) {
		ssize_t w = pwritev(gm->fd, iov, n, (off_t)off);
		return w == (ssize_t)len ? 0 : w < 0 ? -errno : -EIO;
	}
	return fallocate(gm->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len)
		       ? -errno : 0;
}

static int dest_ram(struct mig_dest *d, const struct mig_msg *m)
{
	struct guest_mem *gm = &d->vmm->vm.mem;
	struct iovec iov[64];
	struct mig_ram_iter it;
	uint64_t off, run_off = 0;
	const uint8_t *page;
	int n = 0, ret = 0;
	bool run_zero = false;

	mig_ram_iter_init(&it, m);
	/* Runs of data pages (up to 64 at a time) and of zero pages. */
	while (!ret && mig_ram_next(&it, &off, &page)) {
		if (n && (run_zero != !page || n == (int)ARRAY_SIZE(iov) || off != run_off + (uint64_t)n * MIG_PAGE_SIZE)) {
			ret = dest_put(gm, d->via_fd, run_off, run_zero ? NULL : iov, n);
			n = 0;
		}
		if (!n)
			run_off = off, run_zero = !page;
		if (page)
			iov[n] = (struct iovec){ .iov_base = (void *)page, .iov_len = MIG_PAGE_SIZE };
		n++;
	}
	return ret ?: dest_put(gm, d->via_fd, run_off, run_zero ? NULL : iov, n);
}

/* DONE: load the state into the VM built at HELLO. */
static int dest_done(struct mig_dest *d, char *err, size_t errlen)
{
	struct snapshot_image img = { .data = d->state.data, .len = d->state.len };
	char why[256];
	int ret = snap_file_parse(&img.file, img.data, img.len, why, sizeof(why));

	if (ret) {
		snprintf(err, errlen, "the device state is corrupt: %s", why);
		return ret;
	}
	return vm_snapshot_restore(&d->vmm->vm, &img, false, err, errlen);
}

static int dest_loop(struct mig_dest *d, char *err, size_t errlen)
{
	struct mig_msg m;
	int ret;

	for (;;) {
		ret = read_msg(d->fd, &d->p, d->buf, RECV_BUF, &d->have, &m, MIG_IDLE_TIMEOUT_MS,
			       &d->memfd, err, errlen);
		if (ret)
			return ret;
		switch (m.type) {
		case MIG_HELLO: {
			struct snap_buf b;

			phase(&d->mark_ns, "destination", "HELLO received");
			ret = dest_hello(d, &m, err, errlen);
			phase(&d->mark_ns, "destination", "VM built");
			if (ret) {
				dest_reply(d, true, err);
				return ret;
			}
			snap_buf_init(&b);
			ret = mig_put_accept(&b) ?: flush_buf(d->fd, &b);
			snap_buf_free(&b);
			break;
		}
		case MIG_RAM:
			ret = dest_ram(d, &m);
			break;
		case MIG_STATE:
			snap_put_bytes(&d->state, m.state.data, m.state.len);
			ret = snap_buf_error(&d->state);
			break;
		case MIG_DONE:
			phase(&d->mark_ns, "destination", "RAM and state received");
			ret = dest_done(d, err, errlen);
			phase(&d->mark_ns, "destination", "state loaded");
			return ret;
		default:
			snprintf(err, errlen, "the source ended the migration: %.*s", (int)m.text.len,
				 m.text.text);
			return -ECONNABORTED;
		}
		if (ret) {
			if (!err[0])
				snprintf(err, errlen, "cannot take the stream: %s", strerror(-ret));
			return ret;
		}
	}
}

int mig_receive(struct vmm *vmm, int listen_fd, char *err, size_t errlen)
{
	struct mig_dest d = { .vmm = vmm, .memfd = -1, .mark_ns = now_ns() };
	int ret;

	err[0] = '\0';
	d.fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	close(listen_fd);
	if (d.fd < 0) {
		snprintf(err, errlen, "cannot accept the source: %s", strerror(errno));
		return -errno;
	}
	d.buf = malloc(RECV_BUF);
	mig_parser_init(&d.p, MIG_AT_DESTINATION);
	snap_buf_init(&d.state);
	ret = d.buf ? dest_loop(&d, err, errlen) : -ENOMEM;
	if (!ret) {
		struct snap_buf b;
		snap_buf_init(&b);
		ret = mig_put_ack(&b) ?: flush_buf(d.fd, &b);
		snap_buf_free(&b);
		if (ret)
			snprintf(err, errlen, "cannot acknowledge to the source: %s", strerror(-ret));
		else if (vm_resume(&vmm->vm))
			pr_warn("migration: the guest clock could not be set");
		if (!ret)
			vm_announce(&vmm->vm); /* the guest's new port, once it runs here */
		phase(&d.mark_ns, "destination", "ACK sent");
	}
	if (ret && d.built)
		vm_destroy(&vmm->vm);
	if (ret && err[0])
		dest_reply(&d, false, err);
	mig_parser_free(&d.p);
	snap_buf_free(&d.state);
	free(d.buf);
	close(d.fd);
	if (d.memfd >= 0)
		close(d.memfd); /* the VM maps its own duplicate */
	return ret;
}
