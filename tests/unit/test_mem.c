/* Guest memory layout around the PCI hole, checked translation, and the e820 map. */
#include "unit.h"

#include <string.h>
#include <sys/stat.h>

#include "boot/e820.h"
#include "boot/layout.h"
#include "mem/guest_mem.h"

static void test_small_layout(void **state)
{
	struct guest_mem gm;
	(void)state;

	assert_int_equal(gm_create(&gm, 64 * MiB, false), 0);
	assert_int_equal(gm.nr_regions, 1);
	assert_non_null(gm_translate(&gm, 0, 64 * MiB));
	assert_null(gm_translate(&gm, 0, 64 * MiB + 1));
	assert_null(gm_translate(&gm, 64 * MiB, 1));
	assert_null(gm_translate(&gm, UINT64_MAX - 1, 4)); /* wraps */
	assert_null(gm_translate(&gm, 4096, UINT64_MAX));  /* length wraps */
	assert_non_null(gm_translate(&gm, 64 * MiB - 1, 1));
	uint32_t v = 0xdeadbeef, r = 0;
	assert_int_equal(gm_write(&gm, 0x1000, &v, 4), 0);
	assert_int_equal(gm_read(&gm, &r, 0x1000, 4), 0);
	assert_int_equal(r, v);
	assert_int_equal(gm_write(&gm, 64 * MiB - 2, &v, 4), -EFAULT);
	gm_destroy(&gm);
}

static void test_hole_layout(void **state)
{
	struct guest_mem gm = { 0 };
	(void)state;

	gm_layout(&gm, 6 * GiB);
	assert_int_equal(gm.nr_regions, 2);
	assert_int_equal(gm.regions[0].size, 3 * GiB);
	assert_int_equal(gm.regions[1].gpa, 4 * GiB);
	assert_int_equal(gm.regions[1].size, 3 * GiB);
	assert_int_equal(gm.regions[1].fd_offset, 3 * GiB);
	assert_int_equal(gm_end(&gm), 7 * GiB);

	struct e820_entry e[E820_MAX];
	int n = e820_build(&gm, e);
	assert_int_equal(n, 5);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, BOOT_EBDA_ADDR);
	assert_int_equal(e[0].type, E820_TYPE_RAM);
	assert_int_equal(e[1].type, E820_TYPE_RESERVED);
	assert_int_equal(e[2].addr, BOOT_ACPI_ADDR);
	assert_int_equal(e[3].addr, 1 * MiB);
	assert_int_equal(e[3].size, 3 * GiB - 1 * MiB);
	assert_int_equal(e[4].addr, 4 * GiB);
	assert_int_equal(e[4].size, 3 * GiB);
	/* Nothing in the map overlaps, and it is sorted. */
	for (int i = 1; i < n; i++)
		assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
}

static void test_hole_translation(void **state)
{
	struct guest_mem gm = { 0 };
	static uint8_t fake_low[16], fake_high[16];
	(void)state;

	gm_layout(&gm, 4 * GiB);
	gm.regions[0].host = fake_low;
	gm.regions[1].host = fake_high;
	/* The hole is not RAM, and no access may straddle into or across it. */
	assert_null(gm_translate(&gm, 3 * GiB, 1));
	assert_null(gm_translate(&gm, 3 * GiB - 1, 2));
	assert_null(gm_translate(&gm, 4 * GiB - 1, 2));
	assert_ptr_equal(gm_translate(&gm, 4 * GiB + 4, 4), fake_high + 4);
	assert_ptr_equal(gm_translate(&gm, 8, 4), fake_low + 8);
}

static void test_bad_sizes(void **state)
{
	struct guest_mem gm;
	(void)state;

	assert_int_not_equal(gm_create(&gm, 0, false), 0);
	assert_int_not_equal(gm_create(&gm, 4097, false), 0);
}

/* A discarded page reads zero and leaves the memfd; bad ranges change nothing. */
static void test_discard(void **state)
{
	struct guest_mem gm;
	struct stat before, after;
	uint8_t *p;

	(void)state;
	assert_int_equal(gm_create(&gm, 64 * MiB, false), 0);
	p = gm_translate(&gm, 1 * MiB, 64 * KiB);
	assert_non_null(p);
	memset(p, 0xab, 64 * KiB);
	assert_int_equal(fstat(gm.fd, &before), 0);
	assert_int_equal(gm_discard(&gm, 1 * MiB, 64 * KiB), 0);
	assert_int_equal(fstat(gm.fd, &after), 0);
	assert_true(after.st_blocks + (long)(64 * KiB / 512) <= before.st_blocks);
	for (size_t i = 0; i < 64 * KiB; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(gm_discard(&gm, 64 * MiB, 4 * KiB), -EINVAL);
	assert_int_equal(gm_discard(&gm, 64 * MiB - 4 * KiB, 8 * KiB), -EINVAL);
	assert_int_equal(gm_discard(&gm, 1 * MiB + 1, 4 * KiB), -EINVAL);
	assert_int_equal(gm_discard(&gm, 0, 0), -EINVAL);
	gm_destroy(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_layout),
		cmocka_unit_test(test_hole_layout),
		cmocka_unit_test(test_hole_translation),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_discard),
	};
	return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
