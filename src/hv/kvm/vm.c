/* The KVM backend's VM: open, capability checks, supported CPUID, memory slots, dirty log, clock. */
#include "hv/kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"

/* Below the 4 GiB boundary, clear of the IOAPIC/LAPIC: three pages for Intel's TSS. */
#define KVM_TSS_ADDR 0xfffbd000UL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EAGAIN && req != KVM_RUN);
	if (ret < 0) {
		int e = errno;
		if (!(req == KVM_RUN && (e == EINTR || e == EAGAIN)))
			pr_err("%s failed: %s", name, strerror(e));
		return -e;
	}
	return ret;
}

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK" },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
	{ KVM_CAP_XSAVE, "KVM_CAP_XSAVE" },
};

static int kvm_get_supported_cpuid(struct kvm_vm *kvm)
{
	for (int n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = (uint32_t)n;
		if (ioctl(kvm->sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			kvm->supported_cpuid = c;
			return 0;
		}
		int e = errno;
		free(c);
		if (e != E2BIG) {
			pr_err("KVM_GET_SUPPORTED_CPUID failed: %s", strerror(e));
			return -e;
		}
	}
	return -E2BIG;
}

static void kvm_vm_destroy(struct hv_vm *hv);

static int kvm_open(struct kvm_vm *kvm, char *err, size_t errlen)
{
	const char *dev = getenv("VMON_KVM_DEV") ? getenv("VMON_KVM_DEV") : "/dev/kvm";
	int ret;

	kvm->sys_fd = open(dev, O_RDWR | O_CLOEXEC);
	if (kvm->sys_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", dev, strerror(errno));
		return ret;
	}
	ret = ioctl(kvm->sys_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		snprintf(err, errlen, "%s: KVM API version %d, vmon needs %d", dev, ret,
			 KVM_API_VERSION);
		ret = -ENOTSUP;
		goto err;
	}
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "%s lacks %s, which vmon needs", dev, required_caps[i].name);
			ret = -ENOTSUP;
			goto err;
		}
	}
	kvm->tsc_deadline = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	ret = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG2);
	kvm->guest_debug = ret > 0 ? (uint32_t)ret : 0;
	ret = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	kvm->sync_regs = ret > 0 && (ret & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) ==
				    (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
	kvm->run_size = ioctl(kvm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->run_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE returned %d", kvm->run_size);
		ret = -ENOTSUP;
		goto err;
	}
	ret = kvm_get_supported_cpuid(kvm);
	if (ret) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(-ret));
		goto err;
	}
	kvm->vm_fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, 0);
	if (kvm->vm_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "KVM_CREATE_VM failed: %s", strerror(errno));
		goto err;
	}
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0 ||
	    ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		ret = -errno;
		snprintf(err, errlen, "KVM_SET_TSS_ADDR/KVM_SET_IDENTITY_MAP_ADDR failed: %s",
			 strerror(errno));
		goto err;
	}
	return 0;
err:
	return ret;
}

static int kvm_vm_create(struct hv_vm **out, char *err, size_t errlen)
{
	struct kvm_vm *kvm = calloc(1, sizeof(*kvm));
	int ret;

	*out = NULL;
	if (!kvm) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	kvm->hv.ops = &hv_kvm;
	kvm->sys_fd = kvm->vm_fd = -1;
	kvm->nr_msrs = -1;
	pthread_mutex_init(&kvm->msr_lock, NULL);
	kvm_routing_init(&kvm->routing);
	ret = kvm_open(kvm, err, errlen);
	if (ret) {
		kvm_vm_destroy(&kvm->hv);
		return ret;
	}
	*out = &kvm->hv;
	return 0;
}

static void kvm_vm_destroy(struct hv_vm *hv)
{
	struct kvm_vm *kvm;

	if (!hv)
		return;
	kvm = kvm_vm_of(hv);
	/* Closing the VM fd drops every slot, irqfd and ioeventfd KVM holds for it. */
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->sys_fd >= 0)
		close(kvm->sys_fd);
	free(kvm->supported_cpuid);
	pthread_mutex_destroy(&kvm->msr_lock);
	pthread_mutex_destroy(&kvm->routing.lock);
	free(kvm);
}

static int kvm_map_memory(struct hv_vm *hv, const struct guest_mem *gm, bool dirty_log)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);

	kvm->gm = gm;
	for (int i = 0; i < gm->nr_regions; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = (uint32_t)i,
			.flags = dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = gm->regions[i].gpa,
			.memory_size = gm->regions[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)gm->regions[i].host,
		};
		int ret = kvm_ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static int kvm_dirty_log_get(struct hv_vm *hv, int slot, uint64_t *bitmap)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);
	struct kvm_dirty_log log = { .slot = (uint32_t)slot, .dirty_bitmap = bitmap };

	if (!kvm->gm || slot < 0 || slot >= kvm->gm->nr_regions)
		return -EINVAL;
	int ret = kvm_ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log);
	return ret < 0 ? ret : 0;
}

/* Extra slots are numbered after RAM's, which map_memory() numbers from 0. */
static int kvm_map_extra(struct hv_vm *hv, uint32_t id, uint64_t gpa, uint64_t size, void *host,
			 bool read_only)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);
	struct kvm_userspace_memory_region r = {
		.slot = GM_MAX_REGIONS + id,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
		.flags = read_only && size ? KVM_MEM_READONLY : 0,
	};

	if (id >= HV_MAX_EXTRA_SLOTS || (gpa | size) & 0xfff)
		return -EINVAL;
	/* Not kvm_ioctl(): a guest moving its BAR over RAM makes this fail, and the caller's
	 * report of it is rate-limited. */
	return ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

static int kvm_clock_get(struct hv_vm *hv, uint64_t *ns)
{
	struct kvm_vm *kvm = kvm_vm_of(hv);
	struct kvm_clock_data c = { 0 };
	int ret = kvm_ioctl(kvm->vm_fd, KVM_GET_CLOCK, &c);

	if (ret < 0)
		return ret;
	*ns = c.clock;
	return 0;
}

static int kvm_clock_set(struct hv_vm *hv, uint64_t ns)
{
	struct kvm_clock_data c = { .clock = ns };
	int ret = kvm_ioctl(kvm_vm_of(hv)->vm_fd, KVM_SET_CLOCK, &c);

	return ret < 0 ? ret : 0;
}

const struct hv_ops hv_kvm = {
	.name = "kvm",
	.vcpu = &kvm_vcpu_ops,
	.vm_create = kvm_vm_create,
	.vm_destroy = kvm_vm_destroy,
	.map_memory = kvm_map_memory,
	.dirty_log_get = kvm_dirty_log_get,
	.map_extra = kvm_map_extra,
	.irqchip_create = kvm_irqchip_create,
	.irqchip_save = kvm_irqchip_save,
	.irqchip_restore = kvm_irqchip_restore,
	.line_gsi = kvm_line_gsi,
	.line_msi = kvm_line_msi,
	.line_release = kvm_line_release,
	.notify_add = kvm_notify_add,
	.notify_remove = kvm_notify_remove,
	.clock_get = kvm_clock_get,
	.clock_set = kvm_clock_set,
};
