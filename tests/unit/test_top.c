/* `vmon ctl top`'s view from two metrics lines: rates, percentiles, ordering, resets. */
#include "unit.h"

#include <jansson.h>
#include <string.h>

#include "api/top.h"

static json_t *line(int io_exits, int mmio_exits, int com1, int blk_req, int blk_bytes)
{
	json_error_t e;
	char buf[2048];

	/* io exits: all in bucket 3 ([4, 8) us), but the last one slow (bucket 10). */
	snprintf(buf, sizeof(buf),
		 "{\"vmm\": {\"state\": \"Running\", \"rss_kib\": 2048},"
		 " \"vcpu\": [{\"id\": 0, \"exits\": {\"io\": %d, \"mmio\": %d},"
		 "   \"handling_us_log2_histogram\": {\"io\": [0,0,0,%d,0,0,0,0,0,0,%d,0,0,0,0,0],"
		 "                                    \"mmio\": [0,%d,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}},"
		 "  {\"id\": 1, \"exits\": {\"io\": %d}, \"handling_us_log2_histogram\": {\"io\": [0,0,0,%d,0,0,0,0,0,0,0,0,0,0,0,0]}}],"
		 " \"devices\": {\"virtio-blk0\": {\"queue_notifications\": %d, \"interrupts\": %d, \"requests\": %d,"
		 "   \"bytes_to_guest\": %d, \"bytes_from_guest\": 0, \"errors\": 0, \"dropped\": 0}},"
		 " \"pio\": {\"ranges\": [{\"name\": \"i8250-com1\", \"base\": 1016, \"len\": 8, \"accesses\": %d},"
		 "   {\"name\": \"i8042\", \"base\": 96, \"len\": 1, \"accesses\": 0}], \"unclaimed\": 0},"
		 " \"mmio\": {\"ranges\": [], \"unclaimed\": 3},"
		 " \"interrupts\": {\"com1\": %d, \"i8042\": 0}}",
		 io_exits, mmio_exits, io_exits > 0 ? io_exits - 1 : 0, io_exits > 0, mmio_exits, io_exits,
		 io_exits, blk_req, blk_req, blk_req, blk_bytes, com1, com1 / 2);
	json_t *j = json_loads(buf, 0, &e);
	if (!j)
		fail_msg("bad test JSON: %s at %d", e.text, e.position);
	return j;
}

static void test_rates(void **state)
{
	json_t *a = line(100, 10, 50, 5, 4096), *b = line(300, 30, 250, 25, 4096 + 20000);
	char out[4096];
	(void)state;

	size_t n = top_render(a, b, 2.0, out, sizeof(out));
	assert_int_equal(n, strlen(out));
	/* io: vcpu0 +200, vcpu1 +200 over 2 s = 200/s; mmio +20/2 = 10/s; vcpu0 = 110, vcpu1 = 100. */
	assert_non_null(strstr(out, "vcpu0 110 vcpu1 100, all 210"));
	const char *io = strstr(out, "  io "), *mmio = strstr(out, "  mmio ");
	assert_non_null(io);
	assert_non_null(mmio);
	assert_true(io < mmio); /* the busiest reason first */
	/* io's interval histogram: 398 in [4, 8) us, none slow (the slow one was there before). */
	assert_non_null(strstr(io, "200         8         8"));
	assert_non_null(strstr(mmio, "10         2         2"));
	assert_non_null(strstr(out, "pio accesses/s: i8250-com1@0x3f8 100\n"));
	assert_non_null(strstr(out, "mmio accesses/s: none\n"));
	assert_non_null(strstr(out, "virtio-blk0    notify 10/s, irq 10/s, requests 10/s, to guest 10.0 KB/s"));
	assert_non_null(strstr(out, "legacy interrupts/s: com1 50 i8042 0"));
	json_decref(a);
	json_decref(b);
}

static void test_reset_and_small_buffer(void **state)
{
	json_t *a = line(300, 30, 250, 25, 0), *b = line(10, 1, 5, 1, 0);
	char out[64];
	(void)state;

	/* Counters that went down (a new VM) count as 0, never as huge numbers. */
	size_t n = top_render(a, b, 1.0, NULL, 0);
	assert_true(n > 0);
	static char big[4096];
	top_render(a, b, 1.0, big, sizeof(big));
	assert_non_null(strstr(big, "all 0\n"));
	/* Cut at the buffer, still a string. */
	assert_int_equal(top_render(a, b, 1.0, out, sizeof(out)), n);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	json_decref(a);
	json_decref(b);
}

static void test_percentile(void **state)
{
	unsigned long long h[16] = { 0 };
	(void)state;

	assert_int_equal(top_percentile_us(h, 16, 0.5), 0);
	h[0] = 1; /* under 1 us */
	assert_int_equal(top_percentile_us(h, 16, 0.5), 1);
	h[4] = 99; /* [8, 16) */
	assert_int_equal(top_percentile_us(h, 16, 0.5), 16);
	assert_int_equal(top_percentile_us(h, 16, 0.01), 1);
	h[15] = 1000; /* the open last bucket: its lower bound */
	assert_int_equal(top_percentile_us(h, 16, 0.99), 16384);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_reset_and_small_buffer),
		cmocka_unit_test(test_percentile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
