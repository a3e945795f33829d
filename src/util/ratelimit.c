/* Token buckets: refill at size/refill_time, spend a one-time burst first. */
#include "util/ratelimit.h"

#include <string.h>

/*
 * The longest refill time, in ns (about 292 years): refill_time_ms * 1000000 must not wrap,
 * since a refill_ns of 0 is a division by zero, and a wait must fit in 64 bits.
 */
#define REFILL_NS_MAX (UINT64_MAX / 2)

static void bucket_init(struct token_bucket *b, const struct token_bucket_spec *s, uint64_t now)
{
	memset(b, 0, sizeof(*b));
	if (!s->set || !s->size || !s->refill_time_ms)
		return;
	b->size = s->size;
	b->burst = s->one_time_burst;
	b->refill_ns = s->refill_time_ms < REFILL_NS_MAX / 1000000 ? s->refill_time_ms * 1000000ull
								      : REFILL_NS_MAX;
	b->tokens = s->size;
	b->last_ns = now;
}

static void bucket_refill(struct token_bucket *b, uint64_t now)
{
	if (now <= b->last_ns)
		return;
	/* Whole tokens only: keep the remainder of the elapsed time for the next refill. */
	unsigned __int128 add = (unsigned __int128)(now - b->last_ns) * b->size / b->refill_ns;
	if (add == 0)
		return;
	if (add >= b->size - b->tokens) {
		b->tokens = b->size;
		b->last_ns = now;
	} else {
		b->tokens += (uint64_t)add;
		b->last_ns += (uint64_t)(add * b->refill_ns / b->size);
	}
}

/* Tokens missing for n, after burst and bucket; 0 if n can be taken now. */
static uint64_t bucket_missing(struct token_bucket *b, uint64_t n, uint64_t now)
{
	if (!b->size)
		return 0;
	bucket_refill(b, now);
	uint64_t have = b->tokens + b->burst;
	/* An operation larger than the bucket may go once the bucket is full. */
	uint64_t need = n > b->size ? b->size : n;
	return have >= need ? 0 : need - have;
}

static void bucket_take(struct token_bucket *b, uint64_t n)
{
	if (!b->size)
		return;
	uint64_t from_burst = n < b->burst ? n : b->burst;
	b->burst -= from_burst;
	n -= from_burst;
	b->tokens = n > b->tokens ? 0 : b->tokens - n;
}

static uint64_t bucket_wait_ns(const struct token_bucket *b, uint64_t missing)
{
	return missing ? (uint64_t)((unsigned __int128)missing * b->refill_ns / b->size) + 1 : 0;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_spec *spec, uint64_t now_ns)
{
	static const struct rate_limiter_spec none;

	if (!spec)
		spec = &none;
	bucket_init(&rl->bandwidth, &spec->bandwidth, now_ns);
	bucket_init(&rl->ops, &spec->ops, now_ns);
}

bool rate_limiter_unlimited(const struct rate_limiter *rl)
{
	return !rl->bandwidth.size && !rl->ops.size;
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns,
			  uint64_t *wait_ns)
{
	uint64_t mb = bucket_missing(&rl->bandwidth, bytes, now_ns);
	uint64_t mo = bucket_missing(&rl->ops, 1, now_ns);

	if (mb || mo) {
		uint64_t wb = bucket_wait_ns(&rl->bandwidth, mb), wo = bucket_wait_ns(&rl->ops, mo);
		*wait_ns = wb > wo ? wb : wo;
		return false;
	}
	bucket_take(&rl->bandwidth, bytes);
	bucket_take(&rl->ops, 1);
	return true;
}

void rate_limiter_charge(struct rate_limiter *rl, uint64_t bytes)
{
	bucket_take(&rl->bandwidth, bytes);
}
