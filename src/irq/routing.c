/* KVM GSI routing: the irqchip's default routes plus one MSI route per MSI-X vector in use. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/kvm.h"
#include "irq/irq.h"

#define IRQ_ROUTING_FIRST_MSI_GSI 24

void irq_routing_init(struct irq_routing *r, int vm_fd)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->vm_fd = vm_fd;
}

int irq_routing_alloc_msi(struct irq_routing *r)
{
	pthread_mutex_lock(&r->lock);
	int i = r->nr < IRQ_ROUTING_MAX_MSI ? r->nr++ : -1;
	pthread_mutex_unlock(&r->lock);
	return i < 0 ? -ENOSPC : IRQ_ROUTING_FIRST_MSI_GSI + i;
}

/* The whole table goes to KVM at once (KVM_SET_GSI_ROUTING replaces it). Lock held. */
static int irq_routing_commit(struct irq_routing *r)
{
	int n = 16 + 24 + r->nr;
	struct kvm_irq_routing *t = calloc(1, sizeof(*t) + (size_t)n * sizeof(t->entries[0]));
	int k = 0;

	if (!t)
		return -ENOMEM;
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		t->entries[k++] = (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi } };
		if (gsi < 16)
			t->entries[k++] = (struct kvm_irq_routing_entry){ .gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 } };
	}
	for (int i = 0; i < r->nr; i++) {
		if (!r->msi[i].valid)
			continue;
		t->entries[k++] = (struct kvm_irq_routing_entry){
			.gsi = (uint32_t)(IRQ_ROUTING_FIRST_MSI_GSI + i), .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)r->msi[i].addr,
				   .address_hi = (uint32_t)(r->msi[i].addr >> 32), .data = r->msi[i].data } };
	}
	t->nr = (uint32_t)k;
	int ret = kvm_ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t);
	free(t);
	return ret < 0 ? ret : 0;
}

int irq_routing_set_msi(struct irq_routing *r, int gsi, uint64_t addr, uint32_t data)
{
	int i = gsi - IRQ_ROUTING_FIRST_MSI_GSI;
	int ret = 0;

	if (i < 0 || i >= IRQ_ROUTING_MAX_MSI)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (!r->msi[i].valid || r->msi[i].addr != addr || r->msi[i].data != data) {
		r->msi[i].valid = true;
		r->msi[i].addr = addr;
		r->msi[i].data = data;
		ret = irq_routing_commit(r);
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}
