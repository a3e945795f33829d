/* The CPUID policy: platform masks and vCPU topology applied to KVM's supported leaves. */
#include "cpu/cpuid.h"

#include <errno.h>
#include <string.h>

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *e, int n, uint32_t fn, uint32_t idx)
{
	for (int i = 0; i < n; i++) {
		if (e[i].function != fn)
			continue;
		if (!(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e[i].index == idx)
			return &e[i];
	}
	return NULL;
}

static uint32_t order_base_2(uint32_t n)
{
	uint32_t s = 0;

	while ((1u << s) < n)
		s++;
	return s;
}

/* Leaf 1: APIC ID and logical count in EBX; masks in ECX (see each comment). */
static void policy_leaf1(struct kvm_cpuid_entry2 *e, const struct cpuid_topology *t)
{
	e->ebx = (e->ebx & 0x0000ffff) | (t->apic_id << 24) |
		 ((1u << order_base_2((uint32_t)t->nr_cpus)) << 16);
	if (t->nr_cpus > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
	/*
	 * CX16: this host's nested KVM cannot emulate cmpxchg16b in guest kernel mode
	 * (KVM_EXIT_INTERNAL_ERROR). Linux 6.1 runs fine without it; real hardware loses
	 * nothing a VM guest needs.
	 */
	e->ecx &= ~CPUID_1_ECX_CX16;
	e->ecx |= CPUID_1_ECX_HYPERVISOR;
	if (t->tsc_deadline)
		e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

/* Leaf 4 (Intel caches): cores per package, and which caches the cores share. */
static void policy_leaf4(struct kvm_cpuid_entry2 *e, const struct cpuid_topology *t)
{
	uint32_t level = (e->eax >> 5) & 7;
	uint32_t sharing = level >= 3 ? (uint32_t)t->nr_cpus - 1 : 0;

	if ((e->eax & 0x1f) == 0)
		return; /* no more caches */
	e->eax = (e->eax & 0x3fff) | (sharing << 14) |
		 (((1u << order_base_2((uint32_t)t->nr_cpus)) - 1) << 26);
}

/* Leaf 0xB / 0x1F: x2APIC topology, SMT level (1 thread) then core level (n cores). */
static int policy_topology_leaf(uint32_t fn, const struct cpuid_topology *t,
				struct kvm_cpuid_entry2 *out)
{
	uint32_t shift = order_base_2((uint32_t)t->nr_cpus);

	out[0] = (struct kvm_cpuid_entry2){ .function = fn, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.eax = 0, .ebx = 1, .ecx = 0 | (1u << 8), .edx = t->apic_id };
	out[1] = (struct kvm_cpuid_entry2){ .function = fn, .index = 1,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.eax = shift, .ebx = (uint32_t)t->nr_cpus, .ecx = 1 | (2u << 8), .edx = t->apic_id };
	out[2] = (struct kvm_cpuid_entry2){ .function = fn, .index = 2,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.eax = 0, .ebx = 0, .ecx = 2, .edx = t->apic_id };
	return 3;
}

static void policy_entry(struct kvm_cpuid_entry2 *e, const struct cpuid_topology *t)
{
	switch (e->function) {
	case 1:
		policy_leaf1(e, t);
		break;
	case 4:
		policy_leaf4(e, t);
		break;
	case 0x40000001:
		/*
		 * KVM PV features that issue hypercalls: on this host vmcall/vmmcall spins the
		 * vCPU forever. PV unhalt (spinlock kicks), PV IPIs, PV sched yield, and the
		 * SEV-only MAP_GPA_RANGE hypercall. Guests fall back to native paths; on real
		 * hardware this costs a little IPI/spinlock performance under overcommit.
		 */
		e->eax &= ~(KVM_PV_UNHALT | KVM_PV_SEND_IPI | KVM_PV_SCHED_YIELD |
			    KVM_PV_HC_MAP_GPA_RANGE);
		break;
	case 0x80000008:
		/*
		 * XSAVEERPTR: without it Linux executes fnclex before FPU restores, which this
		 * host cannot emulate. The bit only promises that FXSAVE saves the error
		 * pointers, which Intel CPUs always do and AMD CPUs report anyway.
		 */
		e->ebx |= CPUID_80000008_EBX_XSAVEERPTR;
		/* AMD core count: NC = cores - 1, ApicIdCoreIdSize = bits for the core id. */
		e->ecx = (e->ecx & ~0xf0ffu) | ((uint32_t)t->nr_cpus - 1) |
			 (order_base_2((uint32_t)t->nr_cpus) << 12);
		break;
	}
}

int cpuid_policy_build(const struct kvm_cpuid2 *supported, const struct cpuid_topology *topo,
		       struct kvm_cpuid_entry2 *out, int cap)
{
	int n = 0;
	bool has_b = false, has_1f = false;

	if (topo->nr_cpus < 1 || topo->nr_cpus > 255 || cap < (int)supported->nent + 8)
		return -EINVAL;
	for (uint32_t i = 0; i < supported->nent; i++) {
		const struct kvm_cpuid_entry2 *s = &supported->entries[i];

		/* Topology leaves are rebuilt below, whatever the host reported. */
		if (s->function == 0xb || s->function == 0x1f) {
			has_b |= s->function == 0xb;
			has_1f |= s->function == 0x1f;
			continue;
		}
		out[n] = *s;
		policy_entry(&out[n], topo);
		n++;
	}
	/* Max basic leaf must cover 0xB for Linux to look at it. */
	struct kvm_cpuid_entry2 *l0 = cpuid_find(out, n, 0, 0);
	if (l0 && l0->eax >= 0xb)
		has_b = true;
	if (has_b)
		n += policy_topology_leaf(0xb, topo, out + n);
	if (has_1f)
		n += policy_topology_leaf(0x1f, topo, out + n);
	return n;
}
