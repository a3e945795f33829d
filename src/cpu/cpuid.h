/*
 * vmon's CPUID policy: what KVM supports, less what this platform cannot run, plus a
 * topology that matches the vCPUs vmon creates (APIC IDs 0..n-1, one thread per core).
 */
#ifndef VMON_CPUID_H
#define VMON_CPUID_H

#include <linux/kvm.h>
#include "util/util.h"

struct cpuid_topology {
	int nr_cpus;
	uint32_t apic_id; /* of the vCPU this policy is for */
	bool tsc_deadline; /* KVM emulates the TSC-deadline timer */
};

/*
 * Build the vCPU's CPUID table from KVM's supported list into `out` (room for `cap`
 * entries, at least supported->nent + 8). Returns the number of entries. Pure.
 */
int cpuid_policy_build(const struct kvm_cpuid2 *supported, const struct cpuid_topology *topo,
		       struct kvm_cpuid_entry2 *out, int cap) __must_check;

/* Find an entry (function, index) in a table, or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *e, int n, uint32_t fn, uint32_t idx);

/* Masks vmon applies, exported for the unit tests. */
#define CPUID_1_ECX_CX16 (1u << 13)
#define CPUID_1_ECX_X2APIC (1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)
#define KVM_PV_UNHALT (1u << 7)
#define KVM_PV_SEND_IPI (1u << 11)
#define KVM_PV_SCHED_YIELD (1u << 13)
#define KVM_PV_HC_MAP_GPA_RANGE (1u << 16)
#define CPUID_80000008_EBX_XSAVEERPTR (1u << 2)

#endif
