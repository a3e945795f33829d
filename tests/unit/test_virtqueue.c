/* Split virtqueue logic against a fake guest memory: normal use and a hostile driver. */
#include "unit.h"

#include <string.h>

#include "devices/virtio/virtqueue.h"
#include "mem/dirty.h"

#define RAM (1 << 20)
#define QSZ 8
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DATA 0x10000

static uint8_t ram[RAM] __attribute__((aligned(4096)));
static struct guest_mem gm;
static struct virtq q;

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static int setup(void **state)
{
	(void)state;
	memset(ram, 0, sizeof(ram));
	gm_layout(&gm, RAM);
	gm.regions[0].host = ram;
	virtq_reset(&q, &gm);
	q.size = QSZ;
	q.desc_addr = DESC;
	q.avail_addr = AVAIL;
	q.used_addr = USED;
	assert_int_equal(virtq_enable(&q), 0);
	return 0;
}

static void set_desc(int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct desc d = { addr, len, flags, next };
	memcpy(ram + DESC + 16 * i, &d, 16);
}

static void make_avail(uint16_t head)
{
	uint16_t idx;
	memcpy(&idx, ram + AVAIL + 2, 2);
	memcpy(ram + AVAIL + 4 + 2 * (idx % QSZ), &head, 2);
	idx++;
	memcpy(ram + AVAIL + 2, &idx, 2);
}

static uint16_t used_idx(void)
{
	uint16_t v;
	memcpy(&v, ram + USED + 2, 2);
	return v;
}

static void test_normal_chain(void **state)
{
	struct virtq_chain c;
	char buf[128] = "";
	(void)state;

	memcpy(ram + DATA, "hello ", 6);
	memcpy(ram + DATA + 0x100, "world", 5);
	set_desc(0, DATA, 6, VIRTQ_DESC_F_NEXT, 3);
	set_desc(3, DATA + 0x100, 5, VIRTQ_DESC_F_NEXT, 5);
	set_desc(5, DATA + 0x200, 32, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(virtq_pop(&q, &c), -ENOENT);
	make_avail(0);
	assert_true(virtq_has_avail(&q));
	assert_int_equal(virtq_pop(&q, &c), 0);
	assert_int_equal(c.head, 0);
	assert_int_equal(c.nr, 3);
	assert_int_equal(c.out_len, 11);
	assert_int_equal(c.in_len, 32);
	assert_int_equal(virtq_chain_read(&q, &c, 0, buf, 11), 11);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_equal(virtq_chain_read(&q, &c, 4, buf, 4), 4);
	assert_memory_equal(buf, "o wo", 4);
	assert_int_equal(virtq_chain_write(&q, &c, 0, "OK", 2), 2);
	assert_memory_equal(ram + DATA + 0x200, "OK", 2);
	assert_int_equal(virtq_chain_write(&q, &c, 0, buf, 100), 32); /* never past the chain */
	assert_int_equal(virtq_push(&q, c.head, 2), 0);
	assert_int_equal(used_idx(), 1);
	uint32_t elem[2];
	memcpy(elem, ram + USED + 4, 8);
	assert_int_equal(elem[0], 0);
	assert_int_equal(elem[1], 2);
	assert_true(virtq_need_interrupt(&q));
	assert_int_equal(virtq_pop(&q, &c), -ENOENT);
}

static void test_indirect(void **state)
{
	struct virtq_chain c;
	struct desc table[3] = {
		{ DATA, 4, VIRTQ_DESC_F_NEXT, 2 },
		{ 0, 0, 0, 0 },
		{ DATA + 0x40, 8, VIRTQ_DESC_F_WRITE, 0 },
	};
	(void)state;

	memcpy(ram + 0x8000, table, sizeof(table));
	set_desc(1, 0x8000, sizeof(table), VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(1);
	assert_int_equal(virtq_pop(&q, &c), -EINVAL); /* not negotiated */
	setup(NULL);
	q.indirect = true;
	memcpy(ram + 0x8000, table, sizeof(table));
	set_desc(1, 0x8000, sizeof(table), VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(1);
	assert_int_equal(virtq_pop(&q, &c), 0);
	assert_int_equal(c.head, 1);
	assert_int_equal(c.nr, 2);
	assert_int_equal(c.out_len, 4);
	assert_int_equal(c.in_len, 8);
}

static void test_event_idx(void **state)
{
	struct virtq_chain c;
	uint16_t used_event;
	(void)state;

	q.event_idx = true;
	set_desc(0, DATA, 4, 0, 0);
	/* The driver wants an interrupt only once used reaches 2 (used_event = 1). */
	used_event = 1;
	memcpy(ram + AVAIL + 4 + 2 * QSZ, &used_event, 2);
	for (int i = 0; i < 3; i++)
		make_avail(0);
	assert_int_equal(virtq_pop(&q, &c), 0);
	/* avail_event tells the driver where to notify next. */
	uint16_t avail_event;
	memcpy(&avail_event, ram + USED + 4 + 8 * QSZ, 2);
	assert_int_equal(avail_event, 1);
	assert_int_equal(virtq_push(&q, 0, 0), 0);
	assert_true(virtq_need_interrupt(&q)); /* first one always signals */
	assert_int_equal(virtq_pop(&q, &c), 0);
	assert_int_equal(virtq_push(&q, 0, 0), 0);
	assert_true(virtq_need_interrupt(&q)); /* used went 1 -> 2, crossing used_event 1 */
	assert_int_equal(virtq_pop(&q, &c), 0);
	assert_int_equal(virtq_push(&q, 0, 0), 0);
	assert_false(virtq_need_interrupt(&q)); /* 2 -> 3 does not cross 1 */
	/* Without event_idx the NO_INTERRUPT flag decides. */
	q.event_idx = false;
	uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	memcpy(ram + AVAIL, &flags, 2);
	assert_false(virtq_need_interrupt(&q));
	virtq_set_notify(&q, false);
	memcpy(&flags, ram + USED, 2);
	assert_int_equal(flags, VIRTQ_USED_F_NO_NOTIFY);
}

/* Each hostile chain must fail cleanly and break the queue, never crash. */
static void expect_broken(const char *what)
{
	struct virtq_chain c;
	int r = virtq_pop(&q, &c);
	if (r != -EINVAL || !q.broken)
		fail_msg("%s: pop returned %d, broken=%d", what, r, q.broken);
	/* A broken queue serves nothing more. */
	assert_int_equal(virtq_pop(&q, &c), -ENOENT);
	assert_int_equal(virtq_push(&q, 0, 0), -EINVAL);
}

static void test_hostile(void **state)
{
	(void)state;

	set_desc(0, RAM - 8, 16, 0, 0); /* runs off the end of RAM */
	make_avail(0);
	expect_broken("past RAM");

	setup(NULL);
	set_desc(0, 0xfffffffffffffff0ULL, 0x20, 0, 0); /* address + length wraps */
	make_avail(0);
	expect_broken("wrap");

	setup(NULL);
	set_desc(0, DATA, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, DATA, 4, VIRTQ_DESC_F_NEXT, 0); /* 0 -> 1 -> 0 ... */
	make_avail(0);
	expect_broken("loop");

	setup(NULL);
	set_desc(0, DATA, 4, VIRTQ_DESC_F_NEXT, QSZ); /* next beyond the table */
	make_avail(0);
	expect_broken("next out of range");

	setup(NULL);
	make_avail(QSZ + 3); /* head beyond the table */
	expect_broken("head out of range");

	setup(NULL);
	uint16_t idx = 100; /* avail index jumps by more than the queue size */
	memcpy(ram + AVAIL + 2, &idx, 2);
	expect_broken("runaway avail");

	setup(NULL);
	set_desc(0, DATA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, DATA, 4, 0, 0); /* readable after writable */
	make_avail(0);
	expect_broken("order");

	setup(NULL);
	q.indirect = true;
	struct desc nested = { 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0 };
	memcpy(ram + 0x8000, &nested, 16);
	set_desc(0, 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken("nested indirect");

	setup(NULL);
	q.indirect = true;
	struct desc loop[2] = { { DATA, 4, VIRTQ_DESC_F_NEXT, 1 }, { DATA, 4, VIRTQ_DESC_F_NEXT, 0 } };
	memcpy(ram + 0x8000, loop, sizeof(loop));
	set_desc(0, 0x8000, sizeof(loop), VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken("indirect loop");

	setup(NULL);
	q.indirect = true;
	set_desc(0, 0x8000, 24, VIRTQ_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
	make_avail(0);
	expect_broken("indirect length");

	setup(NULL);
	q.indirect = true;
	set_desc(0, RAM - 16, 64, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken("indirect table past RAM");

	/* Zero-length descriptors are harmless: accepted, nothing copied. */
	setup(NULL);
	struct virtq_chain c;
	set_desc(0, 0xdeadbeef000ULL, 0, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, DATA, 0, VIRTQ_DESC_F_WRITE, 0);
	make_avail(0);
	assert_int_equal(virtq_pop(&q, &c), 0);
	assert_int_equal(c.out_len + c.in_len, 0);
	assert_int_equal(virtq_chain_write(&q, &c, 0, "x", 1), 0);
}

static void test_bad_rings(void **state)
{
	(void)state;
	virtq_reset(&q, &gm);
	q.size = 6; /* not a power of two */
	q.desc_addr = DESC, q.avail_addr = AVAIL, q.used_addr = USED;
	assert_int_equal(virtq_enable(&q), -EINVAL);
	q.size = QSZ;
	q.used_addr = RAM - 16; /* used ring outside RAM */
	assert_int_equal(virtq_enable(&q), -EINVAL);
	q.used_addr = USED;
	q.desc_addr = DESC + 8; /* misaligned */
	assert_int_equal(virtq_enable(&q), -EINVAL);
	q.desc_addr = DESC;
	assert_int_equal(virtq_enable(&q), 0);
	struct virtq_chain c;
	virtq_reset(&q, &gm); /* not enabled: nothing to pop */
	assert_int_equal(virtq_pop(&q, &c), -ENOENT);
}

/* The pages dirty since the last call (harvested, so cleared), as a bitmask of pages 0-63. */
static uint64_t dirty_pages(void)
{
	uint64_t bits[RAM / 4096 / 64];

	assert_int_equal(gm_dirty_harvest(&gm, 0, bits), 0);
	for (size_t w = 1; w < ARRAY_SIZE(bits); w++)
		assert_int_equal(bits[w], 0);
	return bits[0];
}

#define PG(n) (1ULL << (n))

/*
 * Every VMM write the virtqueue makes marks exactly the pages it wrote, and reads mark
 * nothing. The used ring sits at 0x3ffc so that its index (page 3) and its first element
 * (page 4) lie on different pages; the device-writable buffer spans pages 0x10 and 0x11.
 */
static void test_dirty_pages(void **state)
{
	struct virtq_chain c;
	struct iovec iov[VIRTQ_MAX_CHAIN];
	uint8_t buf[0x20] = { 0 };
	(void)state;

	virtq_reset(&q, &gm);
	q.size = QSZ, q.desc_addr = DESC, q.avail_addr = AVAIL, q.used_addr = 0x3ffc;
	q.event_idx = true;
	assert_int_equal(virtq_enable(&q), 0);
	assert_int_equal(gm_dirty_enable(&gm), 0);
	set_desc(0, 0x20000, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, 0x10ff0, 0x20, VIRTQ_DESC_F_WRITE, 0);
	make_avail(0);
	assert_int_equal(dirty_pages(), 0); /* the test's own stores are the guest's */

	assert_int_equal(virtq_pop(&q, &c), 0);
	assert_int_equal(dirty_pages(), PG(4)); /* avail_event, at 0x3ffc + 4 + 8 * QSZ */
	assert_int_equal(virtq_chain_read(&q, &c, 0, buf, 16), 16);
	assert_true(virtq_chain_iov(&q, &c, true, 0, 0x20, iov) > 0); /* mapping is not writing */
	assert_int_equal(dirty_pages(), 0);

	assert_int_equal(virtq_chain_write(&q, &c, 0, buf, 0x20), 0x20);
	assert_int_equal(dirty_pages(), PG(0x10) | PG(0x11));
	assert_int_equal(virtq_chain_write(&q, &c, 0x18, buf, 4), 4); /* 0x11008: one page */
	assert_int_equal(dirty_pages(), PG(0x11));
	virtq_chain_mark(&q, &c, 0, 0x10); /* a device that wrote through the iovecs */
	assert_int_equal(dirty_pages(), PG(0x10));

	assert_int_equal(virtq_push(&q, c.head, 0x20), 0);
	assert_int_equal(dirty_pages(), PG(3) | PG(4)); /* used idx at 0x3ffe, element at 0x4000 */
	assert_true(virtq_need_interrupt(&q)); /* reads used_event only */
	assert_int_equal(dirty_pages(), 0);
	q.event_idx = false;
	virtq_set_notify(&q, false); /* used flags at 0x3ffc */
	assert_int_equal(dirty_pages(), PG(3));
	gm_dirty_disable(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_normal_chain, setup),
		cmocka_unit_test_setup(test_indirect, setup),
		cmocka_unit_test_setup(test_event_idx, setup),
		cmocka_unit_test_setup(test_hostile, setup),
		cmocka_unit_test_setup(test_bad_rings, setup),
		cmocka_unit_test_setup(test_dirty_pages, setup),
	};
	return cmocka_run_group_tests_name("virtqueue", tests, NULL, NULL);
}
