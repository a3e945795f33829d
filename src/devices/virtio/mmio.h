/* The virtio-mmio transport (virtio 1.2, 4.2, version 2): a virtio device as an MMIO bus device. */
#ifndef VMON_VIRTIO_MMIO_H
#define VMON_VIRTIO_MMIO_H

#include "bus/bus.h"
#include "devices/virtio/virtio.h"
#include "util/eventloop.h"

#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050 /* the doorbell register: a write of the queue index */

struct virtio_mmio;

/* What the I/O thread needs when queue q's ioeventfd fires. */
struct mmio_notify {
	struct virtio_mmio *m;
	int q;
};

/* Feature bits come in 32-bit windows 0 and 1; a selector of 2 stands for every later one. */
#define VIRTIO_MMIO_FEATURE_WINDOWS 2u

struct virtio_mmio {
	struct virtio_device *dev;
	uint64_t base;
	uint32_t device_features_sel; /* 0..VIRTIO_MMIO_FEATURE_WINDOWS */
	uint32_t driver_features_sel;
	uint32_t queue_sel;           /* 0..nr_queues, where nr_queues selects no queue */
	int notify_fd[VIRTIO_MAX_QUEUES];
	struct mmio_notify notify[VIRTIO_MAX_QUEUES];
};

extern const struct bus_device_ops virtio_mmio_ops;

/*
 * Set up the transport for `dev`: one eventfd per queue, served by the I/O thread `loop`.
 * The caller registers virtio_mmio_ops on the MMIO bus at `base` and, for each queue q, a
 * doorbell on base + VIRTIO_MMIO_QUEUE_NOTIFY (4 bytes, datamatch q) that signals
 * virtio_mmio_notify_fd(m, q). Without the doorbell the register write still works (an exit).
 */
int virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		     struct eventloop *loop) __must_check;

/* The eventfd to signal when the driver notifies queue q, or -1. */
int virtio_mmio_notify_fd(const struct virtio_mmio *m, int q);

/* Close the queue eventfds (after the doorbells are gone and the I/O thread stopped). */
void virtio_mmio_destroy(struct virtio_mmio *m);

/*
 * A whole virtio device on MMIO as a device object; model = struct virtio_mmio, set up by
 * virtio_mmio_init() (mmio_state.c). Its section holds the core, the queues, the selectors
 * and the type's part; none of the wiring.
 */
extern const struct device_ops virtio_mmio_state_ops;

#endif
