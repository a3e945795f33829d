/* ACPI power registers: S5 through the sleep control register, reset through the reset register. */
#include "devices/acpi_pm.h"

#include <string.h>

#include "boot/acpi.h"
#include "util/log.h"

static void acpi_pm_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque, (void)offset;
	memset(data, 0, len); /* no wake events pending */
}

static void acpi_pm_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint8_t v = *(const uint8_t *)data;

	(void)len;
	if (offset == ACPI_PM_SLEEP_CTL - ACPI_PM_BASE && (v & ACPI_SLP_EN)) {
		unsigned int slp_typ = (v >> 2) & 7;

		if (slp_typ == ACPI_S5_SLP_TYP)
			power_event(pm->power, POWER_OFF, 0);
		else
			pr_ratelimited(LOG_WARN, "guest asked for sleep type %u, which vmon lacks", slp_typ);
	} else if (offset == ACPI_PM_RESET - ACPI_PM_BASE && v == ACPI_PM_RESET_VALUE) {
		power_event(pm->power, POWER_RESET, 0);
	}
}

const struct bus_device_ops acpi_pm_ops = { .read = acpi_pm_read, .write = acpi_pm_write };
