/* KVM interrupt lines (KVM_IRQ_LINE, irqfd, MSI through an irqfd and a route) and doorbells (ioeventfd). */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hv/kvm/kvm.h"
#include "util/log.h"

/* Level lines: KVM_IRQ_LINE keeps the pin asserted until lowered. */
static void level_line_set(struct irq_line *line, int level)
{
	struct kvm_vm *kvm = line->owner;
	struct kvm_irq_level irq = { .irq = line->gsi, .level = (uint32_t)level };

	if (kvm_ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		pr_ratelimited(LOG_WARN, "cannot set GSI %u to %d", line->gsi, level);
}

/* Edge and MSI lines: a raise is an eventfd write that KVM injects with no trip through vmon. */
static void irqfd_line_set(struct irq_line *line, int level)
{
	uint64_t one = 1;

	if (level && write(line->fd, &one, sizeof(one)) < 0)
		pr_ratelimited(LOG_WARN, "irqfd for GSI %u: %s", line->gsi, strerror(errno));
}

static int msi_line_set_msi(struct irq_line *line, uint64_t addr, uint32_t data)
{
	return kvm_routing_set_msi(line->owner, (int)line->gsi, addr, data);
}

static int irqfd_attach(struct kvm_vm *kvm, struct irq_line *line, uint32_t gsi)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		return -errno;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };
	int ret = kvm_ioctl(kvm->vm_fd, KVM_IRQFD, &irqfd);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	line->fd = fd;
	return 0;
}

int kvm_line_gsi(struct hv_vm *hv, struct irq_line *line, uint32_t gsi, enum irq_trigger trigger)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);

	memset(line, 0, sizeof(*line));
	line->owner = kvm;
	line->gsi = gsi;
	line->fd = -1;
	if (trigger == IRQ_LEVEL) {
		line->set = level_line_set;
		return 0;
	}
	line->set = irqfd_line_set;
	return irqfd_attach(kvm, line, gsi);
}

int kvm_line_msi(struct hv_vm *hv, struct irq_line *line)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);
	int gsi = kvm_routing_alloc_msi(kvm);

	memset(line, 0, sizeof(*line));
	line->fd = -1;
	if (gsi < 0)
		return gsi;
	int ret = irqfd_attach(kvm, line, (uint32_t)gsi);
	if (ret) {
		kvm_routing_free_msi(kvm, gsi);
		return ret;
	}
	line->owner = kvm;
	line->gsi = (uint32_t)gsi;
	line->set = irqfd_line_set;
	line->set_msi = msi_line_set_msi;
	return 0;
}

void kvm_line_release(struct hv_vm *hv, struct irq_line *line)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);

	if (line->owner != kvm)
		return; /* never made, or made by someone else */
	if (line->fd >= 0) {
		struct kvm_irqfd irqfd = { .fd = (uint32_t)line->fd, .gsi = line->gsi,
					   .flags = KVM_IRQFD_FLAG_DEASSIGN };
		if (kvm_ioctl(kvm->vm_fd, KVM_IRQFD, &irqfd) < 0)
			pr_warn("cannot detach the irqfd of GSI %u", line->gsi);
		close(line->fd);
	}
	if (line->set_msi)
		kvm_routing_free_msi(kvm, (int)line->gsi);
	memset(line, 0, sizeof(*line));
	line->fd = -1;
}

static int ioeventfd(struct kvm_vm *kvm, const struct hv_notify *n, bool deassign)
{
	struct kvm_ioeventfd io = {
		.datamatch = n->datamatch,
		.addr = n->addr,
		.len = n->len,
		.fd = n->fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (n->pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};
	int ret = kvm_ioctl(kvm->vm_fd, KVM_IOEVENTFD, &io);
	return ret < 0 ? ret : 0;
}

int kvm_notify_add(struct hv_vm *hv, const struct hv_notify *n)
{
	return ioeventfd(kvm_vm_of(hv), n, false);
}

int kvm_notify_remove(struct hv_vm *hv, const struct hv_notify *n)
{
	return ioeventfd(kvm_vm_of(hv), n, true);
}
