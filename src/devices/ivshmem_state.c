/*
 * ivshmem save/restore. Only a plain device on a file is saved: its memory stays in the file,
 * which the restored VM maps again (the snapshot's configuration keeps the path). A doorbell
 * device's memory and peers live in the server and the other VMs (QEMU refuses to migrate
 * one too, unless it is the master), and a memfd would be lost: the VMM refuses those
 * snapshots with a sentence before any device saves (vm_shm_check_saveable()), and save()
 * here refuses as a second line.
 *
 * Version 1: u32 IntrMask, u32 IntrStatus, then the PCI function (pci_device_save()), last
 * because its restore takes the BARs off the bus.
 */
#include "devices/ivshmem.h"

#include <errno.h>

#include "devices/device.h"
#include "snapshot/format.h"

static int ivshmem_save(struct device *d, struct snap_buf *out)
{
	struct ivshmem *s = d->model;

	if (!s->saveable)
		return -ENOTSUP;
	pthread_mutex_lock(&s->lock);
	snap_put_u32(out, s->intr_mask);
	snap_put_u32(out, s->intr_status);
	pthread_mutex_unlock(&s->lock);
	return pci_device_save(&s->pci, out);
}

static int ivshmem_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct ivshmem *s = d->model;
	uint32_t mask, status;
	int ret;

	(void)version; /* only version 1 exists */
	if (!s->saveable)
		return -EINVAL;
	mask = snap_get_u32(in);
	status = snap_get_u32(in);
	if (in->error)
		return -EINVAL;
	ret = pci_device_restore(&s->pci, in);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->lock);
	s->intr_mask = mask;
	s->intr_status = status;
	pthread_mutex_unlock(&s->lock);
	ivshmem_redrive(s);
	return 0;
}

static int ivshmem_finish_restore(struct device *d)
{
	struct ivshmem *s = d->model;

	return pci_device_finish_restore(&s->pci);
}

static void ivshmem_reset(struct device *d)
{
	struct ivshmem *s = d->model;

	pthread_mutex_lock(&s->lock);
	s->intr_mask = s->intr_status = 0;
	s->pending = 0;
	for (uint32_t v = 0; v < s->nr_vectors; v++)
		s->msix[v].ctrl = 1; /* masked */
	pthread_mutex_unlock(&s->lock);
}

const struct device_ops ivshmem_state_ops = {
	.kind = "ivshmem",
	.state_version = 1,
	.reset = ivshmem_reset,
	.save = ivshmem_save,
	.restore = ivshmem_restore,
	.finish_restore = ivshmem_finish_restore,
};
