/* The ACPI hardware-reduced power registers: sleep control/status and reset (FADT). */
#ifndef VMON_ACPI_PM_H
#define VMON_ACPI_PM_H

#include "bus/bus.h"
#include "vmm/power.h"

#define ACPI_PM_BASE 0x600
#define ACPI_PM_NR_PORTS 3
#define ACPI_PM_SLEEP_CTL (ACPI_PM_BASE + 0)
#define ACPI_PM_SLEEP_STS (ACPI_PM_BASE + 1)
#define ACPI_PM_RESET (ACPI_PM_BASE + 2)
#define ACPI_PM_RESET_VALUE 0x06

struct acpi_pm {
	struct power_sink *power;
};

extern const struct bus_device_ops acpi_pm_ops;

#endif
