/* KVM GSI routing: the irqchip's default routes plus one MSI route per MSI line in use. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/kvm/kvm.h"

void kvm_routing_init(struct kvm_routing *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

int kvm_routing_alloc_msi(struct kvm_vm *k)
{
	struct kvm_routing *r = &k->routing;
	int gsi = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < KVM_ROUTING_MAX_MSI; i++) {
		if (!r->msi[i].used) {
			r->msi[i].used = true;
			r->msi[i].valid = false;
			r->nr = MAX(r->nr, i + 1);
			gsi = KVM_ROUTING_FIRST_MSI_GSI + i;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

/* The whole table goes to KVM at once (KVM_SET_GSI_ROUTING replaces it). Lock held. */
static int kvm_routing_commit(struct kvm_vm *kvm)
{
	struct kvm_routing *r = &kvm->routing;
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
		if (!r->msi[i].used || !r->msi[i].valid)
			continue;
		t->entries[k++] = (struct kvm_irq_routing_entry){
			.gsi = (uint32_t)(KVM_ROUTING_FIRST_MSI_GSI + i), .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)r->msi[i].addr,
				   .address_hi = (uint32_t)(r->msi[i].addr >> 32), .data = r->msi[i].data } };
	}
	t->nr = (uint32_t)k;
	int ret = kvm_ioctl(kvm->vm_fd, KVM_SET_GSI_ROUTING, t);
	free(t);
	return ret < 0 ? ret : 0;
}

void kvm_routing_free_msi(struct kvm_vm *k, int gsi)
{
	int i = gsi - KVM_ROUTING_FIRST_MSI_GSI;

	if (i < 0 || i >= KVM_ROUTING_MAX_MSI)
		return;
	pthread_mutex_lock(&k->routing.lock);
	bool had_route = k->routing.msi[i].valid;
	k->routing.msi[i].used = k->routing.msi[i].valid = false;
	/* A route left behind would reach whoever gets this GSI next (a failure is logged). */
	if (had_route)
		(void)kvm_routing_commit(k);
	pthread_mutex_unlock(&k->routing.lock);
}

int kvm_routing_set_msi(struct kvm_vm *k, int gsi, uint64_t addr, uint32_t data)
{
	struct kvm_routing *r = &k->routing;
	int i = gsi - KVM_ROUTING_FIRST_MSI_GSI;
	int ret = 0;

	if (i < 0 || i >= KVM_ROUTING_MAX_MSI)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (!r->msi[i].used) {
		ret = -EINVAL;
	} else if (!r->msi[i].valid || r->msi[i].addr != addr || r->msi[i].data != data) {
		r->msi[i].valid = true;
		r->msi[i].addr = addr;
		r->msi[i].data = data;
		ret = kvm_routing_commit(k);
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}
