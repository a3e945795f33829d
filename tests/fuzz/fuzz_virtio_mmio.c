/*
 * A guest driving virtio devices through the virtio-mmio register file: any sequence of
 * register reads and writes (negotiation, queue setup, notifications before or after
 * DRIVER_OK, config-space accesses of any offset and size) with guest RAM from the input.
 * Devices: virtio-blk (sync engine, on a memfd), virtio-rng, virtio-console, virtio-net (a
 * fake backend that always has a frame for the guest and swallows what it sends).
 */
#include "fuzz.h"

#include <stdio.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "util/eventloop.h"
#include "devices/virtio/rng.h"

static void fake_irq(struct irq_line *l, int level) { (void)l; (void)level; }
static struct irq_line line = { .set = fake_irq };
static void sink(void *o, const uint8_t *b, size_t n) { (void)o; (void)b; (void)n; }

static ssize_t fake_recv(struct net_backend *be, const struct iovec *iov, int n)
{
	static unsigned calls;
	size_t len = 0;
	(void)be;
	if (++calls % 3 == 0)
		return -EAGAIN;
	for (int i = 0; i < n && len < 1514; i++) {
		size_t k = iov[i].iov_len < 1514 - len ? iov[i].iov_len : 1514 - len;
		memset(iov[i].iov_base, 0x5a, k);
		len += k;
	}
	return (ssize_t)len;
}
static ssize_t fake_send(struct net_backend *be, const struct iovec *iov, int n)
{
	(void)be, (void)iov;
	return n;
}
static void fake_offload(struct net_backend *be, unsigned f) { (void)be, (void)f; }
static void fake_close(struct net_backend *be) { (void)be; }

/* The net device and its event loop (never started) live across inputs: sources are finite. */
static struct virtio_net *fuzz_net(struct virtio_device *dev)
{
	static struct virtio_net net;
	static struct eventloop loop;
	static struct net_backend be = { .kind = "fuzz", .recv = fake_recv, .send = fake_send,
					 .set_offload = fake_offload, .close = fake_close };
	static bool ready;

	if (!ready) {
		be.rx_fd = eventfd(0, 0);
		if (eventloop_init(&loop) || be.rx_fd < 0)
			abort();
		net.be = &be;
		if (virtio_net_attach(&net, dev, &loop, NULL, NULL))
			abort();
		ready = true;
	}
	return &net;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int disk = -1;
	static struct virtio_blk blk;
	static struct virtio_rng rng;
	static struct virtio_console con;
	static struct virtio_device net_dev;
	struct guest_mem *gm = fuzz_guest_mem();
	struct fuzz_in in = { data, size };
	struct virtio_device blk_dev, *d = &blk_dev;
	struct virtio_mmio mmio;
	char err[128], path[64];

	if (disk < 0) {
		disk = memfd_create("fuzz-disk", 0);
		if (ftruncate(disk, 64 * 512))
			abort();
	}
	uint8_t which = (uint8_t)fuzz_take(&in, 1) % 4;
	if (which == 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", disk);
		if (virtio_blk_open(&blk, path, false, "fuzz", err, sizeof(err)))
			abort();
		virtio_device_init(d, &virtio_blk_ops, &blk, gm, &line, "fuzz-blk");
	} else if (which == 1) {
		memset(&rng, 0, sizeof(rng));
		virtio_device_init(d, &virtio_rng_ops, &rng, gm, &line, "fuzz-rng");
	} else if (which == 2) {
		memset(&con, 0, sizeof(con));
		con.tx = sink;
		virtio_device_init(d, &virtio_console_ops, &con, gm, &line, "fuzz-console");
	} else {
		d = &net_dev;
		virtio_device_init(d, &virtio_net_ops, NULL, gm, &line, "fuzz-net");
		d->priv = fuzz_net(d);
	}
	mmio = (struct virtio_mmio){ .dev = d, .base = 0 };
	/* Guest RAM first (64 KiB at most), then register accesses until the input ends. */
	size_t ram = fuzz_take(&in, 2);
	ram = ram < in.n ? ram : in.n;
	memcpy(gm->regions[0].host, in.p, ram);
	in.p += ram, in.n -= ram;
	while (in.n >= 3) {
		uint8_t op = (uint8_t)fuzz_take(&in, 1);
		uint32_t off = (uint32_t)fuzz_take(&in, 2) & 0x1ff;
		uint32_t len = 1u << (op >> 6); /* 1, 2, 4 or 8 bytes */
		uint64_t v = fuzz_take(&in, op & 1 ? 4 : 0);
		if (op & 1)
			virtio_mmio_ops.write(&mmio, off, &v, len);
		else
			virtio_mmio_ops.read(&mmio, off, &v, len);
	}
	if (which == 0)
		virtio_blk_close(&blk);
	return 0;
}
