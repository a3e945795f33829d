/*
 * virtio-blk through the virtio-mmio register file, with fake guest memory and a real image
 * file: negotiation, a read, a write, and the requests a hostile guest might send.
 */
#include "unit.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "mem/dirty.h"

#define RAM (1 << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define HDR 0x8000
#define DATA 0x9000
#define STATUS 0xa000
#define QSZ 16

static uint8_t ram[RAM] __attribute__((aligned(4096)));
static struct guest_mem gm;
static struct virtio_blk blk;
static struct virtio_device dev;
static struct virtio_mmio mmio;
static struct eventloop loop;
static int irqs;
static char img[64];

static void fake_irq(struct irq_line *l, int level) { (void)l; irqs += level; }
static struct irq_line line = { .set = fake_irq };

static uint32_t rd(uint32_t off) { uint32_t v; virtio_mmio_ops.read(&mmio, off, &v, 4); return v; }
static void wr(uint32_t off, uint32_t v) { virtio_mmio_ops.write(&mmio, off, &v, 4); }

static int setup(void **state, bool readonly)
{
	char err[128];
	(void)state;

	memset(ram, 0, sizeof(ram));
	gm_layout(&gm, RAM);
	gm.regions[0].host = ram;
	snprintf(img, sizeof(img), "/tmp/vmon-unit-blk-%d", (int)getpid());
	FILE *f = fopen(img, "wb");
	for (int i = 0; i < 64; i++) /* 64 sectors, each filled with its number */
		for (int k = 0; k < 512; k++)
			fputc(i, f);
	fclose(f);
	assert_int_equal(virtio_blk_open(&blk, img, readonly, "unit-serial", err, sizeof(err)), 0);
	virtio_device_init(&dev, &virtio_blk_ops, &blk, &gm, &line, "unit-blk");
	if (readonly)
		dev.features |= VIRTIO_BLK_F_RO;
	mmio = (struct virtio_mmio){ .dev = &dev, .base = 0 };
	irqs = 0;
	return 0;
}

static int setup_rw(void **state) { return setup(state, false); }
static int setup_ro(void **state) { return setup(state, true); }

static int teardown(void **state)
{
	(void)state;
	virtio_blk_close(&blk);
	if (loop.epfd > 0)
		eventloop_destroy(&loop);
	loop.epfd = 0;
	gm_dirty_disable(&gm);
	unlink(img);
	return 0;
}

static void negotiate(void)
{
	assert_int_equal(rd(0x000), 0x74726976);
	assert_int_equal(rd(0x004), 2);
	assert_int_equal(rd(0x008), 2);
	wr(0x070, 1 | 2);
	wr(0x014, 1);
	assert_true(rd(0x010) & 1); /* VERSION_1 */
	wr(0x024, 1), wr(0x020, 1);
	wr(0x024, 0), wr(0x020, 0);
	wr(0x070, 1 | 2 | 8);
	assert_true(rd(0x070) & 8);
	wr(0x030, 0);
	assert_true(rd(0x034) >= QSZ);
	wr(0x038, QSZ);
	wr(0x080, DESC), wr(0x090, AVAIL), wr(0x0a0, USED);
	wr(0x044, 1);
	assert_int_equal(rd(0x044), 1);
	wr(0x070, 1 | 2 | 8 | 4);
	/* Capacity in the config space: 64 sectors. */
	assert_int_equal(rd(0x100), 64);
}

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };

static uint16_t used_idx(void)
{
	return __atomic_load_n((uint16_t *)(ram + USED + 2), __ATOMIC_ACQUIRE);
}

/* With io_uring: what the I/O thread does until the device has pushed `want` entries. */
static void wait_used(uint16_t want)
{
	for (int tries = 0; blk.uring && used_idx() != want && tries < 500; tries++) {
		struct pollfd p = { .fd = blk.ring_fd, .events = POLLIN };

		if (poll(&p, 1, 10) <= 0)
			continue;
		for (int i = 0; i < loop.nr; i++)
			if (loop.sources[i].fd == blk.ring_fd)
				loop.sources[i].fn(loop.sources[i].opaque, POLLIN);
	}
	assert_int_equal(used_idx(), want);
}

/* Queue a three-descriptor request with its data at `data`, run the device to completion. */
static uint8_t request_at(uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
			  bool data_writable)
{
	struct { uint32_t type, reserved; uint64_t sector; } hdr = { type, 0, sector };
	struct desc d[3] = {
		{ HDR, 16, 1, 1 },
		{ data, len, (uint16_t)(1 | (data_writable ? 2 : 0)), 2 },
		{ STATUS, 1, 2, 0 },
	};
	uint16_t idx, before = used_idx();

	memcpy(ram + HDR, &hdr, sizeof(hdr));
	memcpy(ram + DESC, d, sizeof(d));
	memcpy(&idx, ram + AVAIL + 2, 2);
	uint16_t head = 0;
	memcpy(ram + AVAIL + 4 + 2 * (idx % QSZ), &head, 2);
	idx++;
	memcpy(ram + AVAIL + 2, &idx, 2);
	ram[STATUS] = 0xee;
	pthread_mutex_lock(&dev.lock);
	dev.ops->queue_notify(&dev, 0); /* what the I/O thread does on the ioeventfd */
	pthread_mutex_unlock(&dev.lock);
	wait_used((uint16_t)(before + 1));
	return ram[STATUS];
}

/* Queue a request with its data at DATA; returns the status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t len, bool data_writable)
{
	return request_at(type, sector, DATA, len, data_writable);
}

static void test_read_write(void **state)
{
	(void)state;
	negotiate();
	assert_int_equal(request(0, 5, 1024, true), 0);
	assert_int_equal(ram[DATA], 5);
	assert_int_equal(ram[DATA + 1023], 6);
	assert_true(irqs > 0);
	uint16_t used_idx;
	memcpy(&used_idx, ram + USED + 2, 2);
	assert_int_equal(used_idx, 1);
	memset(ram + DATA, 0xab, 512);
	assert_int_equal(request(1, 10, 512, false), 0);
	int fd = open(img, O_RDONLY);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, 10 * 512), 1);
	close(fd);
	assert_int_equal(b, 0xab);
	assert_int_equal(request(4, 0, 0, true) , 0); /* flush */
	assert_int_equal(request(8, 0, 20, true), 0); /* GET_ID */
	assert_memory_equal(ram + DATA, "unit-serial", 11);
}

/* DISCARD / WRITE_ZEROES: the segment follows the header in the readable part. */
static uint8_t zero_request(uint32_t type, uint64_t sector, uint32_t n, uint32_t flags)
{
	struct { uint32_t type, reserved; uint64_t sector; } hdr = { type, 0, 0 };
	struct { uint64_t sector; uint32_t num, flags; } seg = { sector, n, flags };
	struct desc d[3] = { { HDR, 16, 1, 1 }, { DATA, 16, 1, 2 }, { STATUS, 1, 2, 0 } };
	uint16_t idx, head = 0;

	memcpy(ram + HDR, &hdr, sizeof(hdr));
	memcpy(ram + DATA, &seg, sizeof(seg));
	memcpy(ram + DESC, d, sizeof(d));
	memcpy(&idx, ram + AVAIL + 2, 2);
	memcpy(ram + AVAIL + 4 + 2 * (idx % QSZ), &head, 2);
	idx++;
	memcpy(ram + AVAIL + 2, &idx, 2);
	ram[STATUS] = 0xee;
	pthread_mutex_lock(&dev.lock);
	dev.ops->queue_notify(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	return ram[STATUS];
}

static void test_discard_write_zeroes(void **state)
{
	uint8_t b[512];
	(void)state;

	negotiate();
	assert_int_equal(zero_request(13, 20, 2, 0), 0); /* write zeroes, sectors 20-21 */
	int fd = open(img, O_RDONLY);
	assert_int_equal(pread(fd, b, 512, 21 * 512), 512);
	for (int i = 0; i < 512; i++)
		assert_int_equal(b[i], 0);
	assert_int_equal(pread(fd, b, 1, 22 * 512), 1);
	assert_int_equal(b[0], 22); /* the neighbour is untouched */
	assert_int_equal(zero_request(11, 30, 4, 0), 0); /* discard: a hint, must succeed */
	assert_int_equal(zero_request(13, 62, 4, 0), 1); /* past the end: IOERR */
	close(fd);
}

static void test_bad_requests(void **state)
{
	(void)state;
	negotiate();
	assert_int_equal(request(0, 63, 1024, true), 1);        /* runs past the end: IOERR */
	assert_int_equal(request(0, UINT64_MAX - 1, 512, true), 1); /* sector wraps */
	assert_int_equal(request(0, 0, 100, true), 1);          /* not whole sectors */
	assert_int_equal(request(99, 0, 512, true), 2);         /* unknown type: UNSUPP */
	assert_false(dev.status & VIRTIO_STATUS_NEEDS_RESET);
	/* A chain without a status byte breaks the device, not vmon. */
	struct desc d = { HDR, 16, 0, 0 };
	memcpy(ram + DESC, &d, sizeof(d));
	uint16_t idx;
	memcpy(&idx, ram + AVAIL + 2, 2);
	idx++;
	memcpy(ram + AVAIL + 2, &idx, 2);
	pthread_mutex_lock(&dev.lock);
	dev.ops->queue_notify(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	assert_true(dev.status & VIRTIO_STATUS_NEEDS_RESET);
	/* Reset brings it back. */
	wr(0x070, 0);
	assert_int_equal(rd(0x070), 0);
	memset(ram + AVAIL, 0, 64);
	memset(ram + USED, 0, 256);
	negotiate();
	assert_int_equal(request(0, 1, 512, true), 0);
}

static void test_readonly(void **state)
{
	(void)state;
	negotiate();
	wr(0x014, 0);
	assert_true(rd(0x010) & (1u << 5)); /* VIRTIO_BLK_F_RO offered */
	assert_int_equal(request(1, 0, 512, false), 1);
	assert_int_equal(request(0, 0, 512, true), 0);
}

static void test_bad_queue_setup(void **state)
{
	(void)state;
	wr(0x070, 1 | 2);
	/* Features the device never offered: FEATURES_OK does not stick. */
	wr(0x024, 0), wr(0x020, 0xffffffff);
	wr(0x024, 1), wr(0x020, 1);
	wr(0x070, 1 | 2 | 8);
	assert_false(rd(0x070) & 8);
	/* Rings outside RAM: the queue does not go live; the device asks for a reset. */
	wr(0x030, 0), wr(0x038, QSZ);
	wr(0x080, RAM - 16), wr(0x090, AVAIL), wr(0x0a0, USED);
	wr(0x044, 1);
	assert_int_equal(rd(0x044), 0);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	/* Out-of-range queue index and config offsets are ignored. */
	wr(0x030, 7);
	assert_int_equal(rd(0x034), 0);
	uint8_t big[8];
	virtio_mmio_ops.read(&mmio, 0x100 + 0x1000 - 0x100 - 4, big, 8);
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
#define DATA2 0xbe00 /* 1 KiB from here spans pages 0xb and 0xc */

/*
 * The device marks exactly what it writes: the data it reads from disk, the status byte
 * (page 0xa) and the used ring (page 3). What the guest wrote (header, descriptors, avail
 * ring) is the vCPUs' to log, and a buffer the device only reads stays clean.
 */
static void check_dirty(void)
{
	negotiate();
	assert_int_equal(gm_dirty_enable(&gm), 0);
	assert_int_equal(dirty_pages(), 0);
	assert_int_equal(request_at(0, 5, DATA2, 1024, true), 0);   /* read */
	assert_int_equal(ram[DATA2 + 1023], 6);
	assert_int_equal(dirty_pages(), PG(3) | PG(0xa) | PG(0xb) | PG(0xc));
	assert_int_equal(request_at(1, 7, DATA2, 1024, false), 0);  /* write */
	assert_int_equal(dirty_pages(), PG(3) | PG(0xa));
	assert_int_equal(request_at(8, 0, 0xcf00, 20, true), 0);    /* GET_ID: 20 bytes on 0xc */
	assert_memory_equal(ram + 0xcf00, "unit-serial", 11);
	assert_int_equal(dirty_pages(), PG(3) | PG(0xa) | PG(0xc));
	assert_int_equal(request_at(0, 63, DATA2, 1024, true), 1);  /* refused: data untouched */
	assert_int_equal(dirty_pages(), PG(3) | PG(0xa));
}

static void test_dirty_sync(void **state)
{
	(void)state;
	check_dirty();
}

/* The same with io_uring: the data lands after submission, so the completion marks it. */
static void test_dirty_uring(void **state)
{
	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	if (!virtio_blk_use_uring(&blk, &dev, &loop))
		skip(); /* no io_uring on this host: the synchronous test covers the rest */
	check_dirty();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_write, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_discard_write_zeroes, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_bad_queue_setup, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_sync, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_uring, setup_rw, teardown),
	};
	return cmocka_run_group_tests_name("virtio_blk", tests, NULL, NULL);
}
