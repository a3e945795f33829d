/* virtio core save/restore: negotiation, status, interrupt status and each queue's rings. */
#include "devices/virtio/virtio.h"

#include <errno.h>
#include <unistd.h>

#include "snapshot/format.h"
#include "util/log.h"

/*
 * The core's part of a virtio device's section (the transports' state_version covers it):
 *   u32 device id, u64 features offered, u64 features the driver wrote, u8 status,
 *   u32 interrupt status, u32 config generation,
 *   then for each of the type's queues: u16 size, u64 descriptor, avail and used ring
 *   addresses, u8 ready, broken, event_idx, indirect, u16 last_avail, used_idx and
 *   signalled_used, u8 signalled_valid (37 bytes).
 * The device id and the offered features are no state of their own: they let a restore
 * refuse a section saved from a device built differently (another type, a read-only disk,
 * a network backend without offloads), whose driver negotiated against something else.
 */

#define VIRTIO_INT_BITS (VIRTIO_INT_VRING | VIRTIO_INT_CONFIG)

int virtio_state_refuse(const struct virtio_device *d, const char *why)
{
	pr_ratelimited(LOG_WARN, "%s: snapshot state refused: %s", d->id, why);
	return -EINVAL;
}

static void virtq_state_save(const struct virtq *q, struct snap_buf *out)
{
	snap_put_u16(out, q->size);
	snap_put_u64(out, q->desc_addr);
	snap_put_u64(out, q->avail_addr);
	snap_put_u64(out, q->used_addr);
	snap_put_u8(out, q->ready);
	snap_put_u8(out, q->broken);
	snap_put_u8(out, q->event_idx);
	snap_put_u8(out, q->indirect);
	snap_put_u16(out, q->last_avail);
	snap_put_u16(out, q->used_idx);
	snap_put_u16(out, q->signalled_used);
	snap_put_u8(out, q->signalled_valid);
}

void virtio_state_save(struct virtio_device *d, struct snap_buf *out)
{
	snap_put_u32(out, d->ops->device_id);
	snap_put_u64(out, virtio_device_features(d));
	snap_put_u64(out, d->driver_features);
	snap_put_u8(out, d->status);
	snap_put_u32(out, d->isr);
	snap_put_u32(out, d->config_generation);
	for (int i = 0; i < d->ops->nr_queues; i++)
		virtq_state_save(&d->vq[i], out);
}

/* A queue as saved, over this device's guest memory. */
static void virtq_state_read(const struct virtio_device *d, struct snap_rd *in, struct virtq *q)
{
	virtq_reset(q, d->mem);
	q->size = snap_get_u16(in);
	q->desc_addr = snap_get_u64(in);
	q->avail_addr = snap_get_u64(in);
	q->used_addr = snap_get_u64(in);
	q->ready = snap_get_bool(in);
	q->broken = snap_get_bool(in);
	q->event_idx = snap_get_bool(in);
	q->indirect = snap_get_bool(in);
	q->last_avail = snap_get_u16(in);
	q->used_idx = snap_get_u16(in);
	q->signalled_used = snap_get_u16(in);
	q->signalled_valid = snap_get_bool(in);
	if (q->broken)
		q->why = "broken before the snapshot";
}

/*
 * Could the queue be in this state? The driver can only write a size up to queue_max. A
 * ready queue went through virtq_enable(), so it passes the same check, and it has no more
 * chains taken and not yet returned than its ring holds. A queue breaks only on the way to
 * NEEDS_RESET, which a reset (the only way out) clears together with the queue.
 */
static const char *virtq_state_check(const struct virtio_device *d, const struct virtq *q,
				     uint8_t status)
{
	if (q->size > d->ops->queue_max)
		return "a queue is larger than the device allows";
	if (q->broken && !(status & VIRTIO_STATUS_NEEDS_RESET))
		return "a queue is broken but the device does not need a reset";
	if (!q->ready)
		return NULL;
	const char *why = virtq_check(q);
	if (why)
		return why;
	if ((uint16_t)(q->last_avail - q->used_idx) > q->size)
		return "a queue has more chains in flight than its ring holds";
	return NULL;
}

/*
 * FEATURES_OK sticks only on a subset of the offered features with VERSION_1, and the
 * features cannot change while it is set (virtio_set_status()). Before that, the driver's
 * features are only what it wrote; nothing relies on them yet, so any value is a state.
 */
static const char *virtio_core_check(const struct virtio_device *d, const struct virtio_saved *s)
{
	uint64_t offered = virtio_device_features(d);

	if (s->status & ~VIRTIO_STATUS_BITS)
		return "reserved device status bits are set";
	if ((s->status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((s->driver_features & ~offered) || !(s->driver_features & VIRTIO_F_VERSION_1)))
		return "the driver accepted features the device does not offer";
	if (s->isr & ~VIRTIO_INT_BITS)
		return "unknown interrupt status bits are set";
	for (int i = 0; i < d->ops->nr_queues; i++) {
		const char *why = virtq_state_check(d, &s->vq[i], s->status);
		if (why)
			return why;
	}
	return NULL;
}

int virtio_state_read(struct virtio_device *d, struct snap_rd *in, struct virtio_saved *s)
{
	uint32_t device_id = snap_get_u32(in);
	uint64_t offered = snap_get_u64(in);
	const char *why;

	s->driver_features = snap_get_u64(in);
	s->status = snap_get_u8(in);
	s->isr = snap_get_u32(in);
	s->config_generation = snap_get_u32(in);
	for (int i = 0; i < d->ops->nr_queues; i++)
		virtq_state_read(d, in, &s->vq[i]);
	if (in->error)
		return -EINVAL;
	if (device_id != d->ops->device_id)
		return virtio_state_refuse(d, "it was saved from another type of virtio device");
	if (offered != virtio_device_features(d))
		return virtio_state_refuse(d, "the saved device offered other features");
	why = virtio_core_check(d, s);
	return why ? virtio_state_refuse(d, why) : 0;
}

void virtio_state_load(struct virtio_device *d, const struct virtio_saved *s)
{
	d->driver_features = s->driver_features;
	d->status = s->status;
	d->isr = s->isr;
	d->config_generation = s->config_generation;
	/* Queues past the type's count were never touched: they stay in their reset state. */
	for (int i = 0; i < d->ops->nr_queues; i++)
		d->vq[i] = s->vq[i];
}

int virtio_type_state_save(struct virtio_device *d, struct snap_buf *out)
{
	const struct virtio_device_ops *ops = d->ops;

	snap_put_u32(out, ops->save ? ops->state_version : 0);
	return ops->save ? ops->save(d, out) : 0;
}

/* The version the type's part starts with: 0 for a type without state, else one it reads. */
static int virtio_type_version(const struct virtio_device *d, struct snap_rd *in, uint32_t *v)
{
	*v = snap_get_u32(in);
	if (in->error)
		return -EINVAL;
	if (!d->ops->restore)
		return *v == 0 ? 0 : -EINVAL;
	return *v >= 1 && *v <= d->ops->state_version ? 0 : -EINVAL;
}

int virtio_type_state_check(struct virtio_device *d, struct snap_rd *in)
{
	uint32_t v;
	int ret = virtio_type_version(d, in, &v);

	if (!ret && d->ops->restore)
		ret = d->ops->restore(d, in, v, false);
	return ret || in->error ? -EINVAL : 0;
}

void virtio_type_state_load(struct virtio_device *d, struct snap_rd *in)
{
	uint32_t v;

	/* The same bytes passed virtio_type_state_check(): neither step can fail now. */
	if (virtio_type_version(d, in, &v) == 0 && d->ops->restore)
		d->ops->restore(d, in, v, true);
}

/*
 * A doorbell rung just before the snapshot may still sit unread in its eventfd, which the
 * fresh device does not have: kick every ready queue once, as the guest did. The I/O thread
 * handles the kicks when it runs; a queue with nothing new available ignores its kick, and
 * what was processed before the snapshot lies behind last_avail, so nothing is replayed.
 */
void virtio_state_kick(struct virtio_device *d, const int *notify_fd)
{
	const uint64_t one = 1;

	for (int q = 0; q < d->ops->nr_queues; q++)
		if (d->vq[q].ready && notify_fd[q] >= 0 &&
		    write(notify_fd[q], &one, sizeof(one)) < 0)
			pr_warn("%s: cannot kick queue %d after the restore", d->id, q);
}
