/*
 * The interrupt line a device raises. What is behind it (KVM's in-kernel irqchip through an
 * irqfd or KVM_IRQ_LINE, an MSI route, a fake in a unit test) belongs to whoever made the
 * line: the hypervisor layer (hv/hv.h) in a VM. Devices only call irq_line_set() and, for
 * MSI lines, irq_line_set_msi().
 */
#ifndef VMON_IRQ_H
#define VMON_IRQ_H

#include <errno.h>
#include <stdint.h>

struct irq_line {
	/* Level 1 raises, 0 lowers; on an edge line only a raise does anything. Any thread. */
	void (*set)(struct irq_line *line, int level);
	/* MSI lines: the message (address, data) a raise delivers. 0 or -errno. */
	int (*set_msi)(struct irq_line *line, uint64_t addr, uint32_t data);
	void *owner;  /* the maker's state (e.g. the KVM VM) */
	uint32_t gsi;
	int fd;       /* irqfd lines: the eventfd; -1 otherwise */
	uint64_t raised; /* raises and MSIs sent (relaxed atomics; metrics) */
};

static inline void irq_line_set(struct irq_line *line, int level)
{
	if (level)
		__atomic_add_fetch(&line->raised, 1, __ATOMIC_RELAXED);
	line->set(line, level);
}

static inline int irq_line_set_msi(struct irq_line *line, uint64_t addr, uint32_t data)
{
	int ret = line->set_msi ? line->set_msi(line, addr, data) : -ENOTSUP;

	if (!ret)
		__atomic_add_fetch(&line->raised, 1, __ATOMIC_RELAXED);
	return ret;
}

#endif
