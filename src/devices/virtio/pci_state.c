/* virtio-pci save/restore: a whole virtio device on PCI, up to its MSI-X table and PCI function. */
#include "devices/virtio/pci.h"

#include <errno.h>

#include "devices/device.h"

/*
 * Version 1: the core and its queues (virtio_state.c), then u32 device_feature_select and
 * driver_feature_select, u16 queue_select, u16 config_vector, a u16 vector per queue of
 * the type, for each of the VIRTIO_PCI_VECTORS MSI-X entries u32 address low, address high,
 * data and vector control, the u64 PBA, then the type's part (u32 version, its bytes), and
 * last the PCI function as pci_device_save() writes it. Last, because pci_device_restore()
 * checks and loads in one step: every other part must have passed before it runs.
 * Not saved: the vector lines, INTx and the doorbells (wiring), notify_addr (follows BAR0).
 */
#define VIRTIO_PCI_STATE_VERSION 1

struct vpci_saved {
	uint32_t device_feature_select, driver_feature_select;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	struct { uint32_t addr_lo, addr_hi, data, ctrl; } msix[VIRTIO_PCI_VECTORS];
	uint64_t pending;
};

#define PBA_BITS ((1ULL << VIRTIO_PCI_VECTORS) - 1)

static void virtio_pci_quiesce(struct device *dev)
{
	struct virtio_pci *vp = dev->model;

	if (vp->dev->ops->quiesce)
		vp->dev->ops->quiesce(vp->dev);
}

static void vpci_regs_save(const struct virtio_pci *vp, struct snap_buf *out)
{
	snap_put_u32(out, vp->device_feature_select);
	snap_put_u32(out, vp->driver_feature_select);
	snap_put_u16(out, vp->queue_select);
	snap_put_u16(out, vp->config_vector);
	for (int q = 0; q < vp->dev->ops->nr_queues; q++)
		snap_put_u16(out, vp->queue_vector[q]);
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++) {
		snap_put_u32(out, vp->msix[v].addr_lo);
		snap_put_u32(out, vp->msix[v].addr_hi);
		snap_put_u32(out, vp->msix[v].data);
		snap_put_u32(out, vp->msix[v].ctrl);
	}
	snap_put_u64(out, vp->pending);
}

static int virtio_pci_save(struct device *dev, struct snap_buf *out)
{
	struct virtio_pci *vp = dev->model;
	struct virtio_device *d = vp->dev;
	int ret;

	pthread_mutex_lock(&d->lock);
	virtio_state_save(d, out);
	vpci_regs_save(vp, out);
	ret = virtio_type_state_save(d, out);
	pthread_mutex_unlock(&d->lock);
	/* The bus locks are never taken under the device lock (an MMIO access nests them). */
	return ret ? ret : pci_device_save(&vp->pci, out);
}

static bool vector_ok(uint16_t v)
{
	return v < VIRTIO_PCI_VECTORS || v == VIRTIO_PCI_NO_VECTOR;
}

/*
 * The selectors read back what the driver wrote and every use checks them, so any value is
 * a state; a vector is one the device has or NO_VECTOR (common_write() keeps no other), and
 * only a vector that exists can be pending. The table itself holds whatever the guest wrote.
 */
static int vpci_regs_read(const struct virtio_pci *vp, struct snap_rd *in, struct vpci_saved *s)
{
	int nr_queues = vp->dev->ops->nr_queues;
	bool vectors_ok;

	s->device_feature_select = snap_get_u32(in);
	s->driver_feature_select = snap_get_u32(in);
	s->queue_select = snap_get_u16(in);
	s->config_vector = snap_get_u16(in);
	vectors_ok = vector_ok(s->config_vector);
	for (int q = 0; q < nr_queues; q++) {
		s->queue_vector[q] = snap_get_u16(in);
		vectors_ok &= vector_ok(s->queue_vector[q]);
	}
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++) {
		s->msix[v].addr_lo = snap_get_u32(in);
		s->msix[v].addr_hi = snap_get_u32(in);
		s->msix[v].data = snap_get_u32(in);
		s->msix[v].ctrl = snap_get_u32(in);
	}
	s->pending = snap_get_u64(in);
	if (in->error)
		return -EINVAL;
	if (!vectors_ok)
		return virtio_state_refuse(vp->dev, "an MSI-X vector number is out of range");
	if (s->pending & ~PBA_BITS)
		return virtio_state_refuse(vp->dev, "a vector that does not exist is pending");
	return 0;
}

static void vpci_regs_load(struct virtio_pci *vp, const struct vpci_saved *s)
{
	vp->device_feature_select = s->device_feature_select;
	vp->driver_feature_select = s->driver_feature_select;
	vp->queue_select = s->queue_select;
	vp->config_vector = s->config_vector;
	for (int q = 0; q < vp->dev->ops->nr_queues; q++)
		vp->queue_vector[q] = s->queue_vector[q];
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++) {
		vp->msix[v].addr_lo = s->msix[v].addr_lo;
		vp->msix[v].addr_hi = s->msix[v].addr_hi;
		vp->msix[v].data = s->msix[v].data;
		vp->msix[v].ctrl = s->msix[v].ctrl;
	}
	vp->pending = s->pending;
}

/* Every part but the PCI function, read and checked; the type's part is left at type_part. */
static int vpci_read_saved(struct virtio_pci *vp, struct snap_rd *in, struct virtio_saved *s,
			   struct vpci_saved *ps, struct snap_rd *type_part)
{
	struct virtio_device *d = vp->dev;
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = virtio_state_read(d, in, s);
	if (!ret)
		ret = vpci_regs_read(vp, in, ps);
	*type_part = *in;
	if (!ret)
		ret = virtio_type_state_check(d, in);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static int virtio_pci_restore(struct device *dev, struct snap_rd *in, uint32_t version)
{
	struct virtio_pci *vp = dev->model;
	struct virtio_device *d = vp->dev;
	struct virtio_saved s;
	struct vpci_saved ps;
	struct snap_rd type_part;
	int ret;

	(void)version; /* only version 1 exists */
	ret = vpci_read_saved(vp, in, &s, &ps, &type_part);
	/* Refuses, untouched, a function that differs; else takes the BARs off the bus. */
	if (!ret)
		ret = pci_device_restore(&vp->pci, in);
	if (ret)
		return ret;
	pthread_mutex_lock(&d->lock);
	virtio_state_load(d, &s);
	vpci_regs_load(vp, &ps);
	virtio_type_state_load(d, &type_part);
	virtio_pci_redrive(vp);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* BARs back on the bus (BAR0's bar_moved() puts the doorbells there), then the kicks. */
static int virtio_pci_finish_restore(struct device *dev)
{
	struct virtio_pci *vp = dev->model;
	int ret = pci_device_finish_restore(&vp->pci);

	if (!ret)
		virtio_state_kick(vp->dev, vp->notify_fd);
	return ret;
}

const struct device_ops virtio_pci_state_ops = {
	.kind = "virtio-pci",
	.state_version = VIRTIO_PCI_STATE_VERSION,
	.quiesce = virtio_pci_quiesce,
	.save = virtio_pci_save,
	.restore = virtio_pci_restore,
	.finish_restore = virtio_pci_finish_restore,
};
