/*
 * virtio-balloon's pure parts: an inflate buffer's PFNs (runs merged, PFNs outside RAM or in
 * the MMIO hole skipped, never released), the stats buffer's tagged entries, which queue is
 * which, and free page reports (hostile ranges refused, never released).
 */
#include "unit.h"

#include <string.h>

#include "devices/virtio/balloon.h"
#include "snapshot/format.h"

struct call { uint64_t gpa, len; };
static struct call calls[16];
static int nr_calls;
static int fail_gpa_mib = -1; /* a release at this MiB fails */

static int fake_release(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	(void)gm;
	if (nr_calls < 16)
		calls[nr_calls++] = (struct call){ gpa, len };
	return (int64_t)(gpa >> 20) == fail_gpa_mib ? -EIO : 0;
}

/* 5 GiB of RAM: [0, 3 GiB) and [4 GiB, 6 GiB); host pointers are never dereferenced here. */
static void fake_ram(struct guest_mem *gm)
{
	memset(gm, 0, sizeof(*gm));
	gm_layout(gm, 5ULL * GiB);
	for (int i = 0; i < gm->nr_regions; i++)
		gm->regions[i].host = (uint8_t *)(uintptr_t)(0x10000000ULL + gm->regions[i].fd_offset);
	nr_calls = 0;
	fail_gpa_mib = -1;
}

static void put_pfns(uint8_t *buf, const uint32_t *pfns, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 4; b++)
			buf[4 * i + b] = (uint8_t)(pfns[i] >> 8 * b);
}

static void test_runs_merged(void **state)
{
	struct guest_mem gm;
	const uint32_t pfns[] = { 100, 101, 102, 200, 199, 300 };
	uint8_t buf[sizeof(pfns)];

	(void)state;
	fake_ram(&gm);
	put_pfns(buf, pfns, 6);
	assert_int_equal(balloon_release_pfns(&gm, buf, 6, fake_release), 0);
	assert_int_equal(nr_calls, 4);
	assert_true(calls[0].gpa == 100 * 4096ULL && calls[0].len == 3 * 4096ULL);
	assert_true(calls[1].gpa == 200 * 4096ULL && calls[1].len == 4096);
	assert_true(calls[2].gpa == 199 * 4096ULL && calls[2].len == 4096);
	assert_true(calls[3].gpa == 300 * 4096ULL && calls[3].len == 4096);
}

/* The hole, beyond RAM, the last u32 PFN: skipped and counted; the rest still released. */
static void test_hostile_pfns(void **state)
{
	struct guest_mem gm;
	const uint32_t hole = (uint32_t)(3ULL * GiB >> 12), high = (uint32_t)(4ULL * GiB >> 12);
	const uint32_t pfns[] = { hole - 1, hole, hole + 5, 0xffffffff, high + (2u << 18), 7,
				  high - 1, high };
	uint8_t buf[sizeof(pfns)];

	(void)state;
	fake_ram(&gm);
	put_pfns(buf, pfns, 8);
	assert_int_equal(balloon_release_pfns(&gm, buf, 8, fake_release), 5);
	assert_int_equal(nr_calls, 3);
	assert_true(calls[0].gpa == (uint64_t)(hole - 1) << 12 && calls[0].len == 4096);
	assert_true(calls[1].gpa == 7 * 4096ULL);
	assert_true(calls[2].gpa == 4ULL * GiB && calls[2].len == 4096);
}

/* A run up to the end of RAM stops there: the page beyond is skipped, the run released. */
static void test_run_stops_at_end(void **state)
{
	struct guest_mem gm;
	const uint32_t end = (uint32_t)(6ULL * GiB >> 12);
	const uint32_t pfns[] = { end - 2, end - 1, end };
	uint8_t buf[sizeof(pfns)];

	(void)state;
	fake_ram(&gm);
	put_pfns(buf, pfns, 3);
	assert_int_equal(balloon_release_pfns(&gm, buf, 3, fake_release), 1);
	assert_int_equal(nr_calls, 1);
	assert_true(calls[0].gpa == (uint64_t)(end - 2) << 12 && calls[0].len == 8192);
}

static void test_release_failure_counted(void **state)
{
	struct guest_mem gm;
	const uint32_t pfns[] = { 256, 257, 512 };
	uint8_t buf[sizeof(pfns)];

	(void)state;
	fake_ram(&gm);
	fail_gpa_mib = 1;
	put_pfns(buf, pfns, 3);
	assert_int_equal(balloon_release_pfns(&gm, buf, 3, fake_release), 2);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t v)
{
	p[0] = (uint8_t)tag, p[1] = (uint8_t)(tag >> 8);
	for (int b = 0; b < 8; b++)
		p[2 + b] = (uint8_t)(v >> 8 * b);
}

static void test_stats(void **state)
{
	struct balloon_stats st = { 0 };
	uint8_t buf[10 * 4 + 7];

	(void)state;
	put_stat(buf, BALLOON_S_MEMFREE, 123456789012ULL);
	put_stat(buf + 10, BALLOON_S_MEMTOT, 268435456);
	put_stat(buf + 20, 999, 5);              /* unknown tag: ignored */
	put_stat(buf + 30, BALLOON_S_MEMFREE, 42); /* a later entry wins */
	memset(buf + 40, 0xff, 7);               /* partial entry: ignored */
	balloon_parse_stats(buf, sizeof(buf), &st);
	assert_int_equal(st.valid, (1u << BALLOON_S_MEMFREE) | (1u << BALLOON_S_MEMTOT));
	assert_int_equal(st.val[BALLOON_S_MEMFREE], 42);
	assert_int_equal(st.val[BALLOON_S_MEMTOT], 268435456);
	balloon_parse_stats(buf, 9, &st); /* shorter than one entry */
	assert_int_equal(st.val[BALLOON_S_MEMFREE], 42);
}

/* The type's state round-trips; a check pass changes nothing; bad bytes are refused. */
static void test_state(void **state)
{
	struct virtio_balloon a = { .num_pages = 32768, .actual = 1000, .interval_s = 5,
				    .held = true, .held_head = 3, .timer_fd = -1 };
	struct virtio_balloon b = { .timer_fd = -1 };
	struct virtio_device da = { .priv = &a, .features = VIRTIO_BALLOON_F_STATS_VQ };
	struct virtio_device db = { .priv = &b, .features = VIRTIO_BALLOON_F_STATS_VQ };
	struct snap_buf out;
	struct snap_rd in;

	(void)state;
	a.stats.valid = 1u << BALLOON_S_MEMFREE;
	a.stats.val[BALLOON_S_MEMFREE] = 777;
	snap_buf_init(&out);
	assert_int_equal(virtio_balloon_save(&da, &out), 0);
	assert_int_equal(snap_buf_error(&out), 0);
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_balloon_restore(&db, &in, 2, false), 0);
	assert_int_equal(b.num_pages, 0);
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_balloon_restore(&db, &in, 2, true), 0);
	assert_true(in.pos == out.len);
	assert_int_equal(b.num_pages, 32768);
	assert_int_equal(b.actual, 1000);
	assert_int_equal(b.interval_s, 5);
	assert_true(b.held && b.held_head == 3);
	assert_int_equal(b.stats.val[BALLOON_S_MEMFREE], 777);

	/* Without the stats queue, a held buffer or an interval cannot be this device's. */
	db.features = 0;
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_balloon_restore(&db, &in, 2, false), -EINVAL);
	/* Truncated, and a held flag of 2. */
	db.features = VIRTIO_BALLOON_F_STATS_VQ;
	snap_rd_init(&in, out.data, out.len - 1);
	assert_int_equal(virtio_balloon_restore(&db, &in, 2, false), -EINVAL);
	/* Version 1 had no reporting byte: the same bytes without it, reporting off. */
	snap_rd_init(&in, out.data, out.len - 1);
	assert_int_equal(virtio_balloon_restore(&db, &in, 1, false), 0);
	out.data[out.len - 4] = 2;
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_balloon_restore(&db, &in, 2, false), -EINVAL);
	snap_buf_free(&out);
}

/* The reporting flag is saved, must match the device's, and version 1 means off. */
static void test_state_reporting(void **state)
{
	struct virtio_balloon a = { .timer_fd = -1 }, b = { .timer_fd = -1 };
	struct virtio_device da = { .priv = &a, .features = VIRTIO_BALLOON_F_PAGE_REPORTING };
	struct virtio_device db = { .priv = &b, .features = VIRTIO_BALLOON_F_PAGE_REPORTING };
	struct snap_buf out;
	struct snap_rd in;

	(void)state;
	snap_buf_init(&out);
	assert_int_equal(virtio_balloon_save(&da, &out), 0);
	assert_int_equal(out.data[out.len - 1], 1);
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_balloon_restore(&db, &in, 2, false), 0);
	snap_rd_init(&in, out.data, out.len - 1);
	assert_int_equal(virtio_balloon_restore(&db, &in, 1, false), -EINVAL);
	db.features = 0;
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_balloon_restore(&db, &in, 2, false), -EINVAL);
	db.features = VIRTIO_BALLOON_F_PAGE_REPORTING;
	out.data[out.len - 1] = 2;
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_balloon_restore(&db, &in, 2, false), -EINVAL);
	snap_buf_free(&out);
}

/* Queues are numbered without gaps: the reporting queue moves with the stats queue. */
static void test_queue_of(void **state)
{
	const uint64_t rep = VIRTIO_BALLOON_F_PAGE_REPORTING, st = VIRTIO_BALLOON_F_STATS_VQ;

	(void)state;
	assert_int_equal(balloon_queue_of(0, 0), BALLOON_Q_INFLATE);
	assert_int_equal(balloon_queue_of(rep | st, 1), BALLOON_Q_DEFLATE);
	assert_int_equal(balloon_queue_of(st, 2), BALLOON_Q_STATS);
	assert_int_equal(balloon_queue_of(0, 2), BALLOON_Q_NONE);
	assert_int_equal(balloon_queue_of(rep, 2), BALLOON_Q_REPORTING);
	assert_int_equal(balloon_queue_of(rep, 3), BALLOON_Q_NONE);
	assert_int_equal(balloon_queue_of(rep | st, 2), BALLOON_Q_STATS);
	assert_int_equal(balloon_queue_of(rep | st, 3), BALLOON_Q_REPORTING);
	assert_int_equal(balloon_queue_of(st, 3), BALLOON_Q_NONE);
	assert_int_equal(balloon_queue_of(rep | st | VIRTIO_BALLOON_F_FREE_PAGE_HINT, 3),
			 BALLOON_Q_NONE);
	assert_int_equal(balloon_queue_of(rep | st | VIRTIO_BALLOON_F_FREE_PAGE_HINT, 4),
			 BALLOON_Q_REPORTING);
	assert_int_equal(balloon_queue_of(rep | st, 7), BALLOON_Q_NONE);
	assert_int_equal(balloon_queue_of(rep | st, -1), BALLOON_Q_NONE);
}

/* Good reports go through whole; each hostile range is refused without a release call. */
static void test_report_hostile(void **state)
{
	struct guest_mem gm;
	const uint64_t mib2 = 2ULL << 20;
	const struct virtq_buf bufs[] = {
		{ 16 * mib2, (uint32_t)mib2, true },          /* fine */
		{ 3ULL * GiB - mib2, (uint32_t)(2 * mib2), true }, /* runs into the MMIO hole */
		{ 3ULL * GiB, (uint32_t)mib2, true },          /* in the hole */
		{ 6ULL * GiB - mib2, (uint32_t)(2 * mib2), true }, /* past the end of RAM */
		{ UINT64_MAX - 4095, 8192, true },             /* wraps */
		{ 32 * mib2 + 512, 4096, true },               /* misaligned address */
		{ 32 * mib2, 4096 + 1, true },                 /* misaligned length */
		{ 32 * mib2, 0, true },                        /* empty */
		{ 4ULL * GiB, (uint32_t)(2 * mib2), false },   /* fine: above the hole */
		{ 6ULL * GiB - 4096, 4096, true },             /* fine: the last page */
	};
	uint64_t released = 0;

	(void)state;
	fake_ram(&gm);
	assert_int_equal(balloon_report(&gm, bufs, 10, fake_release, &released), 7);
	assert_int_equal(nr_calls, 3);
	assert_true(calls[0].gpa == 16 * mib2 && calls[0].len == mib2);
	assert_true(calls[1].gpa == 4ULL * GiB && calls[1].len == 2 * mib2);
	assert_true(calls[2].gpa == 6ULL * GiB - 4096 && calls[2].len == 4096);
	assert_true(released == 3 * mib2 + 4096);
	/* An empty chain: nothing. */
	nr_calls = 0;
	assert_int_equal(balloon_report(&gm, bufs, 0, fake_release, &released), 0);
	assert_int_equal(nr_calls, 0);
}

/* A release that fails is refused and not counted as released. */
static void test_report_failure(void **state)
{
	struct guest_mem gm;
	const struct virtq_buf bufs[] = { { 1ULL << 20, 4096, true }, { 2ULL << 20, 8192, true } };
	uint64_t released = 100;

	(void)state;
	fake_ram(&gm);
	fail_gpa_mib = 1;
	assert_int_equal(balloon_report(&gm, bufs, 2, fake_release, &released), 1);
	assert_int_equal(nr_calls, 2);
	assert_true(released == 100 + 8192);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_merged),
		cmocka_unit_test(test_hostile_pfns),
		cmocka_unit_test(test_run_stops_at_end),
		cmocka_unit_test(test_release_failure_counted),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_state_reporting),
		cmocka_unit_test(test_queue_of),
		cmocka_unit_test(test_report_hostile),
		cmocka_unit_test(test_report_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
