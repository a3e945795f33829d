/*
 * The I/O thread: an epoll loop that runs device work (queue notifications arriving via
 * ioeventfd, backend completions) so no vCPU thread ever blocks on a disk or a network.
 */
#ifndef VMON_EVENTLOOP_H
#define VMON_EVENTLOOP_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include "util/util.h"

typedef void (*event_fn)(void *opaque, uint32_t events);

struct event_source {
	int fd;
	event_fn fn;
	void *opaque;
};

#define EVENTLOOP_MAX_SOURCES 64

struct eventloop {
	int epfd;
	int stop_fd;
	int pause_fd;      /* eventfd: asks the thread to park */
	pthread_t thread;
	bool started;
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	bool pause_requested, parked;
	int nr;
	struct event_source sources[EVENTLOOP_MAX_SOURCES];
	/* Optional: the host CPUs the I/O thread may run on (NULL: inherited); set first. */
	const cpu_set_t *affinity;
	/* Optional: runs first on the I/O thread (the VMM installs its seccomp filter there). */
	void (*thread_init)(void);
};

int eventloop_init(struct eventloop *l) __must_check;
/* Watch fd for `events` (EPOLLIN...); fn runs on the I/O thread. Before or after start. */
int eventloop_add(struct eventloop *l, int fd, uint32_t events, event_fn fn, void *opaque) __must_check;
/* Change the events watched on fd (0 pauses it). I/O thread or before start. */
int eventloop_mod(struct eventloop *l, int fd, uint32_t events) __must_check;
int eventloop_start(struct eventloop *l) __must_check;
/*
 * A barrier: returns once the I/O thread has finished the event it was handling and parks
 * before the next (at once if the thread is not running). Until eventloop_resume() it runs
 * no handler. One caller at a time; not from the I/O thread.
 */
void eventloop_pause(struct eventloop *l);
void eventloop_resume(struct eventloop *l);
void eventloop_stop(struct eventloop *l);
void eventloop_destroy(struct eventloop *l);

#endif
