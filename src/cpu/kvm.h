/*
 * The KVM system and VM file descriptors: capability checks, memory slots, VM-wide setup.
 * Every ioctl goes through kvm_ioctl(), which names the failing ioctl in its log line.
 */
#ifndef VMON_KVM_H
#define VMON_KVM_H

#include <linux/kvm.h>
#include <stdint.h>
#include "mem/guest_mem.h"
#include "util/util.h"

struct kvm {
	int sys_fd;        /* /dev/kvm */
	int vm_fd;
	int run_size;      /* mmap size of each vCPU's kvm_run */
	struct kvm_cpuid2 *supported_cpuid;
	bool tsc_deadline; /* KVM_CAP_TSC_DEADLINE_TIMER */
};

/* ioctl() that logs "NAME failed: strerror" and returns -errno on failure, else its result. */
int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name);
#define kvm_ioctl(fd, req, arg) kvm_ioctl_named((fd), (req), (arg), #req)

/*
 * Open /dev/kvm (or $VMON_KVM_DEV), check the API version and each capability vmon
 * relies on, and create a VM. On failure writes one sentence into err.
 */
int kvm_open(struct kvm *kvm, char *err, size_t errlen) __must_check;
void kvm_close(struct kvm *kvm);

/* Map every region of guest RAM into the VM, with KVM's dirty-page log if asked. */
int kvm_map_memory(struct kvm *kvm, const struct guest_mem *gm, bool dirty_log) __must_check;

/*
 * The VM-wide kvmclock (ns). Saved at pause and written back at resume, so the guest's
 * clock does not leap over the time it was stopped (what QEMU does on stop/cont).
 */
int kvm_clock_get(struct kvm *kvm, uint64_t *ns) __must_check;
int kvm_clock_set(struct kvm *kvm, uint64_t ns) __must_check;

#endif
