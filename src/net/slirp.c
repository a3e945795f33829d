/*
 * User-mode networking with libslirp. libslirp is not thread-safe: every call into it holds
 * `lock`. Its own thread polls its sockets and runs its timers; frames it sends to the guest
 * wait in a small ring that the virtio-net device drains (signalled through rx_fd).
 * Snapshots carry libslirp's own state stream, checked before libslirp parses it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net/backend.h"
#include "security/seccomp.h"
#include "snapshot/format.h"
#include "util/log.h"

#define RING 256
#define FRAME_MAX 2048
#define MAX_TIMERS 8
#define MAX_POLL 256

struct slirp_timer {
	bool used, armed;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;
};

struct user_net {
	struct net_backend be;
	Slirp *slirp;
	pthread_mutex_t lock;
	pthread_t thread;
	int wake_fd; /* wakes the slirp thread: new sockets, new timers, stop */
	bool stop;
	struct slirp_timer timers[MAX_TIMERS];
	struct pollfd pfd[MAX_POLL];
	int npfd;
	uint16_t ring_len[RING];
	uint8_t ring[RING][FRAME_MAX];
	unsigned head, count;
	uint64_t dropped;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wake(struct user_net *u)
{
	uint64_t one = 1;
	if (write(u->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_ratelimited(LOG_WARN, "slirp: cannot wake its thread: %s", strerror(errno));
}

/* A frame for the guest: queue it (drop when full; TCP retransmits). Lock held. */
static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct user_net *u = opaque;
	uint64_t one = 1;

	if (len > FRAME_MAX || u->count == RING) {
		u->dropped++;
		return (ssize_t)len;
	}
	unsigned slot = (u->head + u->count) % RING;
	memcpy(u->ring[slot], buf, len);
	u->ring_len[slot] = (uint16_t)len;
	u->count++;
	if (write(u->be.rx_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_ratelimited(LOG_WARN, "slirp: rx eventfd: %s", strerror(errno));
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	pr_ratelimited(LOG_WARN, "slirp: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct user_net *u = opaque;

	for (int i = 0; i < MAX_TIMERS; i++) {
		if (!u->timers[i].used) {
			u->timers[i] = (struct slirp_timer){ .used = true, .id = id, .cb_opaque = cb_opaque };
			return &u->timers[i];
		}
	}
	pr_warn("slirp: out of timers");
	return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
	(void)opaque;
	if (timer)
		((struct slirp_timer *)timer)->used = false;
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_timer *t = timer;

	if (!t)
		return;
	t->expire_ms = expire_ms;
	t->armed = true;
	wake(opaque);
}

static void cb_register_poll_fd(int fd, void *opaque) { (void)fd, (void)opaque; }
static void cb_unregister_poll_fd(int fd, void *opaque) { (void)fd, (void)opaque; }

static void cb_notify(void *opaque)
{
	wake(opaque);
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

static int add_poll(int fd, int events, void *opaque)
{
	struct user_net *u = opaque;
	short ev = 0;

	if (u->npfd == MAX_POLL)
		return -1;
	if (events & SLIRP_POLL_IN) ev |= POLLIN;
	if (events & SLIRP_POLL_OUT) ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI) ev |= POLLPRI;
	u->pfd[u->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return u->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct user_net *u = opaque;
	short r = idx >= 0 && idx < u->npfd ? u->pfd[idx].revents : 0;
	int ev = 0;

	if (r & POLLIN) ev |= SLIRP_POLL_IN;
	if (r & POLLOUT) ev |= SLIRP_POLL_OUT;
	if (r & POLLPRI) ev |= SLIRP_POLL_PRI;
	if (r & POLLERR) ev |= SLIRP_POLL_ERR;
	if (r & POLLHUP) ev |= SLIRP_POLL_HUP;
	return ev;
}

/* Fire due timers; return the ms until the next one (or `cap`). Lock held. */
static uint32_t run_timers(struct user_net *u, uint32_t cap)
{
	int64_t now = now_ns() / 1000000;
	uint32_t next = cap;

	for (int i = 0; i < MAX_TIMERS; i++) {
		struct slirp_timer *t = &u->timers[i];

		if (!t->used || !t->armed)
			continue;
		if (t->expire_ms <= now) {
			t->armed = false;
			slirp_handle_timer(u->slirp, t->id, t->cb_opaque);
		} else if ((uint64_t)(t->expire_ms - now) < next) {
			next = (uint32_t)(t->expire_ms - now);
		}
	}
	return next;
}

static void *slirp_thread(void *arg)
{
	struct user_net *u = arg;

	seccomp_thread_start(SECCOMP_NET, "vmon-slirp");
	for (;;) {
		uint32_t timeout = 1000;

		pthread_mutex_lock(&u->lock);
		if (u->stop) {
			pthread_mutex_unlock(&u->lock);
			return NULL;
		}
		timeout = run_timers(u, timeout);
		u->npfd = 0;
		add_poll(u->wake_fd, SLIRP_POLL_IN, u);
		slirp_pollfds_fill(u->slirp, &timeout, add_poll, u);
		pthread_mutex_unlock(&u->lock);

		int n = poll(u->pfd, (nfds_t)u->npfd, (int)MIN(timeout, 1000u));

		pthread_mutex_lock(&u->lock);
		if (u->pfd[0].revents & POLLIN) {
			uint64_t v;
			if (read(u->wake_fd, &v, sizeof(v)) < 0)
				v = 0;
		}
		slirp_pollfds_poll(u->slirp, n < 0, get_revents, u);
		pthread_mutex_unlock(&u->lock);
	}
}

static ssize_t slirp_recv(struct net_backend *be, const struct iovec *iov, int n)
{
	struct user_net *u = (struct user_net *)be;
	uint8_t hdr[NET_VNET_HDR_LEN] = { 0 };
	uint64_t v;

	pthread_mutex_lock(&u->lock);
	if (!u->count) {
		if (read(be->rx_fd, &v, sizeof(v)) < 0)
			v = 0; /* drained: rx_fd stays quiet until the next frame */
		pthread_mutex_unlock(&u->lock);
		return -EAGAIN;
	}
	const uint8_t *frame = u->ring[u->head];
	size_t len = u->ring_len[u->head], total = sizeof(hdr) + len, done = 0;
	/* Scatter header + frame into the guest's buffers; what does not fit is cut. */
	for (int i = 0; i < n && done < total; i++) {
		size_t take = MIN(iov[i].iov_len, total - done);
		for (size_t k = 0; k < take; k++) {
			size_t p = done + k;
			((uint8_t *)iov[i].iov_base)[k] = p < sizeof(hdr) ? hdr[p] : frame[p - sizeof(hdr)];
		}
		done += take;
	}
	u->head = (u->head + 1) % RING;
	u->count--;
	pthread_mutex_unlock(&u->lock);
	return (ssize_t)done;
}

static ssize_t slirp_send(struct net_backend *be, const struct iovec *iov, int n)
{
	struct user_net *u = (struct user_net *)be;
	uint8_t buf[65536 + NET_VNET_HDR_LEN];
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		size_t take = MIN(iov[i].iov_len, sizeof(buf) - len);
		memcpy(buf + len, iov[i].iov_base, take);
		len += take;
	}
	if (len <= NET_VNET_HDR_LEN)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	slirp_input(u->slirp, buf + NET_VNET_HDR_LEN, (int)(len - NET_VNET_HDR_LEN));
	pthread_mutex_unlock(&u->lock);
	wake(u);
	return (ssize_t)len;
}

static void slirp_set_offload(struct net_backend *be, unsigned flags)
{
	(void)be, (void)flags; /* no offloads: the guest checksums and segments itself */
}

/* ---- snapshot ------------------------------------------------------------------------ */

/*
 * Layout: u32 libslirp state version (slirp_state_version()), u32 n, then the n bytes of
 * libslirp's own stream. That stream holds a record per connection of a guestfwd rule
 * (vmon adds none, so this is a single zero byte), the IP id counter and the DHCP lease
 * table. Host sockets are not in it: the restored backend opens its own hostfwd
 * listeners, and connections open at the snapshot are gone (the guest's TCP resets them).
 *
 * libslirp's loader trusts its input: a short read yields zeros and no error, and a
 * connection record sizes buffers from the stream. So before libslirp sees a byte (the
 * container has checked the section's CRC), the version must be this libslirp's, the
 * stream exactly as long as this instance's own save (all that follows the first byte
 * is fixed-size fields), and its first byte 0: no connection records. What reaches
 * libslirp is then a u16 and a lease table of fixed size, which cannot make it read past
 * the end or allocate; a CRC-valid stream crafted to that shape still sets both.
 */
#define SLIRP_STREAM_MAX (64 * 1024)

struct stream_in {
	const uint8_t *p;
	size_t len, pos;
	bool short_read;
};

static ssize_t stream_write(const void *buf, size_t len, void *opaque)
{
	snap_put_bytes(opaque, buf, len);
	return (ssize_t)len;
}

/* libslirp takes a short read for zeros, so it is remembered here. */
static ssize_t stream_read(void *buf, size_t len, void *opaque)
{
	struct stream_in *s = opaque;

	if (len > s->len - s->pos) {
		s->short_read = true;
		return 0;
	}
	memcpy(buf, s->p + s->pos, len);
	s->pos += len;
	return (ssize_t)len;
}

/* This instance's stream into a fresh buffer (free it even on failure). Lock held. */
static int slirp_stream_save(struct user_net *u, struct snap_buf *stream)
{
	snap_buf_init(stream);
	slirp_state_save(u->slirp, stream_write, stream);
	return snap_buf_error(stream);
}

static int slirp_save(struct net_backend *be, struct snap_buf *out)
{
	struct user_net *u = (struct user_net *)be;
	struct snap_buf stream;
	int ret;

	pthread_mutex_lock(&u->lock);
	ret = slirp_stream_save(u, &stream);
	pthread_mutex_unlock(&u->lock);
	if (!ret) {
		snap_put_u32(out, (uint32_t)slirp_state_version());
		snap_put_u32(out, (uint32_t)stream.len);
		snap_put_bytes(out, stream.data, stream.len);
	}
	snap_buf_free(&stream);
	return ret;
}

/* Load s; on any failure put `own` (the state before) back. Lock held. */
static int slirp_stream_load(struct user_net *u, uint32_t version, struct stream_in *s,
			     const struct snap_buf *own)
{
	struct stream_in back = { .p = own->data, .len = own->len };

	if (slirp_state_load(u->slirp, (int)version, stream_read, s) >= 0 && !s->short_read &&
	    s->pos == s->len)
		return 0;
	/* The checks make this unreachable today; a future libslirp may differ. */
	if (slirp_state_load(u->slirp, slirp_state_version(), stream_read, &back) < 0)
		pr_warn("slirp: cannot put the state back after a refused restore");
	return -EINVAL;
}

static int slirp_restore(struct net_backend *be, struct snap_rd *in)
{
	struct user_net *u = (struct user_net *)be;
	uint32_t version = snap_get_u32(in), len = snap_get_u32(in);
	struct stream_in s = { .len = len };
	struct snap_buf own;
	uint8_t *bytes;
	int ret;

	if (in->error || len == 0 || len > SLIRP_STREAM_MAX || len > snap_rd_left(in))
		return -EINVAL;
	bytes = malloc(len);
	if (!bytes)
		return -ENOMEM;
	snap_get_bytes(in, bytes, len);
	s.p = bytes;
	pthread_mutex_lock(&u->lock);
	/* The state to go back to, and the length a stream of this libslirp has. */
	ret = slirp_stream_save(u, &own);
	if (!ret && (version != (uint32_t)slirp_state_version() || own.len != len || bytes[0]))
		ret = -EINVAL;
	if (!ret)
		ret = slirp_stream_load(u, version, &s, &own);
	pthread_mutex_unlock(&u->lock);
	snap_buf_free(&own);
	free(bytes);
	return ret;
}

static void user_net_free(struct user_net *u);

static void slirp_close(struct net_backend *be)
{
	struct user_net *u = (struct user_net *)be;

	pthread_mutex_lock(&u->lock);
	u->stop = true;
	pthread_mutex_unlock(&u->lock);
	wake(u);
	pthread_join(u->thread, NULL);
	slirp_cleanup(u->slirp);
	close(u->wake_fd);
	close(be->rx_fd);
	free(u);
}

int net_parse_hostfwd(const char *s, struct net_hostfwd *f)
{
	char proto[4], haddr[32] = "", gaddr[32] = "";
	unsigned hport, gport;
	int n = 0;

	memset(f, 0, sizeof(*f));
	/* tcp:[HADDR]:HPORT-[GADDR]:GPORT */
	if (sscanf(s, "%3[a-z]:%31[0-9.]:%u-%31[0-9.]:%u%n", proto, haddr, &hport, gaddr, &gport, &n) != 5 &&
	    sscanf(s, "%3[a-z]::%u-%31[0-9.]:%u%n", proto, &hport, gaddr, &gport, &n) != 4 &&
	    sscanf(s, "%3[a-z]:%31[0-9.]:%u-:%u%n", proto, haddr, &hport, &gport, &n) != 4 &&
	    sscanf(s, "%3[a-z]::%u-:%u%n", proto, &hport, &gport, &n) != 3)
		return -EINVAL;
	if (s[n] || hport == 0 || hport > 65535 || gport == 0 || gport > 65535)
		return -EINVAL;
	if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return -EINVAL;
	struct in_addr a;
	if (haddr[0] && inet_pton(AF_INET, haddr, &a) != 1)
		return -EINVAL;
	f->host_addr = haddr[0] ? a.s_addr : 0;
	if (gaddr[0] && inet_pton(AF_INET, gaddr, &a) != 1)
		return -EINVAL;
	f->guest_addr = gaddr[0] ? a.s_addr : 0;
	f->udp = !strcmp(proto, "udp");
	f->host_port = (uint16_t)hport;
	f->guest_port = (uint16_t)gport;
	return 0;
}

/* A user_net around a new libslirp for cfg; its thread not started yet. NULL and err. */
static struct user_net *user_net_new(const SlirpConfig *cfg, char *err, size_t errlen)
{
	struct user_net *u = calloc(1, sizeof(*u));

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->be = (struct net_backend){ .kind = "user", .rx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
				      .recv = slirp_recv, .send = slirp_send,
				      .set_offload = slirp_set_offload, .close = slirp_close,
				      .save = slirp_save, .restore = slirp_restore };
	u->slirp = slirp_new(cfg, &slirp_callbacks, u);
	if (!u->slirp || u->wake_fd < 0 || u->be.rx_fd < 0) {
		snprintf(err, errlen, "cannot start user-mode networking (libslirp)");
		user_net_free(u);
		return NULL;
	}
	return u;
}

static void user_net_free(struct user_net *u)
{
	if (u->slirp)
		slirp_cleanup(u->slirp);
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	if (u->be.rx_fd >= 0)
		close(u->be.rx_fd);
	free(u);
}

static struct net_backend *user_net_start(struct user_net *u, char *err, size_t errlen)
{
	if (pthread_create(&u->thread, NULL, slirp_thread, u)) {
		snprintf(err, errlen, "cannot start the slirp thread");
		user_net_free(u);
		return NULL;
	}
	return &u->be;
}

struct net_backend *net_slirp_open(const struct net_hostfwd *fwd, int nr_fwd, char *err,
				   size_t errlen)
{
	SlirpConfig cfg = { .version = 4, .in_enabled = true, .if_mtu = 1500, .if_mru = 1500 };
	struct user_net *u;

	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	cfg.vhostname = "vmon";
	if (!(u = user_net_new(&cfg, err, errlen)))
		return NULL;
	for (int i = 0; i < nr_fwd; i++) {
		struct in_addr h = { fwd[i].host_addr }, g = { fwd[i].guest_addr ?: cfg.vdhcp_start.s_addr };
		if (slirp_add_hostfwd(u->slirp, fwd[i].udp, h, fwd[i].host_port, g, fwd[i].guest_port) < 0) {
			snprintf(err, errlen, "hostfwd to host port %u: %s", fwd[i].host_port,
				 strerror(errno ?: EADDRINUSE));
			user_net_free(u);
			return NULL;
		}
	}
	return user_net_start(u, err, errlen);
}

/* The host's own address in the private network: one next to `fwd`, never it. */
static uint32_t private_peer(uint32_t fwd, int k)
{
	uint32_t a = (fwd & 0xffff0000u) | (uint32_t)(1 + k);

	return a == fwd ? a + 4 : a;
}

struct net_backend *net_slirp_open_private(uint32_t fwd_addr, uint16_t fwd_port,
					   const char *unix_path, char *err, size_t errlen)
{
	SlirpConfig cfg = { .version = 4, .in_enabled = true, .if_mtu = 1500, .if_mru = 1500,
			    .restricted = 1, .disable_host_loopback = true, .disable_dns = true };
	struct in_addr fwd = { htonl(fwd_addr) };
	struct user_net *u;

	/* A /16 around the address (169.254.0.0/16 for MMDS); DHCP and DNS point nowhere the
	 * guest's frames can reach, since only frames for fwd_addr come here. */
	cfg.vnetwork.s_addr = htonl(fwd_addr & 0xffff0000u);
	cfg.vnetmask.s_addr = htonl(0xffff0000u);
	cfg.vhost.s_addr = htonl(private_peer(fwd_addr, 0));
	cfg.vnameserver.s_addr = htonl(private_peer(fwd_addr, 1));
	cfg.vdhcp_start.s_addr = htonl(private_peer(fwd_addr, 2));
	if (!(u = user_net_new(&cfg, err, errlen)))
		return NULL;
	u->be.kind = "mmds";
	u->be.save = NULL; /* nothing of it is guest-visible state worth keeping */
	u->be.restore = NULL;
	if (slirp_add_unix(u->slirp, unix_path, &fwd, fwd_port) < 0) {
		snprintf(err, errlen, "cannot forward port %u to %s in libslirp", fwd_port, unix_path);
		user_net_free(u);
		return NULL;
	}
	return user_net_start(u, err, errlen);
}
