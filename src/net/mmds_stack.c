/*
 * The MMDS stack of one interface: a private libslirp (net_slirp_open_private) for the
 * frames virtio-net diverts, and an HTTP thread serving the connections libslirp makes to
 * a Unix socket in a private directory, one request at a time from each connection's
 * buffer, under the data store's lock.
 */
#include "net/mmds_stack.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "security/seccomp.h"
#include "util/log.h"

#define MAX_CONNS 16
#define IDLE_MS 10000 /* a connection that sends nothing for this long is closed */

struct mmds_conn {
	int fd;
	size_t len;
	int64_t last_ms;
	char buf[MMDS_HTTP_MAX_REQUEST];
};

struct mmds_stack {
	struct net_backend be;      /* what virtio-net sees: delegates to `slirp` */
	struct net_backend *slirp;
	struct mmds_shared *svc;
	pthread_t thread;
	int listen_fd, stop_fd;
	char dir[64], path[96];
	struct mmds_conn conns[MAX_CONNS];
};

struct mmds_shared *mmds_shared_new(size_t limit, const char *instance_id)
{
	struct mmds_shared *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (mmds_init(&s->m, limit, instance_id)) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void mmds_shared_free(struct mmds_shared *s)
{
	if (!s)
		return;
	mmds_free(&s->m);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int mmds_shared_load(struct mmds_shared *s, const char *path, char *err, size_t errlen)
{
	json_error_t e;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	int ret;

	if (!doc) {
		if (e.line > 0)
			snprintf(err, errlen, "--metadata %s: %s (line %d)", path, e.text, e.line);
		else
			snprintf(err, errlen, "--metadata %s: %s", path, e.text);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	ret = mmds_store_put(&s->m.store, doc);
	pthread_mutex_unlock(&s->lock);
	json_decref(doc);
	if (ret) {
		snprintf(err, errlen, "--metadata %s: %s", path,
			 ret == -E2BIG ? "more than the data store's limit" : "out of memory");
		return -1;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_close(struct mmds_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Write all of a response; the guest's TCP window may make libslirp slow to take it. */
static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, 1000) <= 0)
				return false;
			continue;
		}
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* New bytes on a connection: answer every whole request in the buffer. */
static void conn_input(struct mmds_stack *st, struct mmds_conn *c)
{
	ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);

	if (r <= 0) {
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	c->len += (size_t)r;
	c->last_ms = now_ms();
	for (;;) {
		char *out;
		size_t out_len;
		bool close_after;

		pthread_mutex_lock(&st->svc->lock);
		ssize_t n = mmds_serve(&st->svc->m, c->buf, c->len, (uint64_t)now_ms(), &out, &out_len,
				       &close_after);
		pthread_mutex_unlock(&st->svc->lock);
		if (n == 0)
			return; /* incomplete: wait for more (the buffer is the request limit) */
		bool ok = out && write_all(c->fd, out, out_len);
		free(out);
		if (!ok || close_after) {
			conn_close(c);
			return;
		}
		memmove(c->buf, c->buf + n, c->len - (size_t)n);
		c->len -= (size_t)n;
	}
}

static void accept_conn(struct mmds_stack *st)
{
	int fd = accept4(st->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CONNS; i++) {
		if (st->conns[i].fd < 0) {
			st->conns[i].fd = fd;
			st->conns[i].len = 0;
			st->conns[i].last_ms = now_ms();
			return;
		}
	}
	pr_ratelimited(LOG_WARN, "mmds: more than %d connections; refusing one", MAX_CONNS);
	close(fd);
}

static void *mmds_thread(void *arg)
{
	struct mmds_stack *st = arg;
	struct pollfd pfd[MAX_CONNS + 2];
	int idx[MAX_CONNS + 2];

	seccomp_thread_start(SECCOMP_NET, "vmon-mmds");
	for (;;) {
		int n = 0;

		pfd[n++] = (struct pollfd){ .fd = st->stop_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = st->listen_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CONNS; i++) {
			if (st->conns[i].fd < 0)
				continue;
			if (now_ms() - st->conns[i].last_ms > IDLE_MS) {
				conn_close(&st->conns[i]);
				continue;
			}
			idx[n] = i;
			pfd[n++] = (struct pollfd){ .fd = st->conns[i].fd, .events = POLLIN };
		}
		if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			accept_conn(st);
		for (int k = 2; k < n; k++)
			if (pfd[k].revents)
				conn_input(st, &st->conns[idx[k]]);
	}
	return NULL;
}

static ssize_t stack_send(struct net_backend *be, const struct iovec *iov, int n)
{
	struct mmds_stack *st = (struct mmds_stack *)be;

	return st->slirp->send(st->slirp, iov, n);
}

static ssize_t stack_recv(struct net_backend *be, const struct iovec *iov, int n)
{
	struct mmds_stack *st = (struct mmds_stack *)be;

	return st->slirp->recv(st->slirp, iov, n);
}

static void stack_set_offload(struct net_backend *be, unsigned flags)
{
	(void)be, (void)flags;
}

static void stack_free(struct mmds_stack *st)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (st->conns[i].fd >= 0)
			close(st->conns[i].fd);
	if (st->listen_fd >= 0)
		close(st->listen_fd);
	if (st->stop_fd >= 0)
		close(st->stop_fd);
	if (st->path[0])
		unlink(st->path);
	if (st->dir[0])
		rmdir(st->dir);
	free(st);
}

static void stack_close(struct net_backend *be)
{
	struct mmds_stack *st = (struct mmds_stack *)be;
	uint64_t one = 1;

	st->slirp->close(st->slirp); /* no new connections from here on */
	if (write(st->stop_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("mmds: cannot stop its thread");
	pthread_join(st->thread, NULL);
	stack_free(st);
}

/* The Unix socket libslirp connects to: in a fresh directory only this process can enter. */
static int stack_listen(struct mmds_stack *st, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *tmp = getenv("TMPDIR");

	snprintf(st->dir, sizeof(st->dir), "%s/vmon-mmds-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(st->dir)) {
		snprintf(err, errlen, "mmds: cannot make a directory for its socket: %s", strerror(errno));
		st->dir[0] = 0;
		return -1;
	}
	snprintf(st->path, sizeof(st->path), "%s/http.sock", st->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", st->path);
	st->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (st->listen_fd < 0 || bind(st->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(st->listen_fd, MAX_CONNS)) {
		snprintf(err, errlen, "mmds: cannot listen on %s: %s", st->path, strerror(errno));
		if (st->listen_fd >= 0 && errno != EADDRINUSE)
			unlink(st->path);
		return -1;
	}
	return 0;
}

struct net_backend *mmds_stack_open(struct mmds_shared *svc, uint32_t ipv4, char *err, size_t errlen)
{
	struct mmds_stack *st = calloc(1, sizeof(*st));

	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->svc = svc;
	st->listen_fd = -1;
	for (int i = 0; i < MAX_CONNS; i++)
		st->conns[i].fd = -1;
	st->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (st->stop_fd < 0 || stack_listen(st, err, errlen))
		goto fail;
	st->slirp = net_slirp_open_private(ipv4, 80, st->path, err, errlen);
	if (!st->slirp)
		goto fail;
	st->be = (struct net_backend){ .kind = "mmds", .rx_fd = st->slirp->rx_fd, .recv = stack_recv,
				       .send = stack_send, .set_offload = stack_set_offload,
				       .close = stack_close };
	if (pthread_create(&st->thread, NULL, mmds_thread, st)) {
		snprintf(err, errlen, "mmds: cannot start its thread");
		st->slirp->close(st->slirp);
		goto fail;
	}
	return &st->be;
fail:
	stack_free(st);
	return NULL;
}
