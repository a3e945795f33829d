/*
 * MC146818 CMOS RTC: the host's time (UTC) and 128 bytes of CMOS memory, at ports 0x70-0x71,
 * with the alarm: when the guest's time reaches the alarm registers (seconds, minutes,
 * hours, each possibly "don't care") the alarm flag is set and, with AIE, the IRQ line
 * rises until register C is read; an RTC alarm is also an ACPI wake event (`alarm`).
 * The model has no timer of its own: whoever runs it calls mc146818_tick() a few times a
 * second while mc146818_alarm_armed() (it is told when that may have changed: `armed`).
 */
#ifndef VMON_MC146818_H
#define VMON_MC146818_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "bus/bus.h"
#include "irq/irq.h"

#define MC146818_BASE 0x70
#define MC146818_NR_PORTS 2

struct device_ops;

struct mc146818 {
	pthread_mutex_t lock;
	/* Registers: mc146818_state.c saves these (bump its version when they change). */
	uint8_t index;
	uint8_t cmos[128];
	int64_t offset; /* guest time - host time, in seconds, after the guest sets the clock */
	time_t (*now)(void); /* host clock; replaceable in tests */
	/* Wiring (all optional, NULL in unit tests). */
	struct irq_line *irq;              /* IRQ 8: IRQF */
	void (*alarm)(void *opaque);       /* an alarm went off with AIE set */
	void (*armed)(void *opaque);       /* AIE was switched on or off */
	void *opaque;
	int irq_level;
	int64_t checked; /* the guest time (s) up to which alarms were looked for */
};

extern const struct bus_device_ops mc146818_ops;
/* Save/restore of CMOS memory and the guest's clock offset (mc146818_state.c). */
extern const struct device_ops mc146818_state_ops;

/* `mem_size` fills the CMOS memory-size bytes as a PC BIOS would. */
void mc146818_init(struct mc146818 *rtc, uint64_t mem_size);

/* The guest enabled the alarm interrupt (AIE): tick the model. Any thread. */
bool mc146818_alarm_armed(struct mc146818 *rtc);
/* Look for alarms in the seconds since the last tick (at most a minute back). Any thread. */
void mc146818_tick(struct mc146818 *rtc);
/* After a restore: the IRQ line follows IRQF, and alarms are looked for from now on. */
void mc146818_sync(struct mc146818 *rtc);

#endif
