/* Power events devices raise (ACPI sleep register, i8042 reset line, test device). */
#ifndef VMON_POWER_H
#define VMON_POWER_H

#include "util/exit_status.h"

enum power_event { POWER_OFF, POWER_RESET, POWER_TEST_EXIT };

/* Devices hold a power_sink and call it; the VM implements it (tests use a fake). */
struct power_sink {
	void (*event)(struct power_sink *sink, enum power_event ev, int code);
};

static inline void power_event(struct power_sink *sink, enum power_event ev, int code)
{
	sink->event(sink, ev, code);
}

#endif
