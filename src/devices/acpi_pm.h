/* The ACPI fixed power registers the FADT points at: PM1a event and control blocks, reset. */
#ifndef VMON_ACPI_PM_H
#define VMON_ACPI_PM_H

#include <stdint.h>
#include "bus/bus.h"
#include "devices/power.h"

#define ACPI_PM_BASE 0x600
#define ACPI_PM_NR_PORTS 7
#define ACPI_PM1A_EVT (ACPI_PM_BASE + 0) /* PM1_STS at +0, PM1_EN at +2 */
#define ACPI_PM1A_CNT (ACPI_PM_BASE + 4)
#define ACPI_PM_RESET (ACPI_PM_BASE + 6)
#define ACPI_PM_RESET_VALUE 0x06

struct device_ops;

struct acpi_pm {
	struct power_sink *power;
	/* Registers: acpi_pm_state.c saves these (bump its version when they change). */
	uint16_t pm1_en;
	uint16_t pm1_cnt;
};

extern const struct bus_device_ops acpi_pm_ops;
/* Save/restore of PM1_EN and PM1_CNT (acpi_pm_state.c); model = struct acpi_pm. */
extern const struct device_ops acpi_pm_state_ops;

#endif
