/* The virtio-mmio transport (virtio 1.2, 4.2, version 2): a virtio device as an MMIO bus device. */
#ifndef VMON_VIRTIO_MMIO_H
#define VMON_VIRTIO_MMIO_H

#include "bus/bus.h"
#include "devices/virtio/virtio.h"
#include "util/eventloop.h"

#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_MMIO_BASE 0xd1000000ULL /* device i at BASE + i * SIZE */

struct virtio_mmio;

/* What the I/O thread needs when queue q's ioeventfd fires. */
struct mmio_notify {
	struct virtio_mmio *m;
	int q;
};

struct virtio_mmio {
	struct virtio_device *dev;
	uint64_t base;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	int notify_fd[VIRTIO_MAX_QUEUES];
	struct mmio_notify notify[VIRTIO_MAX_QUEUES];
};

extern const struct bus_device_ops virtio_mmio_ops;

/*
 * Set up the transport at `base` for `dev`: one ioeventfd per queue on QueueNotify, served
 * by the I/O thread. The caller registers virtio_mmio_ops on the MMIO bus at `base`.
 */
int virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		     struct eventloop *loop, int vm_fd) __must_check;

#endif
