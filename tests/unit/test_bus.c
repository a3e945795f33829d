/* Bus registration, overlap refusal, lookup, dispatch, unclaimed accesses. */
#include "unit.h"

#include <errno.h>
#include <string.h>

#include "bus/bus.h"

struct fake {
	uint64_t last_offset;
	uint8_t last_write[8];
	uint32_t writes, reads;
};

static void fake_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct fake *f = opaque;
	f->reads++;
	f->last_offset = offset;
	memset(data, 0x42, len);
}

static void fake_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct fake *f = opaque;
	f->writes++;
	f->last_offset = offset;
	memcpy(f->last_write, data, len);
}

static const struct bus_device_ops fake_ops = { fake_read, fake_write };

static void test_register_and_overlap(void **state)
{
	struct bus b;
	struct fake f = { 0 };
	(void)state;

	bus_init(&b, "test");
	assert_int_equal(bus_register(&b, 0x100, 8, &fake_ops, &f, "a"), 0);
	assert_int_equal(bus_register(&b, 0x200, 0x10, &fake_ops, &f, "b"), 0);
	assert_int_equal(bus_register(&b, 0x108, 8, &fake_ops, &f, "adjacent"), 0);
	/* Overlaps at the start, end, inside and around an existing range. */
	assert_int_equal(bus_register(&b, 0xfc, 8, &fake_ops, &f, "x"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x20f, 1, &fake_ops, &f, "x"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x202, 2, &fake_ops, &f, "x"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x0, 0x1000, &fake_ops, &f, "x"), -EEXIST);
	/* Empty and wrapping ranges. */
	assert_int_equal(bus_register(&b, 0x300, 0, &fake_ops, &f, "x"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX, 2, &fake_ops, &f, "x"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX, 1, &fake_ops, &f, "top"), 0);
	assert_int_equal(b.nr, 4);
	bus_destroy(&b);
}

static void test_lookup_and_dispatch(void **state)
{
	struct bus b;
	struct fake f = { 0 }, g = { 0 };
	uint8_t buf[4];
	uint32_t v = 0x11223344;
	(void)state;

	bus_init(&b, "test");
	for (int i = 0; i < 40; i++) /* many ranges: exercise the binary search and growth */
		assert_int_equal(bus_register(&b, 0x1000 + (uint64_t)i * 0x100, 0x10, &fake_ops,
					      i == 17 ? &g : &f, "r"), 0);
	assert_non_null(bus_lookup(&b, 0x1000 + 17 * 0x100 + 5));
	assert_null(bus_lookup(&b, 0x1000 + 17 * 0x100 + 0x10));
	assert_true(bus_write(&b, 0x1000 + 17 * 0x100 + 4, &v, 4));
	assert_int_equal(g.writes, 1);
	assert_int_equal(g.last_offset, 4);
	assert_memory_equal(g.last_write, &v, 4);
	assert_true(bus_read(&b, 0x1000 + 17 * 0x100 + 0xc, buf, 4));
	assert_int_equal(g.reads, 1);
	assert_int_equal(buf[0], 0x42);
	assert_int_equal(f.writes + f.reads, 0);
	bus_destroy(&b);
}

static void test_unclaimed(void **state)
{
	struct bus b;
	struct fake f = { 0 };
	uint8_t buf[4] = { 0 };
	(void)state;

	bus_init(&b, "test");
	assert_int_equal(bus_register(&b, 0x100, 4, &fake_ops, &f, "a"), 0);
	assert_false(bus_read(&b, 0x50, buf, 4));
	assert_memory_equal(buf, "\xff\xff\xff\xff", 4);
	/* An access straddling the end of a range belongs to nobody. */
	assert_false(bus_read(&b, 0x102, buf, 4));
	assert_false(bus_write(&b, 0x103, buf, 2));
	assert_int_equal(f.reads + f.writes, 0);
	assert_int_equal(b.unclaimed, 3);
	bus_destroy(&b);
}

static void test_unregister(void **state)
{
	struct bus b;
	struct fake f = { 0 };
	uint8_t buf[1];
	(void)state;

	bus_init(&b, "test");
	assert_int_equal(bus_register(&b, 0x100, 4, &fake_ops, &f, "a"), 0);
	assert_int_equal(bus_unregister(&b, 0x101), -ENOENT);
	assert_int_equal(bus_unregister(&b, 0x100), 0);
	assert_false(bus_read(&b, 0x100, buf, 1));
	assert_int_equal(bus_register(&b, 0x100, 4, &fake_ops, &f, "a"), 0);
	bus_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_overlap),
		cmocka_unit_test(test_lookup_and_dispatch),
		cmocka_unit_test(test_unclaimed),
		cmocka_unit_test(test_unregister),
	};
	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
