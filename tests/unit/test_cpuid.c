/* The CPUID policy: platform masks, hypervisor bit, and the vCPU topology. */
#include "unit.h"

#include <stdlib.h>

#include "cpu/cpuid.h"

static struct kvm_cpuid2 *fake_supported(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 16 * sizeof(c->entries[0]));
	int n = 0;

	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff0800,
		.ecx = CPUID_1_ECX_CX16 | CPUID_1_ECX_X2APIC | (1u << 0), .edx = CPUID_1_EDX_HTT | 1 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = (1 << 5) | 1 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 4, .index = 3,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = (3 << 5) | 3 | (15u << 26) };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 99, .edx = 77 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x40000001,
		.eax = 0xffffffff };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x3030 };
	c->nent = (uint32_t)n;
	return c;
}

static void test_masks_and_topology(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported();
	struct kvm_cpuid_entry2 out[32];
	struct cpuid_topology topo = { .nr_cpus = 3, .apic_id = 2, .tsc_deadline = true };
	(void)state;

	int n = cpuid_policy_build(sup, &topo, out, 32);
	assert_true(n > 0);
	struct kvm_cpuid_entry2 *l1 = cpuid_find(out, n, 1, 0);
	assert_non_null(l1);
	assert_int_equal(l1->ecx & CPUID_1_ECX_CX16, 0);
	assert_true(l1->ecx & CPUID_1_ECX_HYPERVISOR);
	assert_true(l1->ecx & CPUID_1_ECX_TSC_DEADLINE);
	assert_true(l1->ecx & CPUID_1_ECX_X2APIC);
	assert_int_equal(l1->ebx >> 24, 2);          /* APIC ID */
	assert_int_equal((l1->ebx >> 16) & 0xff, 4); /* 3 CPUs -> 4 addressable IDs */
	assert_int_equal(l1->ebx & 0xffff, 0x0800);  /* CLFLUSH size kept */
	assert_true(l1->edx & CPUID_1_EDX_HTT);

	struct kvm_cpuid_entry2 *pv = cpuid_find(out, n, 0x40000001, 0);
	assert_int_equal(pv->eax & (KVM_PV_UNHALT | KVM_PV_SEND_IPI | KVM_PV_SCHED_YIELD), 0);
	assert_true(pv->eax & 1); /* the kvmclock bits stay */

	struct kvm_cpuid_entry2 *x = cpuid_find(out, n, 0x80000008, 0);
	assert_true(x->ebx & CPUID_80000008_EBX_XSAVEERPTR);
	assert_int_equal(x->ecx & 0xff, 2);

	/* Leaf 0xB is rebuilt: SMT level 1 thread, core level 3 cores, x2APIC ID everywhere. */
	struct kvm_cpuid_entry2 *b0 = cpuid_find(out, n, 0xb, 0), *b1 = cpuid_find(out, n, 0xb, 1);
	assert_int_equal(b0->ebx, 1);
	assert_int_equal(b0->edx, 2);
	assert_int_equal((b0->ecx >> 8) & 0xff, 1);
	assert_int_equal(b1->ebx, 3);
	assert_int_equal(b1->eax, 2);
	assert_int_equal((b1->ecx >> 8) & 0xff, 2);
	assert_non_null(cpuid_find(out, n, 0xb, 2));

	/* Leaf 4: L3 is shared by all cores, L1 by none; cores per package - 1 = 3. */
	struct kvm_cpuid_entry2 *c0 = cpuid_find(out, n, 4, 0), *c3 = cpuid_find(out, n, 4, 3);
	assert_int_equal((c0->eax >> 14) & 0xfff, 0);
	assert_int_equal((c3->eax >> 14) & 0xfff, 2);
	assert_int_equal(c3->eax >> 26, 3);
	free(sup);
}

static void test_single_cpu_and_limits(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported();
	struct kvm_cpuid_entry2 out[32];
	struct cpuid_topology topo = { .nr_cpus = 1, .apic_id = 0 };
	(void)state;

	int n = cpuid_policy_build(sup, &topo, out, 32);
	struct kvm_cpuid_entry2 *l1 = cpuid_find(out, n, 1, 0);
	assert_int_equal(l1->edx & CPUID_1_EDX_HTT, 0);
	assert_int_equal(l1->ecx & CPUID_1_ECX_TSC_DEADLINE, 0);
	topo.nr_cpus = 0;
	assert_int_equal(cpuid_policy_build(sup, &topo, out, 32), -EINVAL);
	topo.nr_cpus = 2;
	assert_int_equal(cpuid_policy_build(sup, &topo, out, 4), -EINVAL); /* no room */
	free(sup);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_masks_and_topology),
		cmocka_unit_test(test_single_cpu_and_limits),
	};
	return cmocka_run_group_tests_name("cpuid", tests, NULL, NULL);
}
