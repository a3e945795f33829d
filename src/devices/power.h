/* Power events devices raise (ACPI sleep register and wake events, i8042 reset line, test device). */
#ifndef VMON_POWER_H
#define VMON_POWER_H

#include "util/exit_status.h"

/*
 * POWER_SLEEP: the guest entered a sleep state (code: 3 for S3) and waits in it until a
 * POWER_WAKE (the power button or an enabled RTC alarm while asleep) or the VMM wakes it.
 */
enum power_event { POWER_OFF, POWER_RESET, POWER_TEST_EXIT, POWER_SLEEP, POWER_WAKE };

/* Devices hold a power_sink and call it; the VM implements it (tests use a fake). */
struct power_sink {
	void (*event)(struct power_sink *sink, enum power_event ev, int code);
};

static inline void power_event(struct power_sink *sink, enum power_event ev, int code)
{
	sink->event(sink, ev, code);
}

#endif
