/*
 * The ACPI fixed power registers the FADT points at: the PM1a event block (status and
 * enable: the fixed-feature power button, the RTC alarm, wake status), the PM1a control
 * block (SLP_TYP/SLP_EN: S3 sleep and S5 power-off) and the reset register. The SCI is a
 * level-triggered line, high while an enabled status bit is set.
 */
#ifndef VMON_ACPI_PM_H
#define VMON_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "bus/bus.h"
#include "devices/power.h"
#include "irq/irq.h"

#define ACPI_PM_BASE 0x600
#define ACPI_PM_NR_PORTS 7
#define ACPI_PM1A_EVT (ACPI_PM_BASE + 0) /* PM1_STS at +0, PM1_EN at +2 */
#define ACPI_PM1A_CNT (ACPI_PM_BASE + 4)
#define ACPI_PM_RESET (ACPI_PM_BASE + 6)
#define ACPI_PM_RESET_VALUE 0x06

/* PM1_STS bits (write 1 to clear) and the PM1_EN bits beside them. */
#define ACPI_PM1_PWRBTN (1u << 8)
#define ACPI_PM1_RTC (1u << 10)
#define ACPI_PM1_WAK_STS (1u << 15)

struct device_ops;

struct acpi_pm {
	pthread_mutex_t lock; /* zero-initialised is a valid mutex (glibc) */
	struct power_sink *power;
	struct irq_line *sci; /* NULL: no SCI wired (unit tests) */
	int sci_level;
	/* Registers: acpi_pm_state.c saves these (bump its version when they change). */
	uint16_t pm1_sts;
	uint16_t pm1_en;
	uint16_t pm1_cnt;
	bool sleeping; /* in S3: the guest wrote SLP_EN with \_S3's type; a wake event ends it */
};

extern const struct bus_device_ops acpi_pm_ops;
/* Save/restore of PM1_STS, PM1_EN and PM1_CNT (acpi_pm_state.c); model = struct acpi_pm. */
extern const struct device_ops acpi_pm_state_ops;

/*
 * Press the power button: PWRBTN_STS is set (an SCI if the guest enabled it); in S3 it is
 * also the wake event (POWER_WAKE), whatever PWRBTN_EN says. Any thread.
 */
void acpi_pm_power_button(struct acpi_pm *pm);

/*
 * An RTC alarm went off: RTC_STS is set; in S3 with RTC_EN set it wakes the machine
 * (POWER_WAKE). Any thread.
 */
void acpi_pm_rtc_alarm(struct acpi_pm *pm);

/* Drive the SCI to match the registers (acpi_pm_state.c after a restore). Lock held. */
void acpi_pm_update_sci(struct acpi_pm *pm);

/* In S3 (until acpi_pm_wake()). */
bool acpi_pm_sleeping(struct acpi_pm *pm);

/*
 * Leave S3: WAK_STS is set (the guest's sleep loop and its resume code read it) and the
 * device counts as awake. The VM calls this when it resumes the vCPUs at the waking vector,
 * or at once when it cannot carry out the sleep (the guest's loop then ends, and Linux
 * carries on as after a failed suspend).
 */
void acpi_pm_wake(struct acpi_pm *pm);

#endif
