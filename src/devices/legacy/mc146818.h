/* MC146818 CMOS RTC: the host's time (UTC) and 128 bytes of CMOS memory, at ports 0x70-0x71. */
#ifndef VMON_MC146818_H
#define VMON_MC146818_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include "bus/bus.h"

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
};

extern const struct bus_device_ops mc146818_ops;
/* Save/restore of CMOS memory and the guest's clock offset (mc146818_state.c). */
extern const struct device_ops mc146818_state_ops;

/* `mem_size` fills the CMOS memory-size bytes as a PC BIOS would. */
void mc146818_init(struct mc146818 *rtc, uint64_t mem_size);

#endif
