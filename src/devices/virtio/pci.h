/*
 * The virtio-pci transport (virtio 1.2, 4.1, modern only): capabilities pointing into BAR0
 * (common config, ISR, device config, notifications) and MSI-X in BAR1, each vector an
 * irqfd on its own GSI routed by KVM to the vector's MSI message.
 */
#ifndef VMON_VIRTIO_PCI_H
#define VMON_VIRTIO_PCI_H

#include "bus/pci.h"
#include "devices/virtio/virtio.h"
#include "util/eventloop.h"

#define VIRTIO_PCI_VECTORS (VIRTIO_MAX_QUEUES + 1)

struct virtio_pci;

struct pci_notify {
	struct virtio_pci *vp;
	int q;
};

struct virtio_pci {
	struct pci_device pci;
	struct virtio_device *dev;
	struct irq_routing *routing;
	int vm_fd;
	uint32_t device_feature_select, driver_feature_select;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	struct {
		uint32_t addr_lo, addr_hi, data, ctrl;
	} msix[VIRTIO_PCI_VECTORS];
	uint64_t pending;  /* MSI-X PBA */
	int vector_gsi[VIRTIO_PCI_VECTORS];
	struct irq_line vector_line[VIRTIO_PCI_VECTORS];
	int notify_fd[VIRTIO_MAX_QUEUES];
	struct pci_notify notify[VIRTIO_MAX_QUEUES];
	bool notify_live;  /* ioeventfds registered at notify_addr */
	struct irq_line *intx; /* INTA#, used while MSI-X is off; level until the ISR is read */
	uint64_t notify_addr;
};

/* Set up the transport for dev; the caller then adds vp->pci to the PCI bus and wires
 * vp->intx to the GSI of its slot. */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *dev, struct irq_routing *routing,
		    struct eventloop *loop, int vm_fd) __must_check;

#endif
