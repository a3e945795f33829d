/* ACPI PM1a save/restore: the enable and control registers (no status pends; reset is a strobe). */
#include "devices/acpi_pm.h"

#include <errno.h>

#include "boot/acpi.h"
#include "devices/device.h"

/* Version 1: u16 pm1_en, u16 pm1_cnt. */
#define ACPI_PM_STATE_VERSION 1

static int acpi_pm_save(struct device *d, struct snap_buf *out)
{
	struct acpi_pm *pm = d->model;

	snap_put_u16(out, pm->pm1_en);
	snap_put_u16(out, pm->pm1_cnt);
	return 0;
}

static int acpi_pm_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct acpi_pm *pm = d->model;
	uint16_t en, cnt;

	(void)version; /* only version 1 exists */
	en = snap_get_u16(in);
	cnt = snap_get_u16(in);
	/* SLP_EN is a strobe the model never stores: a snapshot holding it is not one of ours. */
	if (in->error || (cnt & ACPI_PM1_SLP_EN))
		return -EINVAL;
	pm->pm1_en = en;
	pm->pm1_cnt = cnt;
	return 0;
}

const struct device_ops acpi_pm_state_ops = {
	.kind = "acpi-pm",
	.state_version = ACPI_PM_STATE_VERSION,
	.save = acpi_pm_save,
	.restore = acpi_pm_restore,
};
