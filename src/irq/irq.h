/*
 * Interrupt lines and the interrupt-controller choice, in one place. Devices raise an
 * irq_line and never call KVM; the VM decides what is behind it (today: KVM's in-kernel
 * PIC + IOAPIC + LAPIC and PIT).
 */
#ifndef VMON_IRQ_H
#define VMON_IRQ_H

#include <pthread.h>
#include <stdint.h>
#include "util/util.h"

struct irq_line {
	void (*set)(struct irq_line *line, int level);
	uint32_t gsi;
	int vm_fd;
	int fd; /* irqfd lines: the eventfd */
};

static inline void irq_line_set(struct irq_line *line, int level)
{
	line->set(line, level);
}

/* Create the in-kernel irqchip and PIT. Must precede vCPU creation. */
int irqchip_create(int vm_fd) __must_check;

/* A line wired to ISA IRQ / GSI `gsi` of the in-kernel irqchip. */
void irqchip_line_init(struct irq_line *line, int vm_fd, uint32_t gsi);

/* ISA IRQs of the legacy devices. */
#define IRQ_COM1 4

/* Where the in-kernel IOAPIC and LAPIC sit (described to the guest in the MADT). */
#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u

/*
 * irqfd: a line whose rising edge is an eventfd write, injected by KVM without a trip
 * through vmon (edge-triggered, as virtio-mmio and MSI want). 0 or -errno.
 */
int irqfd_line_init(struct irq_line *line, int vm_fd, uint32_t gsi) __must_check;

/* ioeventfd: KVM signals `fd` on a guest write of `datamatch` to addr (MMIO or port). */
int ioeventfd_register(int vm_fd, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
		       bool pio) __must_check;
/* Undo ioeventfd_register (same arguments). */
int ioeventfd_unregister(int vm_fd, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
			 bool pio) __must_check;

/* GSI routing for MSI: each MSI-X vector gets a GSI whose route holds its address/data. */
#define IRQ_ROUTING_MAX_MSI 256

struct irq_routing {
	pthread_mutex_t lock;
	int vm_fd;
	int nr;
	struct {
		bool valid;
		uint64_t addr;
		uint32_t data;
	} msi[IRQ_ROUTING_MAX_MSI];
};

void irq_routing_init(struct irq_routing *r, int vm_fd);
/* A fresh GSI for an MSI vector (route set later). GSI number or -ENOSPC. */
int irq_routing_alloc_msi(struct irq_routing *r) __must_check;
/* Point the GSI at an MSI message; pushes the table to KVM when it changed. */
int irq_routing_set_msi(struct irq_routing *r, int gsi, uint64_t addr, uint32_t data) __must_check;

#endif
