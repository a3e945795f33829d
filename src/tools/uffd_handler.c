/* vmon-uffd-handler: serves one VMM's guest RAM page faults from a snapshot memory file over userfaultfd. */
/*
 * Usage: vmon-uffd-handler SOCKET MEMFILE
 *
 * Listens on SOCKET, accepts one VMM (vmon, or Firecracker with mem_backend "Uffd"), reads
 * its region table (mem/uffd_table.h) and userfaultfd, then fills each page the VM first
 * touches from MEMFILE. Exits 0 when the VMM hangs up or on SIGTERM/SIGINT, 1 on an error,
 * including a fault outside the regions it was told about. stdout gets one line when it
 * listens, one when the session starts and the page counts at exit; errors go to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mem/uffd_table.h"

#define PROG "vmon-uffd-handler"
/* Faults waiting for a retry, plus what one read takes: each is a blocked VMM thread. */
#define MAX_EVENTS 256

struct session {
	const char *sock_path;
	int listen_fd, sock, uffd, sigfd;
	const uint8_t *file;    /* MEMFILE, mapped read-only */
	uint64_t file_size;
	uint8_t *zeros;         /* a page of the largest page size, for UFFDIO_COPY of zeros */
	uint64_t zeros_size;
	struct uffd_table t;
	/* Per region, a bit per page the VMM removed (balloon): those fill with zeros, not the file. */
	uint64_t *removed[UFFD_MAX_REGIONS];
	struct uffd_msg deferred[MAX_EVENTS];
	int nr_deferred;
	bool started;           /* the handshake passed: the counts are printed at exit */
	bool over;              /* the VMM hung up or went away, or a signal asked us to stop */
	uint64_t copied, zeroed, present;
};

static int __attribute__((format(printf, 2, 3))) fail(int ret, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return ret;
}

/* ---- setup ------------------------------------------------------------------------- */

static int map_file(struct session *s, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return fail(-errno, "cannot open memory file '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		ret = fail(-EINVAL, "memory file '%s' is not a non-empty regular file", path);
		goto out;
	}
	s->file_size = (uint64_t)st.st_size;
	/* Not MAP_POPULATE: pages come in from the file as the guest asks for them. */
	s->file = mmap(NULL, s->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (s->file == MAP_FAILED) {
		s->file = NULL;
		ret = fail(-errno, "cannot map memory file '%s': %s", path, strerror(errno));
	}
out:
	close(fd);
	return ret;
}

/* SIGTERM and SIGINT arrive as a readable fd, so the poll loop sees them between events. */
static int block_signals(struct session *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return fail(-errno, "sigprocmask: %s", strerror(errno));
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0)
		return fail(-errno, "signalfd: %s", strerror(errno));
	return 0;
}

static int listen_on(struct session *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(s->sock_path);
	int ret;

	if (len >= sizeof(sa.sun_path))
		return fail(-ENAMETOOLONG, "socket path '%s' is too long", s->sock_path);
	memcpy(sa.sun_path, s->sock_path, len + 1);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return fail(-errno, "socket: %s", strerror(errno));
	/* An existing path is left alone: it may be another handler's live socket. */
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = fail(-errno, "cannot bind '%s': %s", s->sock_path, strerror(errno));
		goto err_close;
	}
	if (listen(s->listen_fd, 1) < 0) {
		ret = fail(-errno, "cannot listen on '%s': %s", s->sock_path, strerror(errno));
		unlink(s->sock_path);
		goto err_close;
	}
	printf(PROG ": listening on %s\n", s->sock_path);
	return 0;

err_close:
	/* Closed here, so the exit path does not unlink a path this process never bound. */
	close(s->listen_fd);
	s->listen_fd = -1;
	return ret;
}

static bool got_signal(struct session *s)
{
	struct signalfd_siginfo si;

	if (read(s->sigfd, &si, sizeof(si)) != sizeof(si))
		return false;
	fprintf(stderr, PROG ": %s, stopping\n", strsignal((int)si.ssi_signo));
	s->over = true;
	return true;
}

/* Wait for fd to be readable or a stop signal; true if fd is ready. */
static bool wait_readable(struct session *s, int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = s->sigfd, .events = POLLIN } };

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return false;
		if ((p[1].revents & POLLIN) && got_signal(s))
			return false;
		if (p[0].revents)
			return true;
	}
}

/*
 * One VMM only: the path goes as soon as it is connected, so a second VMM is told there
 * is no handler instead of waiting on a backlog nobody accepts.
 */
static int accept_vmm(struct session *s)
{
	bool ready = wait_readable(s, s->listen_fd);

	if (ready)
		s->sock = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	unlink(s->sock_path);
	close(s->listen_fd);
	s->listen_fd = -1;
	if (s->over)
		return 0;
	if (!ready || s->sock < 0)
		return fail(-EIO, "accept on '%s': %s", s->sock_path, strerror(errno));
	return 0;
}

/* ---- handshake --------------------------------------------------------------------- */

/* The first SCM_RIGHTS fd, or -1; every other fd that came along is closed. */
static int take_fd(struct msghdr *mh)
{
	int fd = -1;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < n; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd < 0)
				fd = f;
			else
				close(f);
		}
	}
	return fd;
}

static bool is_userfaultfd(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[userfaultfd]") == 0;
}

static ssize_t recv_table(struct session *s, char *buf, size_t len)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(4 * sizeof(int))]; } ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b),
	};
	ssize_t n;

	if (!wait_readable(s, s->sock))
		return s->over ? 0 : fail(-EIO, "waiting for the VMM: %s", strerror(errno));
	n = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return fail(-errno, "recvmsg: %s", strerror(errno));
	s->uffd = take_fd(&mh);
	if (n == 0)
		return fail(-EPIPE, "the VMM hung up before sending its region table");
	if (s->uffd < 0 || !is_userfaultfd(s->uffd))
		return fail(-EINVAL, "the VMM sent no userfaultfd with its region table");
	return n;
}

static int alloc_pages(struct session *s)
{
	for (int i = 0; i < s->t.nr; i++) {
		uint64_t pages = s->t.r[i].size / s->t.r[i].page_size;

		s->removed[i] = calloc((pages + 63) / 64, sizeof(uint64_t));
		if (!s->removed[i])
			return fail(-ENOMEM, "out of memory");
		s->zeros_size = MAX(s->zeros_size, s->t.r[i].page_size);
	}
	/* Anonymous memory reads as zeros without ever being written. */
	s->zeros = mmap(NULL, s->zeros_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->zeros == MAP_FAILED) {
		s->zeros = NULL;
		return fail(-ENOMEM, "out of memory");
	}
	return 0;
}

static void print_session(struct session *s)
{
	struct ucred peer = { .pid = 0 };
	socklen_t len = sizeof(peer);
	uint64_t total = 0;

	getsockopt(s->sock, SOL_SOCKET, SO_PEERCRED, &peer, &len);
	for (int i = 0; i < s->t.nr; i++)
		total += s->t.r[i].size;
	s->started = true;
	printf(PROG ": session: VMM pid %d, %d region%s, %llu bytes, page size %llu\n",
	       (int)peer.pid, s->t.nr, s->t.nr == 1 ? "" : "s", (unsigned long long)total,
	       (unsigned long long)s->t.r[0].page_size);
}

static int handshake(struct session *s)
{
	char buf[UFFD_TABLE_MAX_BYTES], err[256];
	ssize_t n = recv_table(s, buf, sizeof(buf));
	int ret;

	if (n <= 0)
		return (int)n;
	ret = uffd_table_parse(&s->t, buf, (size_t)n, err, sizeof(err));
	ret = ret ?: uffd_table_check_file(&s->t, s->file_size, err, sizeof(err));
	if (ret)
		return fail(ret, "%s", err);
	/* poll() on a blocking userfaultfd only ever reports POLLERR. */
	if (fcntl(s->uffd, F_SETFL, O_NONBLOCK) < 0)
		return fail(-errno, "fcntl: %s", strerror(errno));
	ret = alloc_pages(s);
	if (!ret)
		print_session(s);
	return ret;
}

/* ---- serving ----------------------------------------------------------------------- */

static bool page_removed(struct session *s, int i, uint64_t page)
{
	return s->removed[i][page / 64] & (1ULL << (page % 64));
}

static bool all_zero(const uint8_t *p, uint64_t len)
{
	for (uint64_t i = 0; i < len; i += sizeof(uint64_t)) {
		uint64_t v;

		memcpy(&v, p + i, sizeof(v));
		if (v)
			return false;
	}
	return true;
}

/*
 * The result of a fill ioctl. EEXIST: another fault on the page was served first; wake
 * anyone still waiting on it. EAGAIN: a removal is being delivered, retry after reading
 * it. ESRCH: the VMM's address space is gone. ENOENT: the VMM unmapped the range since.
 */
static int filled(struct session *s, int ret, uint64_t dst, uint64_t len, uint64_t *count)
{
	struct uffdio_range wake = { .start = dst, .len = len };

	if (ret == 0) {
		(*count)++;
		return 0;
	}
	switch (errno) {
	case EEXIST:
		s->present++;
		ioctl(s->uffd, UFFDIO_WAKE, &wake);
		return 0;
	case EAGAIN:
		return -EAGAIN;
	case ESRCH:
		s->over = true;
		return 0;
	case ENOENT:
		return 0;
	}
	return fail(-errno, "filling the page at 0x%llx failed: %s", (unsigned long long)dst,
		    strerror(errno));
}

static int fill_copy(struct session *s, uint64_t dst, const uint8_t *src, uint64_t len,
		     uint64_t *count)
{
	struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)src, .len = len };

	return filled(s, ioctl(s->uffd, UFFDIO_COPY, &c), dst, len, count);
}

/* UFFDIO_ZEROPAGE maps the shared zero page; huge pages and shmem need a copy of zeros. */
static int fill_zero(struct session *s, uint64_t dst, uint64_t len)
{
	struct uffdio_zeropage z = { .range = { .start = dst, .len = len } };

	if (len == 4096) {
		int ret = ioctl(s->uffd, UFFDIO_ZEROPAGE, &z);

		if (ret == 0 || errno != EINVAL)
			return filled(s, ret, dst, len, &s->zeroed);
	}
	return fill_copy(s, dst, s->zeros, len, &s->zeroed);
}

/* Every byte copied is inside MEMFILE: the handshake checked each region against its size. */
static int serve_fault(struct session *s, uint64_t addr)
{
	const struct uffd_region *r = uffd_table_find(&s->t, addr);
	uint64_t page, dst;
	const uint8_t *src;
	int i;

	if (!r)
		return fail(-EFAULT, "fault at 0x%llx is outside every region the VMM described",
			    (unsigned long long)addr);
	i = (int)(r - s->t.r);
	page = (addr - r->base) / r->page_size;
	dst = r->base + page * r->page_size;
	src = s->file + r->offset + page * r->page_size;
	if (page_removed(s, i, page) || all_zero(src, r->page_size))
		return fill_zero(s, dst, r->page_size);
	return fill_copy(s, dst, src, r->page_size, &s->copied);
}

/* The VMM dropped [start, end) (madvise DONTNEED/REMOVE, munmap): later faults there read zeros. */
static void mark_removed(struct session *s, uint64_t start, uint64_t end)
{
	for (int i = 0; i < s->t.nr; i++) {
		const struct uffd_region *r = &s->t.r[i];
		uint64_t lo = MAX(start, r->base), hi = MIN(end, r->base + r->size);

		for (uint64_t a = ALIGN_DOWN(lo, r->page_size); a < hi; a += r->page_size) {
			uint64_t page = (a - r->base) / r->page_size;

			s->removed[i][page / 64] |= 1ULL << (page % 64);
		}
	}
}

static int apply_event(struct session *s, const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		return 0;
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		mark_removed(s, m->arg.remove.start, m->arg.remove.end);
		return 0;
	}
	/* REMAP and FORK are never asked for: a VMM that moves or forks guest RAM is not served. */
	return fail(-EPROTO, "unexpected userfaultfd event 0x%x", m->event);
}

/* Read what is queued behind the deferred faults; 0 read is fine (nothing new). */
static int read_events(struct session *s, struct uffd_msg *msgs, int *n)
{
	ssize_t got = read(s->uffd, msgs + *n, (size_t)(MAX_EVENTS - *n) * sizeof(*msgs));

	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : fail(-errno, "reading the "
								    "userfaultfd: %s", strerror(errno));
	if (got == 0) {
		s->over = true;
		return 0;
	}
	*n += (int)(got / (ssize_t)sizeof(*msgs));
	return 0;
}

/*
 * One round. Removals apply before the faults read with them: the kernel does not queue
 * them in causal order, and zeros are right for a page the guest gave back. A fault
 * refused with EAGAIN waits for the next round.
 */
static int serve_round(struct session *s)
{
	struct uffd_msg msgs[MAX_EVENTS];
	int n = s->nr_deferred, ret;

	memcpy(msgs, s->deferred, (size_t)n * sizeof(*msgs));
	s->nr_deferred = 0;
	ret = read_events(s, msgs, &n);
	for (int i = 0; i < n && !ret; i++)
		ret = apply_event(s, &msgs[i]);
	for (int i = 0; i < n && !ret && !s->over; i++) {
		if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		ret = serve_fault(s, msgs[i].arg.pagefault.address);
		if (ret == -EAGAIN) {
			s->deferred[s->nr_deferred++] = msgs[i];
			ret = 0;
		}
	}
	return ret;
}

/* The VMM hangs up when it exits or ends the session; anything else it sends is ignored. */
static void check_socket(struct session *s, short revents)
{
	char buf[256];
	ssize_t n;

	if (revents & (POLLHUP | POLLRDHUP | POLLERR)) {
		s->over = true;
		return;
	}
	n = recv(s->sock, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		s->over = true;
	else if (n > 0)
		fprintf(stderr, PROG ": ignoring %zd bytes from the VMM after the handshake\n", n);
}

static int serve(struct session *s)
{
	struct pollfd p[3] = {
		{ .fd = s->uffd, .events = POLLIN },
		{ .fd = s->sock, .events = POLLIN | POLLRDHUP },
		{ .fd = s->sigfd, .events = POLLIN },
	};
	int ret = 0;

	while (!ret && !s->over) {
		/* A deferred fault is retried soon even if nothing new arrives. */
		if (poll(p, 3, s->nr_deferred ? 1 : -1) < 0 && errno != EINTR)
			return fail(-errno, "poll: %s", strerror(errno));
		if (p[2].revents & POLLIN)
			got_signal(s);
		if (p[0].revents & POLLERR)
			return fail(-EIO, "the userfaultfd reports an error");
		if (!s->over && ((p[0].revents & POLLIN) || s->nr_deferred))
			ret = serve_round(s);
		if (!ret && p[1].revents)
			check_socket(s, p[1].revents);
	}
	return ret;
}

/* ---- main -------------------------------------------------------------------------- */

static void session_end(struct session *s)
{
	if (s->started)
		printf(PROG ": served %llu pages (%llu copied, %llu zero-filled), %llu already "
		       "present\n", (unsigned long long)(s->copied + s->zeroed),
		       (unsigned long long)s->copied, (unsigned long long)s->zeroed,
		       (unsigned long long)s->present);
	for (int i = 0; i < s->t.nr; i++)
		free(s->removed[i]);
	if (s->zeros)
		munmap(s->zeros, s->zeros_size);
	if (s->file)
		munmap((void *)s->file, s->file_size);
	if (s->uffd >= 0)
		close(s->uffd);
	if (s->sock >= 0)
		close(s->sock);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->sock_path);
	}
	if (s->sigfd >= 0)
		close(s->sigfd);
}

int main(int argc, char **argv)
{
	struct session s = { .listen_fd = -1, .sock = -1, .uffd = -1, .sigfd = -1 };
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: " PROG " SOCKET MEMFILE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	s.sock_path = argv[1];
	ret = map_file(&s, argv[2]);
	ret = ret ?: block_signals(&s);
	ret = ret ?: listen_on(&s);
	ret = ret ?: accept_vmm(&s);
	if (!ret && !s.over)
		ret = handshake(&s);
	if (!ret && !s.over)
		ret = serve(&s);
	session_end(&s);
	return ret ? 1 : 0;
}
