/* virtio-mmio save/restore: a whole virtio device on MMIO, its core, queues, selectors and type. */
#include "devices/virtio/mmio.h"

#include <errno.h>

#include "devices/device.h"

/*
 * Version 1: the core and its queues (virtio_state.c), then u32 device_features_sel,
 * driver_features_sel and queue_sel, then the type's part (u32 version, its bytes).
 * Nothing of the wiring: the base, the line and the queue eventfds are the fresh device's.
 */
#define VIRTIO_MMIO_STATE_VERSION 1

struct mmio_saved {
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
};

static void virtio_mmio_quiesce(struct device *dev)
{
	struct virtio_mmio *m = dev->model;

	if (m->dev->ops->quiesce)
		m->dev->ops->quiesce(m->dev);
}

static int virtio_mmio_save(struct device *dev, struct snap_buf *out)
{
	struct virtio_mmio *m = dev->model;
	struct virtio_device *d = m->dev;
	int ret;

	pthread_mutex_lock(&d->lock);
	virtio_state_save(d, out);
	snap_put_u32(out, m->device_features_sel);
	snap_put_u32(out, m->driver_features_sel);
	snap_put_u32(out, m->queue_sel);
	ret = virtio_type_state_save(d, out);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* The selectors as mmio_reg_write() keeps them (clamped to what behaves differently). */
static int mmio_read_saved(const struct virtio_mmio *m, struct snap_rd *in, struct mmio_saved *s)
{
	s->device_features_sel = snap_get_u32(in);
	s->driver_features_sel = snap_get_u32(in);
	s->queue_sel = snap_get_u32(in);
	if (in->error)
		return -EINVAL;
	if (s->device_features_sel > VIRTIO_MMIO_FEATURE_WINDOWS ||
	    s->driver_features_sel > VIRTIO_MMIO_FEATURE_WINDOWS ||
	    s->queue_sel > (uint32_t)m->dev->ops->nr_queues)
		return virtio_state_refuse(m->dev, "a selector is out of range");
	return 0;
}

/* Read and check every part, then load them all: a refused section changes nothing. */
static int virtio_mmio_restore_locked(struct virtio_mmio *m, struct snap_rd *in)
{
	struct virtio_device *d = m->dev;
	struct virtio_saved s;
	struct mmio_saved ms;
	struct snap_rd type_part;
	int ret;

	ret = virtio_state_read(d, in, &s);
	if (!ret)
		ret = mmio_read_saved(m, in, &ms);
	type_part = *in;
	if (!ret)
		ret = virtio_type_state_check(d, in);
	if (ret)
		return ret;
	virtio_state_load(d, &s);
	m->device_features_sel = ms.device_features_sel;
	m->driver_features_sel = ms.driver_features_sel;
	m->queue_sel = ms.queue_sel;
	virtio_type_state_load(d, &type_part);
	/*
	 * The line is not raised again: it is an edge, and the edge that set the interrupt
	 * status was delivered before the snapshot (the interrupt controller's state holds it).
	 */
	return 0;
}

static int virtio_mmio_restore(struct device *dev, struct snap_rd *in, uint32_t version)
{
	struct virtio_mmio *m = dev->model;
	int ret;

	(void)version; /* only version 1 exists */
	pthread_mutex_lock(&m->dev->lock);
	ret = virtio_mmio_restore_locked(m, in);
	pthread_mutex_unlock(&m->dev->lock);
	return ret;
}

static int virtio_mmio_finish_restore(struct device *dev)
{
	struct virtio_mmio *m = dev->model;

	virtio_state_kick(m->dev, m->notify_fd);
	return 0;
}

const struct device_ops virtio_mmio_state_ops = {
	.kind = "virtio-mmio",
	.state_version = VIRTIO_MMIO_STATE_VERSION,
	.quiesce = virtio_mmio_quiesce,
	.save = virtio_mmio_save,
	.restore = virtio_mmio_restore,
	.finish_restore = virtio_mmio_finish_restore,
};
