/* The I/O thread's epoll loop. */
#include "util/eventloop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

/* The two control sources: their data.ptr marks them apart from device sources. */
static char stop_marker, pause_marker;

int eventloop_init(struct eventloop *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->pause_lock, NULL);
	pthread_cond_init(&l->pause_cond, NULL);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->pause_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->stop_fd < 0 || l->pause_fd < 0)
		return -errno;
	struct epoll_event stop = { .events = EPOLLIN, .data.ptr = &stop_marker };
	struct epoll_event pause = { .events = EPOLLIN, .data.ptr = &pause_marker };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stop_fd, &stop) < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->pause_fd, &pause) < 0)
		return -errno;
	return 0;
}

int eventloop_add(struct eventloop *l, int fd, uint32_t events, event_fn fn, void *opaque)
{
	if (l->nr == EVENTLOOP_MAX_SOURCES)
		return -ENOSPC;
	struct event_source *s = &l->sources[l->nr++];
	*s = (struct event_source){ fd, fn, opaque };
	struct epoll_event ev = { .events = events, .data.ptr = s };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		l->nr--;
		return -errno;
	}
	return 0;
}

int eventloop_mod(struct eventloop *l, int fd, uint32_t events)
{
	for (int i = 0; i < l->nr; i++) {
		if (l->sources[i].fd != fd)
			continue;
		struct epoll_event ev = { .events = events, .data.ptr = &l->sources[i] };
		return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	return -ENOENT;
}

/* The I/O thread's side of eventloop_pause(): park until resumed. */
static void eventloop_park(struct eventloop *l)
{
	uint64_t v;

	if (read(l->pause_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_warn("I/O thread: pause eventfd: %s", strerror(errno));
	pthread_mutex_lock(&l->pause_lock);
	l->parked = true;
	pthread_cond_broadcast(&l->pause_cond);
	while (l->pause_requested)
		pthread_cond_wait(&l->pause_cond, &l->pause_lock);
	l->parked = false;
	pthread_mutex_unlock(&l->pause_lock);
}

static void *eventloop_thread(void *arg)
{
	struct eventloop *l = arg;
	struct epoll_event evs[16];

	/* Before thread_init's seccomp filter; a set the builder checked. */
	if (l->affinity && sched_setaffinity(0, sizeof(*l->affinity), l->affinity))
		pr_warn("I/O thread: cannot pin it to its host CPUs: %s", strerror(errno));
	if (l->thread_init)
		l->thread_init();
	/* Paused before it started (a restored VM): park before the first event. */
	pthread_mutex_lock(&l->pause_lock);
	bool park = l->pause_requested;
	pthread_mutex_unlock(&l->pause_lock);
	if (park)
		eventloop_park(l);
	for (;;) {
		int n = epoll_wait(l->epfd, evs, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pr_err("I/O thread: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct event_source *s = evs[i].data.ptr;
			if ((void *)s == &stop_marker)
				return NULL;
			if ((void *)s == &pause_marker)
				eventloop_park(l);
			else
				s->fn(s->opaque, evs[i].events);
		}
	}
}

int eventloop_start(struct eventloop *l)
{
	int ret = pthread_create(&l->thread, NULL, eventloop_thread, l);
	if (ret)
		return -ret;
	l->started = true;
	return 0;
}

void eventloop_pause(struct eventloop *l)
{
	uint64_t one = 1;

	pthread_mutex_lock(&l->pause_lock);
	l->pause_requested = true;
	if (l->started && write(l->pause_fd, &one, sizeof(one)) < 0)
		pr_warn("cannot pause the I/O thread: %s", strerror(errno));
	while (l->started && !l->parked)
		pthread_cond_wait(&l->pause_cond, &l->pause_lock);
	pthread_mutex_unlock(&l->pause_lock);
}

void eventloop_resume(struct eventloop *l)
{
	pthread_mutex_lock(&l->pause_lock);
	l->pause_requested = false;
	pthread_cond_broadcast(&l->pause_cond);
	pthread_mutex_unlock(&l->pause_lock);
}

void eventloop_stop(struct eventloop *l)
{
	uint64_t one = 1;

	if (!l->started)
		return;
	eventloop_resume(l); /* a parked thread must see the stop */
	if (write(l->stop_fd, &one, sizeof(one)) < 0)
		pr_warn("cannot stop the I/O thread: %s", strerror(errno));
	pthread_join(l->thread, NULL);
	l->started = false;
}

void eventloop_destroy(struct eventloop *l)
{
	eventloop_stop(l);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	if (l->pause_fd >= 0)
		close(l->pause_fd);
	l->epfd = l->stop_fd = l->pause_fd = -1;
}
