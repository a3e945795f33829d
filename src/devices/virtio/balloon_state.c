/* virtio-balloon save/restore: target, the guest's count, the stats, the held stats buffer. */
#include "devices/virtio/balloon.h"

#include <errno.h>

#include "snapshot/format.h"

/*
 * Version 1: u32 num_pages, u32 actual, u32 polling interval, u32 valid-stats mask, the
 * BALLOON_NR_STATS u64 values, u8 held, u16 held head. The features (stats queue, deflate
 * on OOM) come from the configuration, which the core checks. Version 2 appends u8 free page
 * reporting, which must match the device's (version 1: off); the reporting queue itself is
 * the core's.
 */

int virtio_balloon_save(struct virtio_device *d, struct snap_buf *out)
{
	const struct virtio_balloon *b = d->priv;

	snap_put_u32(out, b->num_pages);
	snap_put_u32(out, b->actual);
	snap_put_u32(out, b->interval_s);
	snap_put_u32(out, b->stats.valid);
	for (int i = 0; i < BALLOON_NR_STATS; i++)
		snap_put_u64(out, b->stats.val[i]);
	snap_put_u8(out, b->held);
	snap_put_u16(out, b->held_head);
	snap_put_u8(out, !!(d->features & VIRTIO_BALLOON_F_PAGE_REPORTING));
	return 0;
}

int virtio_balloon_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version,
			   bool apply)
{
	struct virtio_balloon *b = d->priv;
	struct virtio_balloon s = { 0 };
	uint8_t held, reporting = 0;
	bool offered = d->features & VIRTIO_BALLOON_F_PAGE_REPORTING;

	s.num_pages = snap_get_u32(in);
	s.actual = snap_get_u32(in);
	s.interval_s = snap_get_u32(in);
	s.stats.valid = snap_get_u32(in);
	for (int i = 0; i < BALLOON_NR_STATS; i++)
		s.stats.val[i] = snap_get_u64(in);
	held = snap_get_u8(in);
	s.held_head = snap_get_u16(in);
	if (version >= 2)
		reporting = snap_get_u8(in);
	if (in->error || held > 1 || reporting > 1 || reporting != offered || s.stats.valid >> BALLOON_NR_STATS ||
	    (held && !(d->features & VIRTIO_BALLOON_F_STATS_VQ)) ||
	    (s.interval_s && !(d->features & VIRTIO_BALLOON_F_STATS_VQ)))
		return -EINVAL;
	if (apply) {
		b->num_pages = s.num_pages;
		b->actual = s.actual;
		b->interval_s = s.interval_s;
		b->stats = s.stats;
		b->held = held;
		b->held_head = s.held_head;
		virtio_balloon_arm(b);
	}
	return 0;
}
