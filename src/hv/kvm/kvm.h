/*
 * The KVM backend's own state, shared by its files (the files in hv/kvm/) and by nothing else:
 * the system and VM fds, the supported CPUID, the MSI routes, the saveable MSRs.
 * Every ioctl goes through kvm_ioctl(), which names the failing ioctl in its log line.
 */
#ifndef VMON_HV_KVM_H
#define VMON_HV_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "hv/hv.h"
#include "util/util.h"

/* GSI routing: the irqchip's default routes plus one MSI route per MSI line. */
#define KVM_ROUTING_FIRST_MSI_GSI 24
#define KVM_ROUTING_MAX_MSI 256

struct kvm_routing {
	pthread_mutex_t lock;
	int nr;
	struct {
		bool used, valid;
		uint64_t addr;
		uint32_t data;
	} msi[KVM_ROUTING_MAX_MSI];
};

struct kvm_vm {
	struct hv_vm hv;
	int sys_fd;        /* /dev/kvm */
	int vm_fd;
	int run_size;      /* mmap size of each vCPU's kvm_run */
	struct kvm_cpuid2 *supported_cpuid;
	bool tsc_deadline; /* KVM_CAP_TSC_DEADLINE_TIMER */
	uint32_t guest_debug; /* KVM_CAP_SET_GUEST_DEBUG2: the KVM_GUESTDBG_* flags it takes */
	bool sync_regs;    /* KVM_CAP_SYNC_REGS with registers and segments: kvm_run carries them */
	struct kvm_routing routing;
	const struct guest_mem *gm;     /* what map_memory mapped (dirty-log sizes) */
	pthread_mutex_t msr_lock;
	int nr_msrs;                    /* -1 until the first vCPU probed them */
	uint32_t msrs[VCPU_CTX_MAX_MSRS];
};

/* The KVM state behind a vCPU (vcpu->priv). */
struct kvm_vcpu {
	int fd;
	struct kvm_run *run;
	bool regs_synced; /* kvm_run->kvm_valid_regs asks for them at every exit (profiling) */
};

static inline struct kvm_vm *kvm_vm_of(struct hv_vm *hv)
{
	return (struct kvm_vm *)((char *)hv - offsetof(struct kvm_vm, hv));
}

/* ioctl() that logs "NAME failed: strerror" and returns -errno on failure, else its result. */
int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name);
#define kvm_ioctl(fd, req, arg) kvm_ioctl_named((fd), (req), (arg), #req)

extern const struct cpu_backend_ops kvm_vcpu_ops;

/* irqchip.c */
int kvm_irqchip_create(struct hv_vm *hv) __must_check;
int kvm_irqchip_save(struct hv_vm *hv, struct hv_irqchip_state *st) __must_check;
int kvm_irqchip_restore(struct hv_vm *hv, const struct hv_irqchip_state *st) __must_check;

/* irqfd.c: lines and doorbells */
int kvm_line_gsi(struct hv_vm *hv, struct irq_line *line, uint32_t gsi,
		 enum irq_trigger trigger) __must_check;
int kvm_line_msi(struct hv_vm *hv, struct irq_line *line) __must_check;
void kvm_line_release(struct hv_vm *hv, struct irq_line *line);
int kvm_notify_add(struct hv_vm *hv, const struct hv_notify *n) __must_check;
int kvm_notify_remove(struct hv_vm *hv, const struct hv_notify *n) __must_check;

/* routing.c */
void kvm_routing_init(struct kvm_routing *r);
/* A GSI of its own for an MSI line, or -ENOSPC. */
int kvm_routing_alloc_msi(struct kvm_vm *k) __must_check;
void kvm_routing_free_msi(struct kvm_vm *k, int gsi);
/* Point the GSI at an MSI message; pushes the table to KVM when it changed. */
int kvm_routing_set_msi(struct kvm_vm *k, int gsi, uint64_t addr, uint32_t data) __must_check;

#endif
