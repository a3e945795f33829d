/*
 * Rate limits for a virtio device's queue (Firecracker's RateLimiter): a token-bucket pair
 * and a timerfd on the I/O thread that resumes the device once tokens are back.
 */
#ifndef VMON_THROTTLE_H
#define VMON_THROTTLE_H

#include <pthread.h>
#include "util/ratelimit.h"
#include "util/eventloop.h"

struct throttle {
	struct rate_limiter rl;
	bool limited;            /* any bucket configured */
	bool blocked;            /* waiting for the timer */
	int timer_fd;
	pthread_mutex_t *lock;   /* the device lock, taken around resume() */
	void (*resume)(void *opaque);
	void *opaque;
	uint64_t throttled;      /* times an operation had to wait */
};

/* Unlimited until throttle_set(); the timer joins the event loop. 0 or -errno. */
int throttle_init(struct throttle *t, struct eventloop *loop, pthread_mutex_t *lock,
		  void (*resume)(void *opaque), void *opaque) __must_check;

/* New limits (NULL: none). Device lock held. */
void throttle_set(struct throttle *t, const struct rate_limiter_spec *spec);

/*
 * May one operation of `bytes` go now? If not, the timer is armed and resume() will run
 * on the I/O thread (with the lock held) when it may. Device lock held.
 */
bool throttle_allow(struct throttle *t, uint64_t bytes);

/* Bytes of an operation whose size was known only afterwards (a received frame). */
void throttle_charge(struct throttle *t, uint64_t bytes);

void throttle_close(struct throttle *t);

#endif
