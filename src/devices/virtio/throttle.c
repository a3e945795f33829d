/* Token buckets in front of a virtio queue; a timerfd wakes the queue when they refill. */
#include "devices/virtio/throttle.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void throttle_timer(void *opaque, uint32_t events)
{
	struct throttle *t = opaque;
	uint64_t n;

	(void)events;
	if (read(t->timer_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(t->lock);
	t->blocked = false;
	t->resume(t->opaque);
	pthread_mutex_unlock(t->lock);
}

int throttle_init(struct throttle *t, struct eventloop *loop, pthread_mutex_t *lock,
		  void (*resume)(void *opaque), void *opaque)
{
	*t = (struct throttle){ .lock = lock, .resume = resume, .opaque = opaque };
	rate_limiter_init(&t->rl, NULL, 0);
	t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->timer_fd < 0)
		return -errno;
	int ret = eventloop_add(loop, t->timer_fd, EPOLLIN, throttle_timer, t);
	if (ret) {
		close(t->timer_fd);
		t->timer_fd = -1;
	}
	return ret;
}

void throttle_set(struct throttle *t, const struct rate_limiter_spec *spec)
{
	rate_limiter_init(&t->rl, spec, now_ns());
	t->limited = !rate_limiter_unlimited(&t->rl);
	if (!t->limited && t->blocked) {
		/* Limits lifted while waiting: fire the timer now. */
		struct itimerspec its = { .it_value = { .tv_nsec = 1 } };
		timerfd_settime(t->timer_fd, 0, &its, NULL);
	}
}

bool throttle_allow(struct throttle *t, uint64_t bytes)
{
	uint64_t wait;

	if (!t->limited)
		return true;
	if (t->blocked)
		return false;
	if (rate_limiter_consume(&t->rl, bytes, now_ns(), &wait))
		return true;
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(wait / 1000000000ull), .tv_nsec = (long)(wait % 1000000000ull) },
	};
	if (timerfd_settime(t->timer_fd, 0, &its, NULL) == 0) {
		t->blocked = true;
		t->throttled++;
		return false;
	}
	return true; /* no timer, no wait: better unthrottled than stuck */
}

void throttle_charge(struct throttle *t, uint64_t bytes)
{
	if (t->limited)
		rate_limiter_charge(&t->rl, bytes);
}

void throttle_close(struct throttle *t)
{
	if (t->timer_fd >= 0)
		close(t->timer_fd);
	t->timer_fd = -1;
}
