/* A minimal virtio-mmio driver for the benchmark guests: find a device, bring one queue up. */
#include "guest.h"

#define VIRTIO_MMIO_BASE 0xd1000000UL
#define VIRTIO_MMIO_SLOTS 8

static uint32_t rd(uint64_t base, uint32_t off) { return mmio_read32(base + off); }
static void wr(uint64_t base, uint32_t off, uint32_t v) { mmio_write32(base + off, v); }

uint64_t virtio_mmio_find(uint32_t device_id)
{
	for (int i = 0; i < VIRTIO_MMIO_SLOTS; i++) {
		uint64_t base = VIRTIO_MMIO_BASE + (uint64_t)i * 0x1000;
		if (rd(base, 0) == 0x74726976 && rd(base, 8) == device_id)
			return base;
	}
	return 0;
}

uint32_t virtio_mmio_start(uint64_t base, uint32_t queue, uint16_t size, const void *desc,
			   const void *avail, const void *used)
{
	wr(base, 0x70, 0);     /* reset */
	wr(base, 0x70, 1 | 2); /* ACKNOWLEDGE | DRIVER */
	wr(base, 0x14, 1);
	if (!(rd(base, 0x10) & 1))
		return 1;         /* no VERSION_1 */
	wr(base, 0x24, 1), wr(base, 0x20, 1); /* accept VERSION_1 only: plain rings, no offloads */
	wr(base, 0x24, 0), wr(base, 0x20, 0);
	wr(base, 0x70, 1 | 2 | 8);
	if (!(rd(base, 0x70) & 8))
		return 2;         /* FEATURES_OK refused */
	wr(base, 0x30, queue);
	if (rd(base, 0x34) < size)
		return 3;
	wr(base, 0x38, size);
	wr(base, 0x80, (uint32_t)(uint64_t)desc), wr(base, 0x84, 0);
	wr(base, 0x90, (uint32_t)(uint64_t)avail), wr(base, 0x94, 0);
	wr(base, 0xa0, (uint32_t)(uint64_t)used), wr(base, 0xa4, 0);
	wr(base, 0x44, 1);
	wr(base, 0x70, 1 | 2 | 8 | 4); /* DRIVER_OK */
	return 0;
}
