/* The dirty bitmap: marked ranges, the RAM boundaries, merge and harvest, concurrent markers. */
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mem/dirty.h"

#define PAGE 4096ULL

/* Region `region`'s dirty pages, harvested (and so cleared), as a list. Returns how many. */
static int harvest_list(struct guest_mem *gm, int region, uint64_t *pages, int max)
{
	uint64_t words = gm_dirty_words(gm, region);
	uint64_t *bits = calloc(words, sizeof(*bits));
	int n = 0;

	assert_non_null(bits);
	assert_int_equal(gm_dirty_harvest(gm, region, bits), 0);
	for (uint64_t p = 0; p < words * 64; p++)
		if (bits[p / 64] & (1ULL << (p % 64))) {
			assert_true(n < max);
			pages[n++] = p;
		}
	free(bits);
	return n;
}

/* A layout with both regions and no RAM behind it: marking never touches the pages. */
static void fake_two_regions(struct guest_mem *gm)
{
	static uint8_t fake_low, fake_high;

	memset(gm, 0, sizeof(*gm));
	gm_layout(gm, 3 * GiB + 64 * MiB);
	gm->regions[0].host = &fake_low;
	gm->regions[1].host = &fake_high;
	assert_int_equal(gm_dirty_enable(gm), 0);
}

static void test_mark_ranges(void **state)
{
	struct guest_mem gm;
	uint64_t p[8];
	(void)state;

	fake_two_regions(&gm);
	gm_mark_dirty(&gm, 0x1fff, 2);       /* two bytes, two pages */
	gm_mark_dirty(&gm, 0x5000, 0);       /* nothing */
	gm_mark_dirty(&gm, 0x8000, PAGE);    /* exactly one page */
	gm_mark_dirty(&gm, 63 * PAGE + 8, PAGE); /* pages 63 and 64: across a bitmap word */
	assert_int_equal(gm_dirty_count(&gm), 5);
	assert_int_equal(harvest_list(&gm, 0, p, 8), 5);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[1], 2);
	assert_int_equal(p[2], 8);
	assert_int_equal(p[3], 63);
	assert_int_equal(p[4], 64);
	assert_int_equal(gm_dirty_count(&gm), 0);

	/* 200 pages from page 10: partial word, whole words, partial word. */
	gm_mark_dirty(&gm, 10 * PAGE, 200 * PAGE);
	assert_int_equal(gm_dirty_count(&gm), 200);
	uint64_t all[256];
	assert_int_equal(harvest_list(&gm, 0, all, 256), 200);
	assert_int_equal(all[0], 10);
	assert_int_equal(all[199], 209);
	gm_dirty_disable(&gm);
}

static void test_region_boundaries(void **state)
{
	struct guest_mem gm;
	uint64_t p[8];
	(void)state;

	fake_two_regions(&gm);
	/* Straddling the end of low RAM into the hole: only the RAM part counts. */
	gm_mark_dirty(&gm, 3 * GiB - 1, 2);
	/* The hole itself, and past the end of RAM: ignored. */
	gm_mark_dirty(&gm, 3 * GiB, 1 * GiB);
	gm_mark_dirty(&gm, gm_end(&gm), 16 * PAGE);
	gm_mark_dirty(&gm, UINT64_MAX - 10, 100); /* wraps */
	gm_mark_dirty(&gm, 1ULL << 52, UINT64_MAX);
	/* From the hole into high RAM. */
	gm_mark_dirty(&gm, 4 * GiB - 1, 2);
	/* The last page of high RAM, with a length running off the top of the address space. */
	gm_mark_dirty(&gm, gm_end(&gm) - 1, UINT64_MAX);
	assert_int_equal(harvest_list(&gm, 0, p, 8), 1);
	assert_int_equal(p[0], 3 * GiB / PAGE - 1);
	assert_int_equal(harvest_list(&gm, 1, p, 8), 2);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[1], 64 * MiB / PAGE - 1);

	/* One range over all of RAM, hole included, marks both regions whole. */
	gm_mark_dirty(&gm, 0, gm_end(&gm));
	assert_int_equal(gm_dirty_count(&gm), (3 * GiB + 64 * MiB) / PAGE);
	gm_dirty_disable(&gm);
}

static void test_tracking_off(void **state)
{
	struct guest_mem gm;
	uint64_t bits[16] = { 0 };
	uint32_t v = 1;
	(void)state;

	assert_int_equal(gm_create(&gm, 1 * MiB, false), 0);
	assert_int_equal(gm_write(&gm, 0, &v, 4), 0);
	gm_mark_dirty(&gm, 0, PAGE);
	assert_int_equal(gm_dirty_count(&gm), 0);
	assert_int_equal(gm_dirty_harvest(&gm, 0, bits), -EINVAL);
	assert_int_equal(gm_dirty_merge(&gm, 0, bits), -EINVAL);
	/* Turned on later, it starts clear: earlier writes belong to the full copy. */
	assert_int_equal(gm_dirty_enable(&gm), 0);
	assert_int_equal(gm_dirty_enable(&gm), 0);
	assert_int_equal(gm_dirty_count(&gm), 0);
	assert_int_equal(gm_dirty_harvest(&gm, 1, bits), -EINVAL); /* no such region */
	assert_int_equal(gm_dirty_harvest(&gm, -1, bits), -EINVAL);
	gm_destroy(&gm); /* frees the bitmaps too (LeakSanitizer checks) */
}

/* gm_write() and gm_translate_w() mark; reads and plain translations do not. */
static void test_writes_mark_reads_do_not(void **state)
{
	struct guest_mem gm;
	uint8_t buf[2 * 4096] = { 0 };
	uint64_t p[8];
	(void)state;

	assert_int_equal(gm_create(&gm, 4 * MiB, false), 0);
	assert_int_equal(gm_dirty_enable(&gm), 0);
	assert_int_equal(gm_read(&gm, buf, 0x3000, sizeof(buf)), 0);
	assert_non_null(gm_translate(&gm, 0x7000, 16));
	assert_int_equal(gm_dirty_count(&gm), 0);

	assert_int_equal(gm_write(&gm, 0x2ffc, buf, 8), 0);            /* pages 2 and 3 */
	assert_int_equal(gm_write(&gm, 4 * MiB - 4, buf, 8), -EFAULT); /* not written: unmarked */
	assert_non_null(gm_translate_w(&gm, 0x9000, 1));                /* page 9 */
	assert_null(gm_translate_w(&gm, 4 * MiB, 1));
	assert_int_equal(harvest_list(&gm, 0, p, 8), 3);
	assert_int_equal(p[0], 2);
	assert_int_equal(p[1], 3);
	assert_int_equal(p[2], 9);
	gm_destroy(&gm);
}

/* KVM_GET_DIRTY_LOG layout in, the same layout out; a harvest takes and clears. */
static void test_merge_harvest(void **state)
{
	struct guest_mem gm;
	uint64_t log[5] = { 0 }, out[5];
	(void)state;

	/* 257 pages: the fifth word holds one page; the log's other bits there are not RAM. */
	assert_int_equal(gm_create(&gm, 1 * MiB + PAGE, false), 0);
	assert_int_equal(gm_dirty_enable(&gm), 0);
	assert_int_equal(gm_dirty_words(&gm, 0), 5);
	log[0] = 1ULL << 3 | 1ULL << 63; /* pages 3, 63 */
	log[2] = 1ULL << 0;              /* page 128 */
	log[4] = ~0ULL;                  /* page 256, and 63 bits past the end */
	assert_int_equal(gm_dirty_merge(&gm, 0, log), 0);
	assert_int_equal(gm_dirty_merge(&gm, 1, log), -EINVAL);
	gm_mark_dirty(&gm, 3 * PAGE, 1);  /* already set by the vCPUs: still one page */
	gm_mark_dirty(&gm, 64 * PAGE, 1); /* the VMM's own */
	assert_int_equal(gm_dirty_count(&gm), 5);

	assert_int_equal(gm_dirty_harvest(&gm, 0, out), 0);
	assert_int_equal(out[0], 1ULL << 3 | 1ULL << 63);
	assert_int_equal(out[1], 1ULL << 0);
	assert_int_equal(out[2], 1ULL << 0);
	assert_int_equal(out[3], 0);
	assert_int_equal(out[4], 1);
	/* Harvested means cleared: the next harvest is empty until something is written. */
	assert_int_equal(gm_dirty_count(&gm), 0);
	assert_int_equal(gm_dirty_harvest(&gm, 0, out), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(out[i], 0);
	gm_mark_dirty(&gm, 256 * PAGE, 1);
	assert_int_equal(gm_dirty_harvest(&gm, 0, out), 0);
	assert_int_equal(out[4], 1);
	gm_destroy(&gm);
}

/* Host iovecs into RAM mark their pages; an iovec elsewhere in the host does not. */
static void test_mark_iov(void **state)
{
	struct guest_mem gm;
	uint8_t outside[64];
	uint64_t p[8];
	(void)state;

	assert_int_equal(gm_create(&gm, 1 * MiB, false), 0);
	assert_int_equal(gm_dirty_enable(&gm), 0);
	struct iovec iov[3] = {
		{ gm_translate(&gm, 0x4ff0, 0x20), 0x20 }, /* pages 4 and 5 */
		{ outside, sizeof(outside) },
		{ gm_translate(&gm, 0xa000, 0), 0 },        /* empty */
	};
	gm_mark_dirty_iov(&gm, iov, 3);
	assert_int_equal(harvest_list(&gm, 0, p, 8), 2);
	assert_int_equal(p[0], 4);
	assert_int_equal(p[1], 5);
	gm_destroy(&gm);
}

/*
 * Two markers share every bitmap word (one takes the even pages, one the odd) while a third
 * thread harvests without pause. Each page is marked once, so across all harvests each bit
 * must come out exactly once: none lost between take and clear, none taken twice.
 */
#define RACE_PAGES 8192

struct marker { struct guest_mem *gm; int parity; };

static void *mark_half(void *arg)
{
	struct marker *m = arg;

	for (uint64_t p = (uint64_t)m->parity; p < RACE_PAGES; p += 2)
		gm_mark_dirty(m->gm, p * PAGE + 100, 8);
	return NULL;
}

static int stop_harvesting;

static void *harvest_loop(void *arg)
{
	struct guest_mem *gm = arg;
	static uint64_t seen[RACE_PAGES / 64], bits[RACE_PAGES / 64];
	uint64_t total = 0;

	memset(seen, 0, sizeof(seen));
	for (bool last = false; !last;) {
		last = __atomic_load_n(&stop_harvesting, __ATOMIC_ACQUIRE);
		if (gm_dirty_harvest(gm, 0, bits))
			return NULL;
		for (int w = 0; w < RACE_PAGES / 64; w++) {
			if (seen[w] & bits[w])
				return NULL; /* taken twice */
			seen[w] |= bits[w];
			total += (uint64_t)__builtin_popcountll(bits[w]);
		}
	}
	return (void *)(uintptr_t)total;
}

static void test_concurrent_markers(void **state)
{
	struct guest_mem gm;
	(void)state;

	assert_int_equal(gm_create(&gm, RACE_PAGES * PAGE, false), 0);
	assert_int_equal(gm_dirty_enable(&gm), 0);
	for (int round = 0; round < 20; round++) {
		struct marker even = { &gm, 0 }, odd = { &gm, 1 };
		pthread_t a, b, h;
		void *total;

		stop_harvesting = 0;
		assert_int_equal(pthread_create(&h, NULL, harvest_loop, &gm), 0);
		assert_int_equal(pthread_create(&a, NULL, mark_half, &even), 0);
		assert_int_equal(pthread_create(&b, NULL, mark_half, &odd), 0);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		__atomic_store_n(&stop_harvesting, 1, __ATOMIC_RELEASE);
		pthread_join(h, &total);
		assert_int_equal((uintptr_t)total, RACE_PAGES);
		assert_int_equal(gm_dirty_count(&gm), 0);
	}
	gm_destroy(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mark_ranges),
		cmocka_unit_test(test_region_boundaries),
		cmocka_unit_test(test_tracking_off),
		cmocka_unit_test(test_writes_mark_reads_do_not),
		cmocka_unit_test(test_merge_harvest),
		cmocka_unit_test(test_mark_iov),
		cmocka_unit_test(test_concurrent_markers),
	};
	return cmocka_run_group_tests_name("dirty", tests, NULL, NULL);
}
