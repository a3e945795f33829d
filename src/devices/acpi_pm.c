/*
 * ACPI PM1a registers and the reset register: S3 sleep, S5 power-off, reset, the power
 * button and the RTC wake event reach the VM.
 */
#include "devices/acpi_pm.h"

#include <string.h>

#include "boot/acpi.h"
#include "util/log.h"

enum { PM1_STS = 0, PM1_EN = 2, PM1_CNT = 4, RESET = 6 };

/* The status bits that can raise the SCI, each under the enable bit at its position. */
#define SCI_EVENTS (ACPI_PM1_PWRBTN | ACPI_PM1_RTC)
/* What the guest can clear by writing 1s (WAK_STS too). */
#define STS_BITS (SCI_EVENTS | ACPI_PM1_WAK_STS)

void acpi_pm_update_sci(struct acpi_pm *pm)
{
	/* SCI_EN is always set: the machine never leaves ACPI mode. */
	int level = (pm->pm1_sts & pm->pm1_en & SCI_EVENTS) != 0;

	/* The line is an ISA-style level: raise once, lower once. */
	if (pm->sci && level != pm->sci_level)
		irq_line_set(pm->sci, level);
	pm->sci_level = level;
}

static void acpi_pm_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint8_t regs[ACPI_PM_NR_PORTS + 1] = { 0 };

	pthread_mutex_lock(&pm->lock);
	memcpy(regs + PM1_STS, &pm->pm1_sts, 2);
	memcpy(regs + PM1_EN, &pm->pm1_en, 2);
	/* SCI_EN reads 1: always in ACPI mode (there is no SMI command port to leave it). */
	uint16_t cnt = pm->pm1_cnt | ACPI_PM1_SCI_EN;
	memcpy(regs + PM1_CNT, &cnt, 2);
	pthread_mutex_unlock(&pm->lock);
	memset(data, 0, len);
	if (offset < sizeof(regs))
		memcpy(data, regs + offset, MIN((uint64_t)len, sizeof(regs) - offset));
}

/* A byte, word or dword write at offset, merged into the 16-bit register it falls in. */
static void acpi_pm_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	enum power_event ev = POWER_OFF;
	bool fire = false;
	uint8_t bytes[4] = { 0 };
	uint16_t v;

	memcpy(bytes, data, MIN(len, 4u));
	pthread_mutex_lock(&pm->lock);
	/* A dword at PM1_STS covers PM1_EN too (the FADT says the block is 4 bytes). */
	for (uint64_t at = offset & ~1ull; at < offset + len && at < RESET + 1; at += 2) {
		int lo = (int)at - (int)offset, hi = lo + 1;
		uint16_t mask = (uint16_t)((lo >= 0 && lo < (int)len ? 0x00ff : 0) |
					   (hi >= 0 && hi < (int)len ? 0xff00 : 0));
		v = (uint16_t)((lo >= 0 && lo < (int)len ? bytes[lo] : 0) |
			       (hi >= 0 && hi < (int)len ? bytes[hi] << 8 : 0));
		if (at == PM1_STS) {
			pm->pm1_sts &= (uint16_t)~(v & mask & STS_BITS);
		} else if (at == PM1_EN) {
			pm->pm1_en = (uint16_t)((pm->pm1_en & ~mask) | (v & mask));
		} else if (at == PM1_CNT) {
			v = (uint16_t)((pm->pm1_cnt & ~mask) | (v & mask));
			pm->pm1_cnt = v & (uint16_t)~ACPI_PM1_SLP_EN;
			if (!(v & ACPI_PM1_SLP_EN))
				continue;
			unsigned int slp_typ = (v >> ACPI_PM1_SLP_TYP_SHIFT) & 7;
			if (slp_typ == ACPI_S5_SLP_TYP) {
				ev = POWER_OFF, fire = true;
			} else if (slp_typ == ACPI_S3_SLP_TYP && !pm->sleeping) {
				/* The wake status of the last sleep is gone; the guest now waits for
				 * a new one, as hardware powers down behind it. */
				pm->pm1_sts &= (uint16_t)~ACPI_PM1_WAK_STS;
				pm->sleeping = true;
				ev = POWER_SLEEP, fire = true;
			} else if (slp_typ != ACPI_S3_SLP_TYP) {
				pr_ratelimited(LOG_WARN, "guest asked for sleep type %u, which vmon lacks",
					       slp_typ);
			}
		} else if (at == RESET && (v & mask & 0xff) == ACPI_PM_RESET_VALUE) {
			ev = POWER_RESET, fire = true;
		}
	}
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	/* Outside the lock: the VM may call back into the device (acpi_pm_wake). */
	if (fire)
		power_event(pm->power, ev, ev == POWER_SLEEP ? 3 : 0);
}

const struct bus_device_ops acpi_pm_ops = { .read = acpi_pm_read, .write = acpi_pm_write };

/* Set a status bit; in S3 a wake event if it is enabled, or always for the power button. */
static void acpi_pm_event(struct acpi_pm *pm, uint16_t bit, bool wake_always)
{
	bool wake;

	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts |= bit;
	wake = pm->sleeping && (wake_always || (pm->pm1_en & bit));
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	if (wake)
		power_event(pm->power, POWER_WAKE, 0);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	acpi_pm_event(pm, ACPI_PM1_PWRBTN, true);
}

void acpi_pm_rtc_alarm(struct acpi_pm *pm)
{
	acpi_pm_event(pm, ACPI_PM1_RTC, false);
}

bool acpi_pm_sleeping(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	bool s = pm->sleeping;
	pthread_mutex_unlock(&pm->lock);
	return s;
}

void acpi_pm_wake(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sleeping = false;
	pm->pm1_sts |= ACPI_PM1_WAK_STS;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}
