/* The virtio device core: negotiation, status transitions, interrupts, NEEDS_RESET. */
#include "devices/virtio/virtio.h"

#include <string.h>
#include <unistd.h>

#include "util/log.h"

void virtio_device_init(struct virtio_device *d, const struct virtio_device_ops *ops, void *priv,
			const struct guest_mem *mem, struct irq_line *irq, const char *id)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->ops = ops;
	d->features = ops->features;
	d->priv = priv;
	d->mem = mem;
	d->irq = irq;
	d->id = id;
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&d->vq[i], mem);
}

uint64_t virtio_device_features(const struct virtio_device *d)
{
	return d->features | VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC;
}

static void virtio_reset(struct virtio_device *d)
{
	if (d->ops->reset)
		d->ops->reset(d);
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&d->vq[i], d->mem);
	d->driver_features = 0;
	d->status = 0;
	d->isr = 0;
}

void virtio_set_status(struct virtio_device *d, uint8_t status)
{
	if (status == 0) {
		virtio_reset(d);
		return;
	}
	/* Reserved bits are not kept: the register only ever holds states a restore accepts. */
	status &= VIRTIO_STATUS_BITS;
	/* FEATURES_OK sticks only if the driver accepted a subset of what we offer, with VERSION_1. */
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t f = d->driver_features;
		if ((f & ~virtio_device_features(d)) || !(f & VIRTIO_F_VERSION_1))
			status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	bool driver_ok = (status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_DRIVER_OK);
	d->status = status | (d->status & VIRTIO_STATUS_NEEDS_RESET);
	if (!driver_ok)
		return;
	for (int i = 0; i < d->ops->nr_queues; i++) {
		d->vq[i].event_idx = d->driver_features & VIRTIO_F_EVENT_IDX;
		d->vq[i].indirect = d->driver_features & VIRTIO_F_INDIRECT_DESC;
	}
	if (d->ops->activate && d->ops->activate(d))
		virtio_device_fail(d, "device could not start");
}

void virtio_notify_used(struct virtio_device *d, int q)
{
	if (!virtq_need_interrupt(&d->vq[q]))
		return;
	d->isr |= VIRTIO_INT_VRING;
	d->stats.interrupts++;
	if (d->interrupt)
		d->interrupt(d, q);
	else
		irq_line_set(d->irq, 1);
}

void virtio_config_changed(struct virtio_device *d)
{
	d->config_generation++;
	if (d->status & VIRTIO_STATUS_DRIVER_OK) {
		d->isr |= VIRTIO_INT_CONFIG;
		d->stats.interrupts++;
		if (d->interrupt)
			d->interrupt(d, -1);
		else
			irq_line_set(d->irq, 1);
	}
}

void virtio_device_fail(struct virtio_device *d, const char *why)
{
	pr_ratelimited(LOG_WARN, "%s: %s; device needs reset", d->id, why);
	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	d->stats.errors++;
	virtio_config_changed(d);
}

bool virtio_device_live(const struct virtio_device *d)
{
	return (d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_NEEDS_RESET);
}

void virtio_queue_kicked(struct virtio_device *d, int fd, int q)
{
	uint64_t cnt;

	if (read(fd, &cnt, sizeof(cnt)) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	virtio_queue_notify(d, q);
	pthread_mutex_unlock(&d->lock);
}

void virtio_queue_notify(struct virtio_device *d, int q)
{
	if (q < 0 || q >= d->ops->nr_queues)
		return;
	d->stats.notifications++;
	if (virtio_device_live(d) && d->ops->queue_notify)
		d->ops->queue_notify(d, q);
}

void virtio_device_stats(struct virtio_device *d, struct virtio_stats *st)
{
	pthread_mutex_lock(&d->lock);
	*st = d->stats;
	if (d->ops->stats) {
		struct virtio_stats t = { 0 };

		d->ops->stats(d, &t);
		st->requests += t.requests;
		st->bytes_to_guest += t.bytes_to_guest;
		st->bytes_from_guest += t.bytes_from_guest;
		st->errors += t.errors;
		st->dropped += t.dropped;
	}
	pthread_mutex_unlock(&d->lock);
}
