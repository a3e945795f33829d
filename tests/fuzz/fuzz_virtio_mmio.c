/*
 * A guest driving virtio devices through the virtio-mmio register file: any sequence of
 * register reads and writes (negotiation, queue setup, notifications before or after
 * DRIVER_OK, config-space accesses of any offset and size) with guest RAM from the input.
 * Devices: virtio-blk (sync engine, on a memfd), virtio-rng, virtio-console.
 */
#include "fuzz.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/rng.h"

static void fake_irq(struct irq_line *l, int level) { (void)l; (void)level; }
static struct irq_line line = { .set = fake_irq };
static void sink(void *o, const uint8_t *b, size_t n) { (void)o; (void)b; (void)n; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int disk = -1;
	static struct virtio_blk blk;
	static struct virtio_rng rng;
	static struct virtio_console con;
	struct guest_mem *gm = fuzz_guest_mem();
	struct fuzz_in in = { data, size };
	struct virtio_device dev;
	struct virtio_mmio mmio;
	char err[128], path[64];

	if (disk < 0) {
		disk = memfd_create("fuzz-disk", 0);
		if (ftruncate(disk, 64 * 512))
			abort();
	}
	uint8_t which = (uint8_t)fuzz_take(&in, 1) % 3;
	if (which == 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", disk);
		if (virtio_blk_open(&blk, path, false, "fuzz", err, sizeof(err)))
			abort();
		virtio_device_init(&dev, &virtio_blk_ops, &blk, gm, &line, "fuzz-blk");
	} else if (which == 1) {
		memset(&rng, 0, sizeof(rng));
		virtio_device_init(&dev, &virtio_rng_ops, &rng, gm, &line, "fuzz-rng");
	} else {
		memset(&con, 0, sizeof(con));
		con.tx = sink;
		virtio_device_init(&dev, &virtio_console_ops, &con, gm, &line, "fuzz-console");
	}
	mmio = (struct virtio_mmio){ .dev = &dev, .base = 0 };
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
