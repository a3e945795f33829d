/* CMOS RTC save/restore: the 128 CMOS bytes, the index latch, and the guest's clock offset. */
#include "devices/legacy/mc146818.h"

#include <errno.h>
#include <string.h>

#include "devices/device.h"

/*
 * Version 1: u8 index, 128 CMOS bytes, u64 offset (two's complement seconds).
 *
 * The time base is saved as the guest's offset from host UTC, not as the time the clock
 * showed: a battery-backed RTC keeps counting while the machine is off, so a snapshot
 * restored a day later reads a day later, and a migrated guest's clock stays right. The
 * time registers in CMOS are only a latch (refreshed on every read outside a SET window),
 * so saving them costs nothing and keeps a guest that is mid-way through setting the clock.
 */
#define MC146818_STATE_VERSION 1

/*
 * Far beyond any offset a guest can set (BCD digits read as 0-15 cap the year below 16666,
 * about 2^39 seconds from 1970), and far from time_t overflow in now() + offset.
 */
#define RTC_MAX_OFFSET (1LL << 40)

static int mc146818_save(struct device *d, struct snap_buf *out)
{
	struct mc146818 *rtc = d->model;

	pthread_mutex_lock(&rtc->lock);
	snap_put_u8(out, rtc->index);
	snap_put_bytes(out, rtc->cmos, sizeof(rtc->cmos));
	snap_put_u64(out, (uint64_t)rtc->offset);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

static int mc146818_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct mc146818 *rtc = d->model;
	uint8_t cmos[sizeof(rtc->cmos)];
	uint8_t index;
	int64_t offset;

	(void)version; /* only version 1 exists */
	index = snap_get_u8(in);
	snap_get_bytes(in, cmos, sizeof(cmos));
	offset = (int64_t)snap_get_u64(in);
	/* The index selects a CMOS byte; the offset feeds time arithmetic. */
	if (in->error || index >= sizeof(cmos) || offset > RTC_MAX_OFFSET || offset < -RTC_MAX_OFFSET)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	rtc->index = index;
	memcpy(rtc->cmos, cmos, sizeof(cmos));
	rtc->offset = offset;
	pthread_mutex_unlock(&rtc->lock);
	mc146818_sync(rtc); /* IRQF drives the line again; alarms count from now */
	if (rtc->armed)
		rtc->armed(rtc->opaque);
	return 0;
}

const struct device_ops mc146818_state_ops = {
	.kind = "mc146818",
	.state_version = MC146818_STATE_VERSION,
	.save = mc146818_save,
	.restore = mc146818_restore,
};
