/* The gdb thread: the listening socket, one client at a time, bytes through the stub. */
#include "gdb/gdb_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gdb/gdb_stub.h"
#include "gdb/gdb_target.h"
#include "security/seccomp.h"
#include "util/log.h"

struct gdb_server {
	struct gdb_target target;
	struct gdb_stub stub;
	int listen_fd, client_fd, quit_fd;
	bool vm_ending;          /* with quit: let go of the vCPUs without stopping them first */
	bool ended;              /* with vm_ending: how, for the client (W or X) */
	bool ended_killed;
	int ended_code;
	bool session;            /* the stub is initialised for the client (the VM stopped) */
	pthread_t thread;
	bool thread_started;
	char url[256];
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* ---- the listening socket ----------------------------------------------------------------- */

static int listen_unix(struct gdb_server *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (!*path || strlen(path) >= sizeof(a.sun_path)) {
		snprintf(err, errlen, "gdb: '%s': a socket path of 1 to %zu bytes", path,
			 sizeof(a.sun_path) - 1);
		return -EINVAL;
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path); /* a socket a previous run left; any other file stays (EADDRINUSE) */
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1)) {
		int e = errno;
		snprintf(err, errlen, "gdb: cannot listen on unix:%s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	snprintf(s->unix_path, sizeof(s->unix_path), "%s", path);
	return fd;
}

/* HOST:PORT or PORT (127.0.0.1); HOST numeric, an IPv6 one in brackets. */
static int listen_tcp(const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE }, *ai = NULL;
	const char *colon = strrchr(spec, ':');
	char host[64] = "127.0.0.1";
	const char *port = colon ? colon + 1 : spec;
	int fd = -1, one = 1, ret = 0;

	if (colon && colon > spec) {
		size_t n = (size_t)(colon - spec);
		if (spec[0] == '[' && n >= 2 && spec[n - 1] == ']')
			spec++, n -= 2;
		if (n >= sizeof(host)) {
			snprintf(err, errlen, "gdb: tcp:%s: the host is too long", spec);
			return -EINVAL;
		}
		memcpy(host, spec, n);
		host[n] = '\0';
	}
	if (!*port || getaddrinfo(host, port, &hints, &ai) || !ai) {
		snprintf(err, errlen, "gdb: 'tcp:%s': use tcp:[HOST:]PORT with a numeric host", spec);
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1)) {
		ret = -errno;
		snprintf(err, errlen, "gdb: cannot listen on tcp:%s:%s: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	freeaddrinfo(ai);
	return ret ? ret : fd;
}

/* ---- one client ------------------------------------------------------------------------- */

/* Send what the stub queued. A client that stops reading is the client's problem. */
static int flush(struct gdb_server *s)
{
	struct gdb_out *o = &s->stub.out;

	while (o->len) {
		ssize_t n = send(s->client_fd, o->data, o->len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		gdb_out_consume(o, (size_t)n);
	}
	return 0;
}

static void disconnect(struct gdb_server *s, bool quick)
{
	if (s->client_fd < 0)
		return;
	/* Without D the VM runs on as after it (D took the breakpoints out already). */
	if (!(s->session && s->stub.closed) || quick)
		gdb_target_release(&s->target, quick);
	close(s->client_fd);
	s->client_fd = -1;
	s->session = false;
	pr_info("gdb: the debugger left %s", s->url);
}

static void client_accept(struct gdb_server *s)
{
	int one = 1, fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on Unix: fine */
	s->client_fd = fd;
	pr_info("gdb: a debugger connected to %s; stopping the VM", s->url);
	gdb_target_stop(&s->target, GDB_SIGTRAP); /* the session starts once all are parked */
}

/* A stop completed: begin the session, or tell gdb (which waits for it if it resumed). */
static void client_stopped(struct gdb_server *s)
{
	struct gdb_stop why;
	int vcpu;

	if (s->client_fd < 0 || !gdb_target_take_stop(&s->target, &vcpu, &why))
		return;
	if (!s->session) {
		gdb_stub_init(&s->stub, &gdb_target_ops, &s->target);
		s->session = true;
	}
	gdb_stub_stopped(&s->stub, vcpu, &why);
	if (flush(s))
		disconnect(s, false);
}

static void client_input(struct gdb_server *s)
{
	uint8_t buf[4096];
	ssize_t n = recv(s->client_fd, buf, sizeof(buf), 0);
	size_t off = 0;

	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		disconnect(s, false);
		return;
	}
	while (off < (size_t)n) {
		off += gdb_stub_input(&s->stub, buf + off, (size_t)n - off);
		if (flush(s)) {
			disconnect(s, false);
			return;
		}
	}
	if (s->stub.lost)
		pr_warn("gdb: %u replies did not fit the output buffer", s->stub.lost);
	if (s->stub.closed) /* D or k: gdb hangs up next */
		disconnect(s, false);
}

/* The VM is gone: a client waiting for a stop hears how (W or X) before the hang-up. */
static void client_exited(struct gdb_server *s)
{
	if (s->client_fd < 0)
		return;
	if (s->session && gdb_stub_exited(&s->stub, s->ended_killed, s->ended_code)) {
		pr_info("gdb: told the debugger the VM %s %d", s->ended_killed ? "was killed by signal" :
			"exited with status", s->ended_code);
		if (flush(s))
			pr_warn("gdb: the debugger did not take the news");
	} else {
		pr_info("gdb: the VM ended while the debugger held it stopped; hanging up");
	}
}

static void *gdb_thread(void *arg)
{
	struct gdb_server *s = arg;

	seccomp_thread_start(SECCOMP_GDB, "vmon-gdb");
	for (;;) {
		/* Until the VM has stopped for a new client, its bytes wait. */
		int conn = s->client_fd < 0 ? s->listen_fd : s->session ? s->client_fd : -1;
		struct pollfd p[3] = {
			{ .fd = s->quit_fd, .events = POLLIN },
			{ .fd = s->target.notify_fd, .events = POLLIN },
			{ .fd = conn, .events = POLLIN },
		};
		uint64_t v;

		int ms = s->session ? gdb_target_poll_ms(&s->target) : -1;

		if (poll(p, 3, ms) < 0 && errno != EINTR)
			break;
		if (ms >= 0)
			gdb_target_poll(&s->target);
		if (p[0].revents)
			break;
		if (p[1].revents && read(s->target.notify_fd, &v, sizeof(v)) == sizeof(v))
			client_stopped(s);
		if (p[2].revents && s->client_fd < 0)
			client_accept(s);
		else if (p[2].revents && conn == s->client_fd)
			client_input(s);
	}
	if (s->ended)
		client_exited(s);
	disconnect(s, s->vm_ending);
	return NULL;
}

/* ---- life cycle -------------------------------------------------------------------------- */

int gdb_server_start(struct gdb_server **out, const struct gdb_server_env *env, const char *url,
		     bool wait, char *err, size_t errlen)
{
	struct gdb_server *s = calloc(1, sizeof(*s));
	int ret;

	*out = NULL;
	if (!s) {
		snprintf(err, errlen, "gdb: out of memory");
		return -ENOMEM;
	}
	s->listen_fd = s->client_fd = -1;
	s->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	snprintf(s->url, sizeof(s->url), "%s", url);
	err[0] = '\0';
	if (!strncmp(url, "unix:", 5))
		ret = listen_unix(s, url + 5, err, errlen);
	else if (!strncmp(url, "tcp:", 4))
		ret = listen_tcp(url + 4, err, errlen);
	else
		ret = -EINVAL;
	if (ret == -EINVAL && !err[0])
		snprintf(err, errlen, "gdb: '%s': use tcp:[HOST:]PORT or unix:PATH", url);
	s->listen_fd = ret >= 0 ? ret : -1;
	ret = MIN(ret, 0);
	if (!ret && s->quit_fd < 0)
		ret = -errno;
	if (!ret && (ret = gdb_target_init(&s->target, env->vcpus, env->kill, env->clock, env->opaque, wait)))
		snprintf(err, errlen, "gdb: out of memory");
	if (!ret) {
		env->vcpus->hook_opaque = &s->target;
		env->vcpus->hook = gdb_target_hook;
		ret = -pthread_create(&s->thread, NULL, gdb_thread, s);
		s->thread_started = !ret;
	}
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "gdb: cannot start: %s", strerror(-ret));
		env->vcpus->hook = NULL;
		gdb_server_free(s);
		return ret;
	}
	pr_info("gdb: listening on %s%s", url, wait ? "; the vCPUs wait for it" : "");
	*out = s;
	return 0;
}

/* The host's stop signals in GDB's numbering (the protocol's, not the host's). */
static int gdb_signal(int host)
{
	switch (host) {
	case SIGHUP: return GDB_SIGHUP;
	case SIGINT: return GDB_SIGINT;
	case SIGTERM: return GDB_SIGTERM;
	default: return GDB_SIGKILL;
	}
}

void gdb_server_vm_ended(struct gdb_server *s, int status, int signal)
{
	if (!s || !s->thread_started)
		return;
	s->ended = true; /* read by the gdb thread after the quit_fd write below */
	s->ended_killed = signal != 0;
	s->ended_code = signal ? gdb_signal(signal) : status;
	gdb_server_stop(s, true);
}

const char *gdb_server_url(const struct gdb_server *s)
{
	return s->url;
}

void gdb_server_pause(struct gdb_server *s, bool paused)
{
	if (s)
		gdb_target_pause(&s->target, paused);
}

int gdb_server_breakpoints(struct gdb_server *s)
{
	pthread_mutex_lock(&s->target.lock);
	int n = s->target.nr_sw;
	pthread_mutex_unlock(&s->target.lock);
	return n;
}

void gdb_server_stop(struct gdb_server *s, bool vm_ending)
{
	uint64_t one = 1;

	if (!s || !s->thread_started)
		return;
	s->vm_ending = vm_ending;
	if (write(s->quit_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("gdb: cannot stop the gdb thread: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	s->thread_started = false;
	/* Nobody parks any more (a vCPU held since --gdb-wait, without a client, goes too). */
	atomic_store(&s->target.off, true);
	gdb_target_release(&s->target, true);
	pr_info("gdb: no longer listening on %s", s->url);
}

void gdb_server_free(struct gdb_server *s)
{
	if (!s)
		return;
	gdb_server_stop(s, true);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->unix_path[0])
		unlink(s->unix_path);
	if (s->quit_fd >= 0)
		close(s->quit_fd);
	if (s->target.cpu)
		gdb_target_destroy(&s->target);
	free(s);
}
