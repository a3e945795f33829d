/*
 * virtio-net, -rng and -console mark exactly the guest pages they write: what arrived in a
 * receive buffer (not the whole buffer), the entropy, the console input, the used ring.
 * (virtio-blk's own test covers the disk; test_virtqueue the ring writes one by one.)
 */
#include "unit.h"

#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "mem/dirty.h"

#define RAM (1 << 20)
#define PG(n) (1ULL << (n))

static uint8_t ram[RAM] __attribute__((aligned(4096)));
static struct guest_mem gm;
static struct virtio_device dev;
static struct eventloop loop;

static void fake_irq(struct irq_line *l, int level) { (void)l; (void)level; }
static struct irq_line line = { .set = fake_irq };

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };

/* Queue q's rings live on pages 1 + 3q (descriptors), 2 + 3q (avail), 3 + 3q (used). */
static uint64_t ring_page(int q, int which) { return (uint64_t)(1 + 3 * q + which) * 4096; }

static int setup(void **state)
{
	(void)state;
	memset(ram, 0, sizeof(ram));
	gm_layout(&gm, RAM);
	gm.regions[0].host = ram;
	assert_int_equal(eventloop_init(&loop), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gm_dirty_disable(&gm);
	eventloop_destroy(&loop);
	return 0;
}

/* The driver's side of bring-up, minus the transport: rings, features, DRIVER_OK. */
static void go_live(void)
{
	for (int q = 0; q < dev.ops->nr_queues; q++) {
		dev.vq[q].size = 8;
		dev.vq[q].desc_addr = ring_page(q, 0);
		dev.vq[q].avail_addr = ring_page(q, 1);
		dev.vq[q].used_addr = ring_page(q, 2);
		assert_int_equal(virtq_enable(&dev.vq[q]), 0);
	}
	dev.driver_features = VIRTIO_F_VERSION_1;
	virtio_set_status(&dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_device_live(&dev));
	assert_int_equal(gm_dirty_enable(&gm), 0);
}

/* Make one single-descriptor chain available on queue q. */
static void offer(int q, uint64_t addr, uint32_t len, bool writable)
{
	struct desc d = { addr, len, writable ? 2 : 0, 0 };
	uint8_t *avail = ram + ring_page(q, 1);
	uint16_t idx, head = 0;

	memcpy(ram + ring_page(q, 0), &d, sizeof(d));
	memcpy(&idx, avail + 2, 2);
	memcpy(avail + 4 + 2 * (idx % 8), &head, 2);
	idx++;
	memcpy(avail + 2, &idx, 2);
}

static void notify(int q)
{
	pthread_mutex_lock(&dev.lock);
	dev.ops->queue_notify(&dev, q);
	pthread_mutex_unlock(&dev.lock);
}

static uint16_t used_idx(int q)
{
	uint16_t v;

	memcpy(&v, ram + ring_page(q, 2) + 2, 2);
	return v;
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

/* A backend with one frame of `frame_len` bytes (vnet header included) waiting. */
static size_t frame_len;

static ssize_t fake_recv(struct net_backend *be, const struct iovec *iov, int n)
{
	size_t done = 0;

	(void)be;
	if (!frame_len)
		return -EAGAIN;
	for (int i = 0; i < n && done < frame_len; i++) {
		size_t k = MIN(iov[i].iov_len, frame_len - done);
		memset(iov[i].iov_base, 0x5a, k);
		done += k;
	}
	frame_len = 0;
	return (ssize_t)done;
}

static ssize_t fake_send(struct net_backend *be, const struct iovec *iov, int n)
{
	(void)be, (void)iov;
	return n;
}

static void fake_offload(struct net_backend *be, unsigned f) { (void)be, (void)f; }
static void fake_close(struct net_backend *be) { (void)be; }

static void test_net(void **state)
{
	struct net_backend be = { .kind = "unit", .recv = fake_recv, .send = fake_send,
				  .set_offload = fake_offload, .close = fake_close };
	struct virtio_net net = { .be = &be };
	(void)state;

	be.rx_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(be.rx_fd >= 0);
	virtio_device_init(&dev, &virtio_net_ops, &net, &gm, &line, "unit-net");
	assert_int_equal(virtio_net_attach(&net, &dev, &loop, NULL, NULL), 0);
	go_live();

	/* A 100-byte frame into a three-page buffer: only its first page was written. */
	frame_len = 100;
	offer(0, 0x10000, 3 * 4096, true);
	notify(0);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(dirty_pages(), PG(3) | PG(0x10));
	/* 5000 bytes: two pages. */
	frame_len = 5000;
	offer(0, 0x10000, 3 * 4096, true);
	notify(0);
	assert_int_equal(used_idx(0), 2);
	assert_int_equal(dirty_pages(), PG(3) | PG(0x10) | PG(0x11));
	/* Sending reads the frame: only the transmit queue's used ring is written. */
	offer(1, 0x20000, 200, false);
	notify(1);
	assert_int_equal(used_idx(1), 1);
	assert_int_equal(dirty_pages(), PG(6));
	virtio_net_close(&net);
	close(be.rx_fd);
}

static void test_rng(void **state)
{
	struct virtio_rng rng;
	(void)state;

	virtio_device_init(&dev, &virtio_rng_ops, &rng, &gm, &line, "unit-rng");
	assert_int_equal(virtio_rng_init(&rng, &dev, &loop, NULL), 0);
	go_live();
	offer(0, 0x10ff0, 0x20, true);
	notify(0);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(dirty_pages(), PG(3) | PG(0x10) | PG(0x11));
	throttle_close(&rng.throttle);
}

static void test_console(void **state)
{
	static struct virtio_console con;
	(void)state;

	memset(&con, 0, sizeof(con));
	virtio_device_init(&dev, &virtio_console_ops, &con, &gm, &line, "unit-console");
	go_live();
	offer(0, 0x11ffe, 64, true);
	assert_int_equal(virtio_console_receive(&dev, (const uint8_t *)"hi!", 3), 3);
	assert_int_equal(used_idx(0), 1);
	assert_memory_equal(ram + 0x11ffe, "hi!", 3);
	assert_int_equal(dirty_pages(), PG(3) | PG(0x11) | PG(0x12));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_net, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rng, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console, setup, teardown),
	};
	return cmocka_run_group_tests_name("virtio_dirty", tests, NULL, NULL);
}
