/* ACPI PM1a registers and the reset register: S5 power-off and reset reach the VM. */
#include "devices/acpi_pm.h"

#include <string.h>

#include "boot/acpi.h"
#include "util/log.h"

enum { PM1_STS = 0, PM1_EN = 2, PM1_CNT = 4, RESET = 6 };

static void acpi_pm_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint8_t regs[ACPI_PM_NR_PORTS + 1] = { 0 };

	/* No wake or fixed events ever pend; SCI_EN reads 1: always in ACPI mode. */
	memcpy(regs + PM1_EN, &pm->pm1_en, 2);
	uint16_t cnt = pm->pm1_cnt | ACPI_PM1_SCI_EN;
	memcpy(regs + PM1_CNT, &cnt, 2);
	memset(data, 0, len);
	if (offset < sizeof(regs))
		memcpy(data, regs + offset, MIN((uint64_t)len, sizeof(regs) - offset));
}

static void acpi_pm_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint16_t v = 0;

	memcpy(&v, data, MIN(len, 2u));
	if (offset == PM1_EN) {
		pm->pm1_en = v;
	} else if (offset == PM1_CNT) {
		pm->pm1_cnt = v & (uint16_t)~ACPI_PM1_SLP_EN;
		if (v & ACPI_PM1_SLP_EN) {
			unsigned int slp_typ = (v >> ACPI_PM1_SLP_TYP_SHIFT) & 7;

			if (slp_typ == ACPI_S5_SLP_TYP)
				power_event(pm->power, POWER_OFF, 0);
			else
				pr_ratelimited(LOG_WARN, "guest asked for sleep type %u, which vmon lacks",
					       slp_typ);
		}
	} else if (offset == RESET && (v & 0xff) == ACPI_PM_RESET_VALUE) {
		power_event(pm->power, POWER_RESET, 0);
	}
}

const struct bus_device_ops acpi_pm_ops = { .read = acpi_pm_read, .write = acpi_pm_write };
