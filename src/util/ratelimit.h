/*
 * Token buckets for I/O rate limits (Firecracker's RateLimiter: a bandwidth bucket in bytes
 * and an ops bucket in requests). Pure: time is passed in, so unit tests drive it.
 */
#ifndef VMON_RATELIMIT_H
#define VMON_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct token_bucket_spec {
	bool set;
	uint64_t size;           /* tokens the bucket holds; 0 or refill_time 0: no limit */
	uint64_t one_time_burst; /* extra tokens spent before the refill rate applies */
	uint64_t refill_time_ms; /* time to refill `size` tokens from empty */
};

struct rate_limiter_spec {
	bool set;
	struct token_bucket_spec bandwidth, ops;
};

struct token_bucket {
	uint64_t size, burst, refill_ns;
	uint64_t tokens;
	uint64_t last_ns;
};

struct rate_limiter {
	struct token_bucket bandwidth, ops;
};

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_spec *spec, uint64_t now_ns);

/*
 * Take one operation of `bytes` bytes if both buckets have the tokens; otherwise take
 * nothing and return false with *wait_ns set to how long until they will.
 */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns,
			  uint64_t *wait_ns);

/* Spend `bytes` bandwidth tokens without asking (the size was known only afterwards). */
void rate_limiter_charge(struct rate_limiter *rl, uint64_t bytes);

/* A limiter that never blocks (no bucket configured). */
bool rate_limiter_unlimited(const struct rate_limiter *rl);

#endif
