/* Custom CPU templates: Firecracker's JSON parsed, and applied to a vCPU's CPUID table. */
#include "cpu/cpu_template.h"
#include "cpu/cpuid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reg_names[] = { "eax", "ebx", "ecx", "edx" };

int cpu_template_bitmap(const char *s, int bits, uint64_t *filter, uint64_t *value, char *err,
			size_t errlen)
{
	const char *digits = strncmp(s, "0b", 2) ? s : s + 2;
	int bit = 0;

	*filter = *value = 0;
	for (const char *p = digits + strlen(digits); p > digits; p--) {
		char c = p[-1];

		if (c == '_')
			continue;
		if (bit == bits) {
			snprintf(err, errlen, "bitmap '%.80s' has more than %d digits", s, bits);
			return -EINVAL;
		}
		if (c == '0' || c == '1') {
			*filter |= 1ull << bit;
			*value |= (uint64_t)(c == '1') << bit;
		} else if (c != 'x') {
			snprintf(err, errlen, "bitmap '%.80s': '%c' is not 0, 1 or x", s, c);
			return -EINVAL;
		}
		bit++;
	}
	return 0;
}

/* A u32 as Firecracker's templates write them: "0x..." or "0b..." strings. */
static int template_u32(const json_t *o, const char *name, uint32_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, name);
	const char *s = json_string_value(v);
	char *end;

	if (!v) {
		snprintf(err, errlen, "missing field `%s`", name);
		return -EINVAL;
	}
	if (!s || (strncmp(s, "0x", 2) && strncmp(s, "0b", 2))) {
		snprintf(err, errlen, "`%s`: give a string with a 0x (hex) or 0b (binary) prefix, "
			 "as \"0x1\"", name);
		return -EINVAL;
	}
	errno = 0;
	unsigned long long n = strtoull(s + 2, &end, s[1] == 'x' ? 16 : 2);
	if (errno || end == s + 2 || *end || n > UINT32_MAX) {
		snprintf(err, errlen, "`%s`: '%.40s' is not a 32-bit number", name, s);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

static int template_bitmap_field(const json_t *o, int bits, uint64_t *filter, uint64_t *value,
				 char *err, size_t errlen)
{
	const char *s = json_string_value(json_object_get(o, "bitmap"));

	if (!s) {
		snprintf(err, errlen, "`bitmap` must be a string of 0, 1 and x, as \"0b0xx1\"");
		return -EINVAL;
	}
	return cpu_template_bitmap(s, bits, filter, value, err, errlen);
}

static int parse_cpuid_leaf(const json_t *leaf, struct cpu_template *t, char *err, size_t errlen)
{
	const json_t *mods = json_object_get(leaf, "modifiers"), *m;
	const json_t *flags = json_object_get(leaf, "flags");
	uint32_t fn, sub;
	size_t i;

	if (!json_is_object(leaf)) {
		snprintf(err, errlen, "cpuid_modifiers: each entry must be an object");
		return -EINVAL;
	}
	if (template_u32(leaf, "leaf", &fn, err, errlen) || template_u32(leaf, "subleaf", &sub, err, errlen))
		return -EINVAL;
	if (!json_is_integer(flags) || json_integer_value(flags) < 0 ||
	    json_integer_value(flags) > KVM_CPUID_FLAG_SIGNIFCANT_INDEX) {
		snprintf(err, errlen, "leaf 0x%x: `flags` must be 0 or 1 (KVM_CPUID_FLAG_SIGNIFCANT_INDEX)", fn);
		return -EINVAL;
	}
	if (!json_is_array(mods)) {
		snprintf(err, errlen, "leaf 0x%x: `modifiers` must be an array", fn);
		return -EINVAL;
	}
	json_array_foreach(mods, i, m) {
		const char *reg = json_string_value(json_object_get(m, "register"));
		struct cpu_template_cpuid *c;
		uint64_t filter, value;
		int r = 0;

		while (reg && r < 4 && strcmp(reg, reg_names[r]))
			r++;
		if (!reg || r == 4) {
			snprintf(err, errlen, "leaf 0x%x: `register` must be eax, ebx, ecx or edx", fn);
			return -EINVAL;
		}
		if (template_bitmap_field(m, 32, &filter, &value, err, errlen))
			return -EINVAL;
		if (t->nr_cpuid == CPU_TEMPLATE_MAX_CPUID) {
			snprintf(err, errlen, "at most %d CPUID register modifiers", CPU_TEMPLATE_MAX_CPUID);
			return -EINVAL;
		}
		c = &t->cpuid[t->nr_cpuid++];
		*c = (struct cpu_template_cpuid){ .leaf = fn, .subleaf = sub,
			.flags = (uint32_t)json_integer_value(flags), .reg = (enum cpuid_reg)r,
			.filter = (uint32_t)filter, .value = (uint32_t)value };
	}
	return 0;
}

static int parse_msr(const json_t *o, struct cpu_template *t, char *err, size_t errlen)
{
	struct cpu_template_msr m;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "msr_modifiers: each entry must be an object");
		return -EINVAL;
	}
	if (template_u32(o, "addr", &m.addr, err, errlen) ||
	    template_bitmap_field(o, 64, &m.filter, &m.value, err, errlen))
		return -EINVAL;
	for (int i = 0; i < t->nr_msrs; i++) {
		if (t->msrs[i].addr == m.addr) {
			snprintf(err, errlen, "MSR 0x%x is modified twice", m.addr);
			return -EINVAL;
		}
	}
	if (t->nr_msrs == CPU_TEMPLATE_MAX_MSRS) {
		snprintf(err, errlen, "at most %d MSR modifiers", CPU_TEMPLATE_MAX_MSRS);
		return -EINVAL;
	}
	t->msrs[t->nr_msrs++] = m;
	return 0;
}

static int parse_array(const json_t *body, const char *name, struct cpu_template *t,
		       int (*one)(const json_t *, struct cpu_template *, char *, size_t),
		       char *err, size_t errlen)
{
	const json_t *a = json_object_get(body, name), *v;
	size_t i;

	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "`%s` must be an array", name);
		return -EINVAL;
	}
	json_array_foreach(a, i, v)
		if (one(v, t, err, errlen))
			return -EINVAL;
	return 0;
}

int cpu_template_parse(const json_t *body, struct cpu_template *out, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(body)) {
		snprintf(err, errlen, "a CPU template is a JSON object");
		return -EINVAL;
	}
	json_object_foreach((json_t *)body, key, v) {
		if (!strcmp(key, "reg_modifiers") || !strcmp(key, "vcpu_features")) {
			if (json_is_array(v) && !json_array_size(v))
				continue;
			snprintf(err, errlen, "`%s` is for aarch64 guests; vmon runs x86-64 guests "
				 "(use cpuid_modifiers and msr_modifiers)", key);
			return -EINVAL;
		}
		if (!strcmp(key, "kvm_capabilities")) {
			if (json_is_null(v) || (json_is_array(v) && !json_array_size(v)))
				continue;
			snprintf(err, errlen, "`kvm_capabilities`: vmon checks the KVM capabilities it "
				 "uses itself and takes no additions or removals");
			return -EINVAL;
		}
		if (strcmp(key, "cpuid_modifiers") && strcmp(key, "msr_modifiers")) {
			snprintf(err, errlen, "unknown field `%.64s`, expected one of `kvm_capabilities`, "
				 "`cpuid_modifiers`, `msr_modifiers`", key);
			return -EINVAL;
		}
	}
	if (parse_array(body, "cpuid_modifiers", out, parse_cpuid_leaf, err, errlen) ||
	    parse_array(body, "msr_modifiers", out, parse_msr, err, errlen))
		return -EINVAL;
	return 0;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, enum cpuid_reg r)
{
	switch (r) {
	case CPUID_EAX: return &e->eax;
	case CPUID_EBX: return &e->ebx;
	case CPUID_ECX: return &e->ecx;
	case CPUID_EDX: return &e->edx;
	}
	return &e->eax;
}

/*
 * Registers whose bits are features KVM_GET_SUPPORTED_CPUID reports as such (a 1 there is
 * what this host's KVM can give a guest). Other registers (vendor, signature, sizes,
 * topology) carry values, which a template may set freely, as in Firecracker.
 */
static bool feature_reg(uint32_t leaf, uint32_t sub, enum cpuid_reg r)
{
	switch (leaf) {
	case 1: return r == CPUID_ECX || r == CPUID_EDX;
	case 7: return sub == 0 ? r != CPUID_EAX : r == CPUID_EAX;
	case 0xd: return sub == 1 && r == CPUID_EAX;
	case 0x40000001: return r == CPUID_EAX;
	case 0x80000001: return r == CPUID_ECX || r == CPUID_EDX;
	case 0x80000008: return r == CPUID_EBX;
	}
	return false;
}

int cpu_template_apply_cpuid(const struct cpu_template *t, struct kvm_cpuid_entry2 *e, int n,
			     const struct kvm_cpuid2 *supported, char *err, size_t errlen)
{
	for (int i = 0; t && i < t->nr_cpuid; i++) {
		const struct cpu_template_cpuid *m = &t->cpuid[i];
		struct kvm_cpuid_entry2 *ent = cpuid_find(e, n, m->leaf, m->subleaf);
		struct kvm_cpuid_entry2 *sup = cpuid_find((struct kvm_cpuid_entry2 *)supported->entries,
							  (int)supported->nent, m->leaf, m->subleaf);

		if (!ent) {
			snprintf(err, errlen, "CPUID leaf 0x%x subleaf 0x%x is not in this host's "
				 "CPUID (KVM_GET_SUPPORTED_CPUID), so the template cannot modify it",
				 m->leaf, m->subleaf);
			return -EINVAL;
		}
		uint32_t *reg = entry_reg(ent, m->reg);
		uint32_t want = (*reg & ~m->filter) | (m->value & m->filter);
		uint32_t have = *reg | (sup ? *entry_reg(sup, m->reg) : 0);
		uint32_t missing = want & ~have;

		if (feature_reg(m->leaf, m->subleaf, m->reg) && missing) {
			snprintf(err, errlen, "CPUID leaf 0x%x subleaf 0x%x %s bit %d cannot be set: "
				 "this host's KVM does not support that feature "
				 "(KVM_GET_SUPPORTED_CPUID)", m->leaf, m->subleaf, reg_names[m->reg],
				 __builtin_ctz(missing));
			return -EINVAL;
		}
		*reg = want;
		ent->flags = m->flags;
		ent->index = m->flags ? m->subleaf : ent->index;
	}
	return 0;
}
