/*
 * The virtio-pci transport (virtio 1.2, 4.1, modern only): capabilities pointing into BAR0
 * (common config, ISR, device config, notifications) and MSI-X in BAR1, each vector an MSI
 * line (made by the builder) pointed at the vector's message whenever the guest unmasks it.
 */
#ifndef VMON_VIRTIO_PCI_H
#define VMON_VIRTIO_PCI_H

#include "bus/pci.h"
#include "devices/virtio/virtio.h"
#include "util/eventloop.h"

#define VIRTIO_PCI_VECTORS (VIRTIO_MAX_QUEUES + 1)
#define VIRTIO_PCI_NO_VECTOR 0xffff

struct virtio_pci;

struct pci_notify {
	struct virtio_pci *vp;
	int q;
};

struct virtio_pci {
	struct pci_device pci;
	struct virtio_device *dev;
	struct virtio_doorbells doorbells;
	uint32_t device_feature_select, driver_feature_select;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	struct {
		uint32_t addr_lo, addr_hi, data, ctrl;
	} msix[VIRTIO_PCI_VECTORS];
	uint64_t pending;  /* MSI-X PBA */
	struct irq_line vector_line[VIRTIO_PCI_VECTORS]; /* MSI lines, made by the builder */
	int notify_fd[VIRTIO_MAX_QUEUES];
	struct pci_notify notify[VIRTIO_MAX_QUEUES];
	bool notify_live;  /* ioeventfds registered at notify_addr */
	struct irq_line *intx; /* INTA#, used while MSI-X is off; level until the ISR is read */
	uint64_t notify_addr;
};

/*
 * Set up the transport for dev. The caller then makes vp->vector_line[v] MSI lines, wires
 * vp->intx to the GSI of its slot and adds vp->pci to the PCI bus; the doorbells follow
 * BAR0 wherever the guest maps it (through `doorbells`).
 */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *dev, struct eventloop *loop,
		    const struct virtio_doorbells *doorbells) __must_check;

/* Remove the doorbells and close the queue eventfds (I/O thread stopped). */
void virtio_pci_destroy(struct virtio_pci *vp);

/*
 * After a restore loaded the registers: point each vector's line at its message, as the
 * guest's writes to the MSI-X table did, and raise INTx if it was high. Device lock held.
 */
void virtio_pci_redrive(struct virtio_pci *vp);

/*
 * A whole virtio device on PCI as a device object; model = struct virtio_pci, set up by
 * virtio_pci_init() and added to its PCI bus (pci_state.c). Its section holds the core,
 * the queues, the transport's registers and MSI-X table, the type's part and the PCI
 * function (config space, BAR placement); finish_restore puts the BARs, and with BAR0 the
 * doorbells, back where the saved config has them.
 */
extern const struct device_ops virtio_pci_state_ops;

#endif
