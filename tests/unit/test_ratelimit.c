/* Token buckets: burst, refill rate, waits, large operations, and "unlimited". */
#include "unit.h"

#include "util/ratelimit.h"

#define MS 1000000ull

static void test_unlimited(void **state)
{
	struct rate_limiter rl;
	uint64_t wait = 0;
	(void)state;

	rate_limiter_init(&rl, NULL, 0);
	assert_true(rate_limiter_unlimited(&rl));
	for (int i = 0; i < 1000; i++)
		assert_true(rate_limiter_consume(&rl, 1 << 20, 0, &wait));
}

static void test_ops_bucket(void **state)
{
	struct rate_limiter_spec spec = { .set = true, .ops = { .set = true, .size = 10, .refill_time_ms = 100 } };
	struct rate_limiter rl;
	uint64_t wait = 0;
	(void)state;

	rate_limiter_init(&rl, &spec, 0);
	for (int i = 0; i < 10; i++)
		assert_true(rate_limiter_consume(&rl, 4096, 0, &wait));
	assert_false(rate_limiter_consume(&rl, 4096, 0, &wait));
	/* One token refills every 10 ms. */
	assert_in_range(wait, 9 * MS, 11 * MS);
	assert_false(rate_limiter_consume(&rl, 1, 5 * MS, &wait));
	assert_true(rate_limiter_consume(&rl, 1, 10 * MS, &wait));
	/* After the full refill time the bucket is full again, but no fuller. */
	for (int i = 0; i < 10; i++)
		assert_true(rate_limiter_consume(&rl, 1, 1000 * MS, &wait));
	assert_false(rate_limiter_consume(&rl, 1, 1000 * MS, &wait));
}

static void test_bandwidth_and_burst(void **state)
{
	struct rate_limiter_spec spec = {
		.set = true,
		.bandwidth = { .set = true, .size = 1000, .one_time_burst = 500, .refill_time_ms = 1000 },
	};
	struct rate_limiter rl;
	uint64_t wait = 0;
	(void)state;

	rate_limiter_init(&rl, &spec, 0);
	/* 1000 in the bucket plus a 500 one-time burst. */
	assert_true(rate_limiter_consume(&rl, 1500, 0, &wait));
	assert_false(rate_limiter_consume(&rl, 100, 0, &wait));
	assert_in_range(wait, 99 * MS, 101 * MS); /* 100 bytes at 1000 B/s */
	assert_true(rate_limiter_consume(&rl, 100, 100 * MS, &wait));
	/* An operation larger than the bucket goes once the bucket is full. */
	assert_false(rate_limiter_consume(&rl, 5000, 200 * MS, &wait));
	assert_true(rate_limiter_consume(&rl, 5000, 1100 * MS, &wait));
	/* Charged afterwards (received frames): the debt delays the next operation. */
	rate_limiter_charge(&rl, 1000);
	assert_false(rate_limiter_consume(&rl, 1, 1100 * MS, &wait));
}

/* A refill time the API takes (any u63) whose nanoseconds wrap to 0: a very slow bucket. */
static void test_refill_time_wraps(void **state)
{
	struct rate_limiter_spec spec = { .set = true,
					  .ops = { .set = true, .size = 2, .refill_time_ms = 1ull << 58 } };
	struct rate_limiter rl;
	uint64_t wait = 0;
	(void)state;

	rate_limiter_init(&rl, &spec, 0);
	assert_true(rate_limiter_consume(&rl, 1, 0, &wait));
	assert_true(rate_limiter_consume(&rl, 1, 0, &wait));
	assert_false(rate_limiter_consume(&rl, 1, 0, &wait));
	assert_true(wait > 100ull * 365 * 24 * 3600 * 1000 * MS);
	assert_false(rate_limiter_consume(&rl, 1, 1000 * MS, &wait));
	spec.ops.refill_time_ms = UINT64_MAX;
	rate_limiter_init(&rl, &spec, 0);
	assert_true(rate_limiter_consume(&rl, 2, 0, &wait));
	assert_true(rate_limiter_consume(&rl, 2, 0, &wait));
	assert_false(rate_limiter_consume(&rl, 1, 1, &wait));
	assert_true(wait > 100ull * 365 * 24 * 3600 * 1000 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_ops_bucket),
		cmocka_unit_test(test_bandwidth_and_burst),
		cmocka_unit_test(test_refill_time_wraps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
