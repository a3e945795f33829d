/* irqfd lines and ioeventfd registration: the interrupt and notification fast paths. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cpu/kvm.h"
#include "irq/irq.h"
#include "util/log.h"

static void irqfd_set(struct irq_line *line, int level)
{
	uint64_t one = 1;

	if (level && write(line->fd, &one, sizeof(one)) < 0)
		pr_ratelimited(LOG_WARN, "irqfd for GSI %u: %s", line->gsi, strerror(errno));
}

int irqfd_line_init(struct irq_line *line, int vm_fd, uint32_t gsi)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		return -errno;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };
	int ret = kvm_ioctl(vm_fd, KVM_IRQFD, &irqfd);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	line->set = irqfd_set;
	line->gsi = gsi;
	line->vm_fd = vm_fd;
	line->fd = fd;
	return 0;
}

static int ioeventfd(int vm_fd, uint64_t addr, uint32_t len, uint64_t datamatch, int fd, bool pio,
		     bool deassign)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};
	int ret = kvm_ioctl(vm_fd, KVM_IOEVENTFD, &io);
	return ret < 0 ? ret : 0;
}

int ioeventfd_register(int vm_fd, uint64_t addr, uint32_t len, uint64_t datamatch, int fd, bool pio)
{
	return ioeventfd(vm_fd, addr, len, datamatch, fd, pio, false);
}

int ioeventfd_unregister(int vm_fd, uint64_t addr, uint32_t len, uint64_t datamatch, int fd, bool pio)
{
	return ioeventfd(vm_fd, addr, len, datamatch, fd, pio, true);
}
