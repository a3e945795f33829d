/*
 * ACPI PM1a save/restore: the status, enable and control registers (reset is a strobe).
 * A machine in S3 is not saved (the VMM refuses), so `sleeping` is never in a state file.
 */
#include "devices/acpi_pm.h"

#include <errno.h>

#include "boot/acpi.h"
#include "devices/device.h"

/*
 * Version 1: u16 pm1_en, u16 pm1_cnt.
 * Version 2: u16 pm1_sts (the power button, RTC and wake status bits) first.
 */
#define ACPI_PM_STATE_VERSION 2

static int acpi_pm_save(struct device *d, struct snap_buf *out)
{
	struct acpi_pm *pm = d->model;

	pthread_mutex_lock(&pm->lock);
	if (pm->sleeping) {
		pthread_mutex_unlock(&pm->lock);
		return -EBUSY; /* a guest in S3 waits for a wake the state file cannot carry */
	}
	snap_put_u16(out, pm->pm1_sts);
	snap_put_u16(out, pm->pm1_en);
	snap_put_u16(out, pm->pm1_cnt);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static int acpi_pm_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct acpi_pm *pm = d->model;
	uint16_t sts = 0, en, cnt;

	if (version >= 2)
		sts = snap_get_u16(in);
	en = snap_get_u16(in);
	cnt = snap_get_u16(in);
	/* SLP_EN is a strobe the model never stores: a snapshot holding it is not one of ours;
	 * nor are status bits the model never sets. */
	if (in->error || (cnt & ACPI_PM1_SLP_EN) ||
	    (sts & ~(ACPI_PM1_PWRBTN | ACPI_PM1_RTC | ACPI_PM1_WAK_STS)))
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts = sts;
	pm->pm1_en = en;
	pm->pm1_cnt = cnt;
	pm->sleeping = false;
	acpi_pm_update_sci(pm); /* a pending power button press raises the SCI again */
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

const struct device_ops acpi_pm_state_ops = {
	.kind = "acpi-pm",
	.state_version = ACPI_PM_STATE_VERSION,
	.save = acpi_pm_save,
	.restore = acpi_pm_restore,
};
