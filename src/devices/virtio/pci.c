/* virtio-pci: common config, ISR, device config and notify regions in BAR0, MSI-X in BAR1. */
#include "devices/virtio/pci.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

/* BAR0 layout */
#define COMMON_OFF 0x0000
#define COMMON_LEN 0x38
#define ISR_OFF 0x1000
#define DEVICE_OFF 0x2000
#define DEVICE_LEN 0x1000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4
#define BAR0_SIZE 0x4000
/* BAR1 layout */
#define MSIX_TABLE_OFF 0x000
#define MSIX_PBA_OFF 0x800
#define BAR1_SIZE 0x1000

#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR 3
#define VIRTIO_PCI_CAP_DEVICE 4
#define MSIX_CTRL_MASKED 1
#define PCI_CAP_MSIX 0x11
#define PCI_CAP_VENDOR 0x09

static bool msix_enabled(const struct virtio_pci *vp, bool *fn_masked)
{
	uint16_t ctrl;
	int cap = vp->pci.cfg[0x34]; /* MSI-X is added last, so it heads the list */

	memcpy(&ctrl, vp->pci.cfg + cap + 2, 2);
	*fn_masked = ctrl & 0x4000;
	return ctrl & 0x8000;
}

/* Route vector v to its current message (only when enabled and unmasked). */
static void msix_update_route(struct virtio_pci *vp, int v)
{
	uint64_t addr = vp->msix[v].addr_lo | (uint64_t)vp->msix[v].addr_hi << 32;

	if (irq_line_set_msi(&vp->vector_line[v], addr, vp->msix[v].data))
		pr_ratelimited(LOG_WARN, "%s: cannot route MSI-X vector %d", vp->dev->id, v);
}

static void msix_fire(struct virtio_pci *vp, int v)
{
	bool fn_masked;

	if (!msix_enabled(vp, &fn_masked)) {
		if (vp->intx)
			irq_line_set(vp->intx, 1); /* INTx: the ISR holds the reason */
		return;
	}
	if (fn_masked || (vp->msix[v].ctrl & MSIX_CTRL_MASKED)) {
		vp->pending |= 1ULL << v;
		return;
	}
	irq_line_set(&vp->vector_line[v], 1);
}

void virtio_pci_redrive(struct virtio_pci *vp)
{
	bool fn_masked;

	/* bar1_write() routes an entry whenever it is written unmasked: every unmasked one. */
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		if (!(vp->msix[v].ctrl & MSIX_CTRL_MASKED))
			msix_update_route(vp, v);
	/*
	 * INTx went up with an interrupt while MSI-X was off and comes down when the ISR is
	 * read, which also clears it: pending status with MSI-X off means the line is high.
	 */
	if (vp->intx && vp->dev->isr && !msix_enabled(vp, &fn_masked))
		irq_line_set(vp->intx, 1);
}

static void virtio_pci_interrupt(struct virtio_device *d, int q)
{
	struct virtio_pci *vp = d->transport;
	uint16_t v = q < 0 ? vp->config_vector : vp->queue_vector[q];
	bool fn_masked;

	if (!msix_enabled(vp, &fn_masked)) {
		msix_fire(vp, 0); /* goes to INTx */
		return;
	}
	if (v < VIRTIO_PCI_VECTORS)
		msix_fire(vp, v);
}

/* ---- BAR0 ------------------------------------------------------------------------ */

static uint64_t common_read(struct virtio_pci *vp, uint32_t off)
{
	struct virtio_device *d = vp->dev;
	struct virtq *q = vp->queue_select < d->ops->nr_queues ? &d->vq[vp->queue_select] : NULL;
	uint64_t f = virtio_device_features(d);

	switch (off) {
	case 0x00: return vp->device_feature_select;
	case 0x04: return vp->device_feature_select == 0 ? (uint32_t)f :
			  vp->device_feature_select == 1 ? (uint32_t)(f >> 32) : 0;
	case 0x08: return vp->driver_feature_select;
	case 0x0c: return vp->driver_feature_select == 0 ? (uint32_t)d->driver_features :
			  vp->driver_feature_select == 1 ? (uint32_t)(d->driver_features >> 32) : 0;
	case 0x10: return vp->config_vector;
	case 0x12: return (uint64_t)d->ops->nr_queues;
	case 0x14: return d->status;
	case 0x15: return d->config_generation & 0xff;
	case 0x16: return vp->queue_select;
	case 0x18: return q ? (q->size ? q->size : d->ops->queue_max) : 0;
	case 0x1a: return q ? vp->queue_vector[vp->queue_select] : VIRTIO_PCI_NO_VECTOR;
	case 0x1c: return q ? q->ready : 0;
	case 0x1e: return q ? vp->queue_select : 0;
	case 0x20: return q ? (uint32_t)q->desc_addr : 0;
	case 0x24: return q ? (uint32_t)(q->desc_addr >> 32) : 0;
	case 0x28: return q ? (uint32_t)q->avail_addr : 0;
	case 0x2c: return q ? (uint32_t)(q->avail_addr >> 32) : 0;
	case 0x30: return q ? (uint32_t)q->used_addr : 0;
	case 0x34: return q ? (uint32_t)(q->used_addr >> 32) : 0;
	default: return 0;
	}
}

static void set_half(uint64_t *v, bool high, uint32_t x)
{
	*v = high ? ((*v & 0xffffffffULL) | (uint64_t)x << 32) : ((*v & ~0xffffffffULL) | x);
}

/*
 * A vector the device does not have reads back as NO_VECTOR, which is how the driver learns
 * the mapping failed (virtio 1.2, 4.1.5.1.2): only real vectors are ever held.
 */
static uint16_t vector_or_none(uint16_t v)
{
	return v < VIRTIO_PCI_VECTORS ? v : VIRTIO_PCI_NO_VECTOR;
}

static void common_write(struct virtio_pci *vp, uint32_t off, uint64_t val, uint32_t len)
{
	struct virtio_device *d = vp->dev;
	struct virtq *q = vp->queue_select < d->ops->nr_queues ? &d->vq[vp->queue_select] : NULL;
	uint32_t v = (uint32_t)val;

	switch (off) {
	case 0x00: vp->device_feature_select = v; return;
	case 0x08: vp->driver_feature_select = v; return;
	case 0x0c:
		if (!(d->status & VIRTIO_STATUS_FEATURES_OK) && vp->driver_feature_select < 2)
			set_half(&d->driver_features, vp->driver_feature_select, v);
		return;
	case 0x10: vp->config_vector = vector_or_none((uint16_t)v); return;
	case 0x14: virtio_set_status(d, (uint8_t)v); return;
	case 0x16: vp->queue_select = (uint16_t)v; return;
	}
	if (!q)
		return;
	if (off == 0x1a) {
		vp->queue_vector[vp->queue_select] = vector_or_none((uint16_t)v);
		return;
	}
	if (off == 0x1c) {
		if (v == 1 && !q->ready && virtq_enable(q))
			virtio_device_fail(d, q->why);
		return;
	}
	if (q->ready)
		return; /* layout fixed while live */
	switch (off) {
	case 0x18: q->size = (uint16_t)MIN(v, (uint32_t)d->ops->queue_max); break;
	case 0x20: len == 8 ? (void)(q->desc_addr = val) : set_half(&q->desc_addr, false, v); break;
	case 0x24: set_half(&q->desc_addr, true, v); break;
	case 0x28: len == 8 ? (void)(q->avail_addr = val) : set_half(&q->avail_addr, false, v); break;
	case 0x2c: set_half(&q->avail_addr, true, v); break;
	case 0x30: len == 8 ? (void)(q->used_addr = val) : set_half(&q->used_addr, false, v); break;
	case 0x34: set_half(&q->used_addr, true, v); break;
	}
}

static void bar0_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_device *d = vp->dev;

	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (off < COMMON_OFF + COMMON_LEN) {
		uint64_t v = common_read(vp, (uint32_t)off);
		memcpy(data, &v, MIN(len, 8u));
	} else if (off == ISR_OFF) {
		*(uint8_t *)data = (uint8_t)d->isr;
		d->isr = 0; /* reading the ISR acknowledges it, and drops INTx */
		if (vp->intx)
			irq_line_set(vp->intx, 0);
	} else if (off >= DEVICE_OFF && off < DEVICE_OFF + DEVICE_LEN) {
		uint32_t o = (uint32_t)(off - DEVICE_OFF);
		if (range_fits(o, len, d->ops->config_size) && d->ops->config_read)
			d->ops->config_read(d, o, data, len);
	}
	pthread_mutex_unlock(&d->lock);
}

static void bar0_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_device *d = vp->dev;
	uint64_t v = 0;

	memcpy(&v, data, MIN(len, 8u));
	pthread_mutex_lock(&d->lock);
	if (off < COMMON_OFF + COMMON_LEN) {
		common_write(vp, (uint32_t)off, v, len);
	} else if (off >= DEVICE_OFF && off < DEVICE_OFF + DEVICE_LEN) {
		uint32_t o = (uint32_t)(off - DEVICE_OFF);
		if (range_fits(o, len, d->ops->config_size) && d->ops->config_write)
			d->ops->config_write(d, o, data, len);
	} else if (off >= NOTIFY_OFF && off < NOTIFY_OFF + NOTIFY_MULT * VIRTIO_MAX_QUEUES) {
		/* Only without a live ioeventfd (e.g. while the BAR moves). */
		virtio_queue_notify(d, (int)((off - NOTIFY_OFF) / NOTIFY_MULT));
	}
	pthread_mutex_unlock(&d->lock);
}

static const struct bus_device_ops bar0_ops = { .read = bar0_read, .write = bar0_write };

/* ---- BAR1: MSI-X table and PBA -------------------------------------------------------- */

static void bar1_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	uint8_t *table = (uint8_t *)vp->msix;

	memset(data, 0, len);
	pthread_mutex_lock(&vp->dev->lock);
	if (range_fits(off, len, sizeof(vp->msix)))
		memcpy(data, table + off, len);
	else if (off >= MSIX_PBA_OFF && range_fits(off - MSIX_PBA_OFF, len, 8))
		memcpy(data, (uint8_t *)&vp->pending + (off - MSIX_PBA_OFF), len);
	pthread_mutex_unlock(&vp->dev->lock);
}

static void bar1_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;

	pthread_mutex_lock(&vp->dev->lock);
	if (range_fits(off, len, sizeof(vp->msix))) {
		int v = (int)(off / 16);
		bool was_masked = vp->msix[v].ctrl & MSIX_CTRL_MASKED;

		memcpy((uint8_t *)vp->msix + off, data, len);
		if (!(vp->msix[v].ctrl & MSIX_CTRL_MASKED)) {
			msix_update_route(vp, v);
			if (was_masked && (vp->pending & (1ULL << v))) {
				vp->pending &= ~(1ULL << v);
				msix_fire(vp, v);
			}
		}
	}
	pthread_mutex_unlock(&vp->dev->lock);
}

static const struct bus_device_ops bar1_ops = { .read = bar1_read, .write = bar1_write };

/* ---- notifications ------------------------------------------------------------------ */

static void pci_notify_event(void *opaque, uint32_t events)
{
	struct pci_notify *n = opaque;

	(void)events;
	virtio_queue_kicked(n->vp->dev, n->vp->notify_fd[n->q], n->q);
}

static void doorbells_set(struct virtio_pci *vp, bool add)
{
	const struct virtio_doorbells *db = &vp->doorbells;

	for (int q = 0; q < vp->dev->ops->nr_queues; q++) {
		uint64_t addr = vp->notify_addr + NOTIFY_OFF + NOTIFY_MULT * (uint64_t)q;
		int ret = add ? db->add(db->opaque, addr, 2, (uint64_t)q, vp->notify_fd[q])
			      : db->remove(db->opaque, addr, 2, (uint64_t)q, vp->notify_fd[q]);
		if (ret)
			pr_warn("%s: cannot %s a queue doorbell%s", vp->dev->id, add ? "add" : "remove",
				add ? "; notifications take the slow path" : "");
	}
}

/* Keep the doorbells where BAR0 is now. */
static void virtio_pci_bar_moved(struct pci_device *pd, int bar, uint64_t old, bool old_mapped)
{
	struct virtio_pci *vp = pd->opaque;

	(void)old, (void)old_mapped;
	if (bar != 0 || !vp->doorbells.add)
		return;
	if (vp->notify_live)
		doorbells_set(vp, false);
	vp->notify_live = false;
	if (!pd->bars[0].mapped)
		return;
	vp->notify_addr = pd->bars[0].addr;
	doorbells_set(vp, true);
	vp->notify_live = true;
}

static int add_cap(struct pci_device *pd, uint8_t type, uint32_t off, uint32_t len, uint32_t extra,
		   bool has_extra)
{
	uint8_t cap[20] = { 0, 0, (uint8_t)(has_extra ? 20 : 16), type, 0 /* BAR0 */ };

	memcpy(cap + 8, &off, 4);
	memcpy(cap + 12, &len, 4);
	if (has_extra)
		memcpy(cap + 16, &extra, 4);
	return pci_add_capability(pd, PCI_CAP_VENDOR, cap, cap[2]) < 0 ? -ENOSPC : 0;
}

static uint32_t virtio_pci_class(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET: return 0x020000;
	case VIRTIO_ID_BLOCK: return 0x018000;
	case VIRTIO_ID_CONSOLE: return 0x078000;
	default: return 0xff0000;
	}
}

int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *dev, struct eventloop *loop,
		    const struct virtio_doorbells *doorbells)
{
	struct pci_device *pd = &vp->pci;
	int ret;

	memset(vp, 0, sizeof(*vp));
	vp->dev = dev;
	if (doorbells)
		vp->doorbells = *doorbells;
	for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->notify_fd[q] = -1;
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		vp->vector_line[v].fd = -1;
	vp->config_vector = VIRTIO_PCI_NO_VECTOR;
	for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->queue_vector[q] = VIRTIO_PCI_NO_VECTOR;
	dev->interrupt = virtio_pci_interrupt;
	dev->transport = vp;

	pci_device_init(pd, 0x1af4, (uint16_t)(0x1040 + dev->ops->device_id),
			(virtio_pci_class(dev->ops->device_id) << 8) | 1, 0x1af4, 0x1100);
	pd->cfg[0x3d] = 1; /* INTA# */
	pd->name = dev->id;
	pd->opaque = vp;
	pd->bar_moved = virtio_pci_bar_moved;
	pci_device_set_bar(pd, 0, BAR0_SIZE, &bar0_ops, vp);
	pci_device_set_bar(pd, 1, BAR1_SIZE, &bar1_ops, vp);
	if (add_cap(pd, VIRTIO_PCI_CAP_COMMON, COMMON_OFF, COMMON_LEN, 0, false) ||
	    add_cap(pd, VIRTIO_PCI_CAP_ISR, ISR_OFF, 1, 0, false) ||
	    add_cap(pd, VIRTIO_PCI_CAP_DEVICE, DEVICE_OFF, DEVICE_LEN, 0, false) ||
	    add_cap(pd, VIRTIO_PCI_CAP_NOTIFY, NOTIFY_OFF, NOTIFY_MULT * VIRTIO_MAX_QUEUES, NOTIFY_MULT, true))
		return -ENOSPC;
	/* MSI-X last, so it heads the capability list (msix_enabled() relies on it). */
	uint8_t msix[12] = { 0, 0, VIRTIO_PCI_VECTORS - 1, 0 };
	uint32_t table = MSIX_TABLE_OFF | 1 /* BAR1 */, pba = MSIX_PBA_OFF | 1;
	memcpy(msix + 4, &table, 4);
	memcpy(msix + 8, &pba, 4);
	int cap = pci_add_capability(pd, PCI_CAP_MSIX, msix, sizeof(msix));
	if (cap < 0)
		return -ENOSPC;
	pd->wmask[cap + 3] = 0xc0; /* MSI-X enable and function mask */

	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		vp->msix[v].ctrl = MSIX_CTRL_MASKED;
	for (int q = 0; q < dev->ops->nr_queues; q++) {
		vp->notify[q] = (struct pci_notify){ vp, q };
		vp->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->notify_fd[q] < 0)
			return -errno;
		ret = eventloop_add(loop, vp->notify_fd[q], EPOLLIN, pci_notify_event, &vp->notify[q]);
		if (ret)
			return ret;
	}
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (vp->notify_live && vp->doorbells.remove)
		doorbells_set(vp, false);
	vp->notify_live = false;
	for (int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (vp->notify_fd[q] >= 0)
			close(vp->notify_fd[q]);
		vp->notify_fd[q] = -1;
	}
}
