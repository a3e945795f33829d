/*
 * CMOS RTC model: BCD or binary, 12/24 hour, clock reads from the host, guest sets kept as an
 * offset; the alarm and its interrupt (no periodic or update-ended interrupts).
 */
#include "devices/legacy/mc146818.h"

#include <string.h>

enum {
	RTC_SECONDS = 0x00,
	RTC_SECONDS_ALARM = 0x01,
	RTC_MINUTES = 0x02,
	RTC_MINUTES_ALARM = 0x03,
	RTC_HOURS = 0x04,
	RTC_HOURS_ALARM = 0x05,
	RTC_DAY_OF_WEEK = 0x06,
	RTC_DAY_OF_MONTH = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	RTC_CENTURY = 0x32,
};

#define REG_B_SET 0x80
#define REG_B_AIE 0x20
#define REG_B_24H 0x02
#define REG_C_IRQF 0x80
#define REG_C_AF 0x20
#define REG_B_BINARY 0x04
#define REG_D_VRT 0x80

static time_t host_now(void)
{
	return time(NULL);
}

void mc146818_init(struct mc146818 *rtc, uint64_t mem_size)
{
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	/* glibc's gmtime_r reads /etc/localtime on first use: now, not on a vCPU under seccomp. */
	tzset();
	rtc->now = host_now;
	rtc->checked = host_now();
	rtc->cmos[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	rtc->cmos[RTC_REG_B] = REG_B_24H;
	rtc->cmos[RTC_REG_D] = REG_D_VRT;
	/* Memory size as a BIOS reports it: KiB 1-64 MiB at 0x30/0x17, 64 KiB units above 16 MiB at 0x34. */
	uint64_t ext_kib = mem_size > 1024 * 1024 ? (mem_size - 1024 * 1024) / 1024 : 0;
	ext_kib = ext_kib > 0xfc00 ? 0xfc00 : ext_kib;
	rtc->cmos[0x17] = rtc->cmos[0x30] = (uint8_t)ext_kib;
	rtc->cmos[0x18] = rtc->cmos[0x31] = (uint8_t)(ext_kib >> 8);
	uint64_t above16 = mem_size > 16 * 1024 * 1024 ? (mem_size - 16 * 1024 * 1024) >> 16 : 0;
	above16 = above16 > 0xffff ? 0xffff : above16;
	rtc->cmos[0x34] = (uint8_t)above16;
	rtc->cmos[0x35] = (uint8_t)(above16 >> 8);
}

static uint8_t to_bcd(const struct mc146818 *rtc, int v)
{
	/* Only a year (or century) before 1900 is negative here: keep its last two digits. */
	if (v < 0)
		v = (v % 100 + 100) % 100;
	if (rtc->cmos[RTC_REG_B] & REG_B_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_bcd(const struct mc146818 *rtc, uint8_t v)
{
	if (rtc->cmos[RTC_REG_B] & REG_B_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t rtc_hours(const struct mc146818 *rtc, int h)
{
	if (rtc->cmos[RTC_REG_B] & REG_B_24H)
		return to_bcd(rtc, h);
	int h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(to_bcd(rtc, h12) | (h >= 12 ? 0x80 : 0));
}

/* Refresh the time registers from the host clock plus the guest's offset. */
static void rtc_latch(struct mc146818 *rtc)
{
	time_t t = rtc->now() + (time_t)rtc->offset;
	struct tm tm;

	gmtime_r(&t, &tm);
	rtc->cmos[RTC_SECONDS] = to_bcd(rtc, tm.tm_sec);
	rtc->cmos[RTC_MINUTES] = to_bcd(rtc, tm.tm_min);
	rtc->cmos[RTC_HOURS] = rtc_hours(rtc, tm.tm_hour);
	rtc->cmos[RTC_DAY_OF_WEEK] = to_bcd(rtc, tm.tm_wday + 1);
	rtc->cmos[RTC_DAY_OF_MONTH] = to_bcd(rtc, tm.tm_mday);
	rtc->cmos[RTC_MONTH] = to_bcd(rtc, tm.tm_mon + 1);
	rtc->cmos[RTC_YEAR] = to_bcd(rtc, tm.tm_year % 100);
	rtc->cmos[RTC_CENTURY] = to_bcd(rtc, (tm.tm_year + 1900) / 100);
}

/* An hours register (the time's or the alarm's) as 0-23. */
static int rtc_hour_of(const struct mc146818 *rtc, uint8_t h)
{
	if (rtc->cmos[RTC_REG_B] & REG_B_24H)
		return from_bcd(rtc, h);
	return from_bcd(rtc, h & 0x7f) % 12 + (h & 0x80 ? 12 : 0);
}

/* The guest finished setting the clock (SET bit cleared): remember the difference. */
static void rtc_commit(struct mc146818 *rtc)
{
	struct tm tm = { 0 };
	int hour = rtc_hour_of(rtc, rtc->cmos[RTC_HOURS]);

	tm.tm_sec = from_bcd(rtc, rtc->cmos[RTC_SECONDS]);
	tm.tm_min = from_bcd(rtc, rtc->cmos[RTC_MINUTES]);
	tm.tm_hour = hour;
	tm.tm_mday = from_bcd(rtc, rtc->cmos[RTC_DAY_OF_MONTH]);
	tm.tm_mon = from_bcd(rtc, rtc->cmos[RTC_MONTH]) - 1;
	tm.tm_year = from_bcd(rtc, rtc->cmos[RTC_CENTURY]) * 100 +
		     from_bcd(rtc, rtc->cmos[RTC_YEAR]) - 1900;
	time_t t = timegm(&tm);
	if (t != (time_t)-1)
		rtc->offset = (int64_t)(t - rtc->now());
}

/* The IRQ line follows IRQF. Lock held. */
static void rtc_drive_irq(struct mc146818 *rtc)
{
	int level = !!(rtc->cmos[RTC_REG_C] & REG_C_IRQF);

	if (rtc->irq && level != rtc->irq_level)
		irq_line_set(rtc->irq, level);
	rtc->irq_level = level;
}

static time_t rtc_guest_now(const struct mc146818 *rtc)
{
	return rtc->now() + (time_t)rtc->offset;
}

static uint8_t rtc_read_reg(struct mc146818 *rtc, uint8_t reg)
{
	uint8_t v;

	if (reg <= RTC_YEAR || reg == RTC_CENTURY) {
		if (!(rtc->cmos[RTC_REG_B] & REG_B_SET))
			rtc_latch(rtc);
		return rtc->cmos[reg];
	}
	switch (reg) {
	case RTC_REG_A:
		return rtc->cmos[reg] & 0x7f; /* never mid-update: reads are atomic here */
	case RTC_REG_C:
		v = rtc->cmos[reg];
		rtc->cmos[reg] = 0; /* reading clears the flags, and IRQF with them */
		rtc_drive_irq(rtc);
		return v;
	default:
		return rtc->cmos[reg];
	}
}

/* Returns true when AIE changed (the caller tells whoever ticks the model). */
static bool rtc_write_reg(struct mc146818 *rtc, uint8_t reg, uint8_t v)
{
	bool aie = rtc->cmos[RTC_REG_B] & REG_B_AIE;

	switch (reg) {
	case RTC_REG_B:
		/* Alarms from now on: not one that matched while AIE was off. */
		if ((v & REG_B_AIE) && !aie)
			rtc->checked = rtc_guest_now(rtc);
		if ((v & REG_B_SET) && !(rtc->cmos[reg] & REG_B_SET))
			rtc_latch(rtc);
		if (!(v & REG_B_SET) && (rtc->cmos[reg] & REG_B_SET)) {
			rtc->cmos[reg] = v;
			rtc_commit(rtc);
		}
		rtc->cmos[reg] = v;
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		/* A time register written outside a SET window changes the clock at once. */
		if ((reg <= RTC_YEAR || reg == RTC_CENTURY) && !(rtc->cmos[RTC_REG_B] & REG_B_SET)) {
			rtc_latch(rtc);
			rtc->cmos[reg] = v;
			rtc_commit(rtc);
		} else {
			rtc->cmos[reg] = v;
		}
		break;
	}
	return aie != !!(rtc->cmos[RTC_REG_B] & REG_B_AIE);
}

static void mc146818_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct mc146818 *rtc = opaque;
	uint8_t v = 0xff;

	pthread_mutex_lock(&rtc->lock);
	if (offset == 1)
		v = rtc_read_reg(rtc, rtc->index);
	pthread_mutex_unlock(&rtc->lock);
	memset(data, v, len);
}

static void mc146818_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct mc146818 *rtc = opaque;
	uint8_t v = *(const uint8_t *)data;
	bool changed = false;

	(void)len;
	pthread_mutex_lock(&rtc->lock);
	if (offset == 0)
		rtc->index = v & 0x7f; /* bit 7 is the NMI mask */
	else
		changed = rtc_write_reg(rtc, rtc->index, v);
	pthread_mutex_unlock(&rtc->lock);
	if (changed && rtc->armed)
		rtc->armed(rtc->opaque);
}

/* An alarm register matches `value` (0-59 or 0-23) or says "don't care" (top bits 11). */
static bool rtc_alarm_field(uint8_t alarm, int decoded, int value)
{
	return (alarm & 0xc0) == 0xc0 || decoded == value;
}

static bool rtc_alarm_matches(const struct mc146818 *rtc, time_t t)
{
	const uint8_t *c = rtc->cmos;
	struct tm tm;

	gmtime_r(&t, &tm);
	return rtc_alarm_field(c[RTC_SECONDS_ALARM], from_bcd(rtc, c[RTC_SECONDS_ALARM]), tm.tm_sec) &&
	       rtc_alarm_field(c[RTC_MINUTES_ALARM], from_bcd(rtc, c[RTC_MINUTES_ALARM]), tm.tm_min) &&
	       rtc_alarm_field(c[RTC_HOURS_ALARM], rtc_hour_of(rtc, c[RTC_HOURS_ALARM]), tm.tm_hour);
}

bool mc146818_alarm_armed(struct mc146818 *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	bool armed = rtc->cmos[RTC_REG_B] & REG_B_AIE;
	pthread_mutex_unlock(&rtc->lock);
	return armed;
}

void mc146818_tick(struct mc146818 *rtc)
{
	bool fired = false;

	pthread_mutex_lock(&rtc->lock);
	time_t now = rtc_guest_now(rtc);
	/* The clock set back, or a tick missed for long: look at the last minute only. */
	if (rtc->checked > now || now - rtc->checked > 60)
		rtc->checked = now - 1;
	for (time_t t = (time_t)rtc->checked + 1; t <= now && !fired; t++)
		fired = rtc_alarm_matches(rtc, t);
	rtc->checked = now;
	if (fired) {
		rtc->cmos[RTC_REG_C] |= REG_C_AF;
		if (rtc->cmos[RTC_REG_B] & REG_B_AIE)
			rtc->cmos[RTC_REG_C] |= REG_C_IRQF;
		else
			fired = false;
		rtc_drive_irq(rtc);
	}
	pthread_mutex_unlock(&rtc->lock);
	if (fired && rtc->alarm)
		rtc->alarm(rtc->opaque);
}

void mc146818_sync(struct mc146818 *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->checked = rtc_guest_now(rtc);
	rtc_drive_irq(rtc);
	pthread_mutex_unlock(&rtc->lock);
}

const struct bus_device_ops mc146818_ops = { .read = mc146818_read, .write = mc146818_write };
