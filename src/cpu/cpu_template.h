/*
 * Firecracker's custom CPU templates (PUT /cpu-config, docs/cpu_templates in Firecracker):
 * CPUID leaf/register modifiers and MSR modifiers, each a bitmap of 0, 1 and x (keep).
 * Parsing and application are pure: the KVM backend hands in the tables it has built.
 */
#ifndef VMON_CPU_TEMPLATE_H
#define VMON_CPU_TEMPLATE_H

#include <jansson.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_TEMPLATE_MAX_CPUID 128 /* register modifiers in all */
#define CPU_TEMPLATE_MAX_MSRS 64

enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

/* Bits in `filter` are replaced by the same bits of `value`; the others are kept. */
struct cpu_template_cpuid {
	uint32_t leaf, subleaf, flags;
	enum cpuid_reg reg;
	uint32_t filter, value;
};

struct cpu_template_msr {
	uint32_t addr;
	uint64_t filter, value;
};

struct cpu_template {
	int nr_cpuid, nr_msrs;
	struct cpu_template_cpuid cpuid[CPU_TEMPLATE_MAX_CPUID];
	struct cpu_template_msr msrs[CPU_TEMPLATE_MAX_MSRS];
};

/*
 * A "0b..." bitmap of at most `bits` digits 0, 1 or x ('_' ignored; the prefix may be left
 * out; bits the string does not reach are kept). 0, or -EINVAL with the reason in err.
 */
int cpu_template_bitmap(const char *s, int bits, uint64_t *filter, uint64_t *value, char *err,
			size_t errlen);

/*
 * Firecracker's CustomCpuTemplate JSON (x86_64: kvm_capabilities, cpuid_modifiers,
 * msr_modifiers) into *out. aarch64's reg_modifiers and vcpu_features and KVM capability
 * overrides are refused. 0, or -EINVAL with one sentence in err.
 */
int cpu_template_parse(const json_t *body, struct cpu_template *out, char *err, size_t errlen);

/*
 * Apply the CPUID modifiers to a vCPU's table (`e`, n entries, as cpuid_policy_build made
 * it). A leaf the table lacks, or a feature bit set that neither KVM's supported table nor
 * vmon's policy has, is refused: -EINVAL with the leaf, register and bit in err.
 */
int cpu_template_apply_cpuid(const struct cpu_template *t, struct kvm_cpuid_entry2 *e, int n,
			     const struct kvm_cpuid2 *supported, char *err, size_t errlen);

/* One MSR modifier applied to its current value. */
static inline uint64_t cpu_template_msr_value(const struct cpu_template_msr *m, uint64_t cur)
{
	return (cur & ~m->filter) | (m->value & m->filter);
}

#endif
