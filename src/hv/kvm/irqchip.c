/* KVM's in-kernel irqchip (PIC x2, IOAPIC, LAPICs) and PIT: creation, save and restore. */
#include <errno.h>
#include <string.h>

#include "hv/kvm/kvm.h"

int kvm_irqchip_create(struct hv_vm *hv)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int ret;

	/* KVM_CREATE_IRQCHIP also installs the default GSI routing: GSI n -> PIC/IOAPIC pin n. */
	ret = kvm_ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, NULL);
	if (ret < 0)
		return ret;
	ret = kvm_ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit);
	return ret < 0 ? ret : 0;
}

static const uint32_t chip_ids[3] = { KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE,
				      KVM_IRQCHIP_IOAPIC };

static struct kvm_irqchip *chip_slot(struct hv_irqchip_state *st, int i)
{
	return i < 2 ? &st->pic[i] : &st->ioapic;
}

int kvm_irqchip_save(struct hv_vm *hv, struct hv_irqchip_state *st)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);
	struct kvm_clock_data clock = { 0 };
	int ret;

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < 3; i++) {
		struct kvm_irqchip *c = chip_slot(st, i);

		c->chip_id = chip_ids[i];
		ret = kvm_ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, c);
		if (ret < 0)
			return ret;
	}
	ret = kvm_ioctl(kvm->vm_fd, KVM_GET_PIT2, &st->pit);
	if (ret >= 0)
		ret = kvm_ioctl(kvm->vm_fd, KVM_GET_CLOCK, &clock);
	st->clock_ns = clock.clock;
	return ret < 0 ? ret : 0;
}

int kvm_irqchip_restore(struct hv_vm *hv, const struct hv_irqchip_state *st)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);
	struct hv_irqchip_state copy = *st;
	struct kvm_clock_data clock = { .clock = st->clock_ns };
	int ret;

	for (int i = 0; i < 3; i++) {
		struct kvm_irqchip *c = chip_slot(&copy, i);

		/* The state names its chip; a snapshot must not send one chip's state to another. */
		if (c->chip_id != chip_ids[i])
			return -EINVAL;
		ret = kvm_ioctl(kvm->vm_fd, KVM_SET_IRQCHIP, c);
		if (ret < 0)
			return ret;
	}
	ret = kvm_ioctl(kvm->vm_fd, KVM_SET_PIT2, &copy.pit);
	if (ret >= 0)
		ret = kvm_ioctl(kvm->vm_fd, KVM_SET_CLOCK, &clock);
	return ret < 0 ? ret : 0;
}
