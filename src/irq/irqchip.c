/* The in-kernel irqchip (PIC, IOAPIC, LAPIC) and PIT, and lines that drive it. */
#include "irq/irq.h"

#include <linux/kvm.h>

#include "cpu/kvm.h"
#include "util/log.h"

int irqchip_create(int vm_fd)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int ret;

	/* KVM_CREATE_IRQCHIP also installs the default GSI routing: GSI n -> PIC/IOAPIC pin n. */
	ret = kvm_ioctl(vm_fd, KVM_CREATE_IRQCHIP, NULL);
	if (ret < 0)
		return ret;
	ret = kvm_ioctl(vm_fd, KVM_CREATE_PIT2, &pit);
	return ret < 0 ? ret : 0;
}

static void kvm_line_set(struct irq_line *line, int level)
{
	struct kvm_irq_level irq = { .irq = line->gsi, .level = (uint32_t)level };

	if (kvm_ioctl(line->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		pr_ratelimited(LOG_WARN, "cannot set GSI %u to %d", line->gsi, level);
}

void irqchip_line_init(struct irq_line *line, int vm_fd, uint32_t gsi)
{
	line->set = kvm_line_set;
	line->gsi = gsi;
	line->vm_fd = vm_fd;
}
