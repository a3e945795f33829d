/* Custom CPU templates: Firecracker's JSON, the bitmaps, and their effect on a CPUID table. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_template.h"
#include "cpu/cpuid.h"

static int parse(const char *text, struct cpu_template *t, char *err, size_t errlen)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	int ret;

	assert_non_null(j);
	ret = cpu_template_parse(j, t, err, errlen);
	json_decref(j);
	return ret;
}

static void test_bitmap(void **state)
{
	uint64_t f, v;
	char err[200];
	(void)state;

	assert_int_equal(cpu_template_bitmap("0b1x0", 32, &f, &v, err, sizeof(err)), 0);
	assert_int_equal(f, 0x5);
	assert_int_equal(v, 0x4);
	/* '_' separates; no prefix is fine; bits beyond the string are kept. */
	assert_int_equal(cpu_template_bitmap("1_0000_xxxx", 32, &f, &v, err, sizeof(err)), 0);
	assert_int_equal(f, 0x1f0);
	assert_int_equal(v, 0x100);
	char full[70] = "0b";
	memset(full + 2, '1', 64);
	assert_int_equal(cpu_template_bitmap(full, 64, &f, &v, err, sizeof(err)), 0);
	assert_true(f == UINT64_MAX && v == UINT64_MAX);
	assert_int_equal(cpu_template_bitmap(full, 32, &f, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 32 digits"));
	assert_int_equal(cpu_template_bitmap("0b10y1", 32, &f, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'y' is not 0, 1 or x"));
}

/* The example of Firecracker's docs/cpu_templates/cpu-templates.md, without kvm_capabilities. */
static const char *const example =
	"{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": "
	"[{\"register\": \"eax\", \"bitmap\": \"0bxxxx000000000011xx00011011110010\"}]}], "
	"\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": "
	"\"0b0000000000000000000000000000000000000000000000000000000000000000\"}], "
	"\"reg_modifiers\": [], \"vcpu_features\": []}";

static void test_parse(void **state)
{
	struct cpu_template *t = malloc(sizeof(*t));
	char err[300];
	(void)state;

	assert_int_equal(parse(example, t, err, sizeof(err)), 0);
	assert_int_equal(t->nr_cpuid, 1);
	assert_int_equal(t->cpuid[0].leaf, 1);
	assert_int_equal(t->cpuid[0].reg, CPUID_EAX);
	assert_int_equal(t->cpuid[0].filter, 0x0fff3fff); /* the docs: bits 0xf000c000 kept */
	assert_int_equal(t->cpuid[0].value, 0x000306f2);
	assert_int_equal(t->nr_msrs, 1);
	assert_int_equal(t->msrs[0].addr, 0x10a);
	assert_true(t->msrs[0].filter == UINT64_MAX && t->msrs[0].value == 0);

	static const struct { const char *body, *why; } bad[] = {
		{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": []}]}", "0x (hex) or 0b" },
		{ "{\"cpuid_modifiers\": [{\"leaf\": \"0xzz\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": []}]}", "not a 32-bit number" },
		{ "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"flags\": 0, \"modifiers\": []}]}", "missing field `subleaf`" },
		{ "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 2, \"modifiers\": []}]}", "`flags` must be 0 or 1" },
		{ "{\"cpuid_modifiers\": {}}", "must be an array" },
		{ "{\"msr_modifiers\": [{\"addr\": \"0x10\", \"bitmap\": 5}]}", "`bitmap` must be a string" },
		{ "{\"reg_modifiers\": [{}]}", "aarch64" },
		{ "{\"kvm_capabilities\": [\"56\"]}", "kvm_capabilities" },
		{ "{\"frobnicate\": 1}", "unknown field `frobnicate`" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i].body, t, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: got '%s', want '%s'", bad[i].body, err, bad[i].why);
	}
	free(t);
}

static struct kvm_cpuid2 *fake_supported(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(c->entries[0]));
	int n = 0;

	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd, .ebx = 0x756e6547 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x906ea,
		.ecx = CPUID_1_ECX_X2APIC | 1, .edx = 1 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 1u << 9 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = 0x21, .edx = 1u << 20 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x3030 };
	c->nent = (uint32_t)n;
	return c;
}

static void test_apply(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported();
	struct cpuid_topology topo = { .nr_cpus = 1 };
	struct kvm_cpuid_entry2 out[32];
	struct cpu_template *t = malloc(sizeof(*t));
	char err[300];
	(void)state;

	int n = cpuid_policy_build(sup, &topo, out, 32);
	assert_true(n > 0);
	/* Clear LAHF (0x80000001 ECX bit 0), set a made-up model (leaf 1 EAX, a value register),
	 * keep the rest; the hypervisor bit vmon's policy sets may stay set. */
	assert_int_equal(parse("{\"cpuid_modifiers\": ["
		"{\"leaf\": \"0x80000001\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": "
		"[{\"register\": \"ecx\", \"bitmap\": \"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0\"}]}, "
		"{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": "
		"[{\"register\": \"eax\", \"bitmap\": \"0b00000000000000000000000011111111\"}, "
		"{\"register\": \"ecx\", \"bitmap\": \"0b1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}]}",
		t, err, sizeof(err)), 0);
	assert_int_equal(cpu_template_apply_cpuid(t, out, n, sup, err, sizeof(err)), 0);
	assert_int_equal(cpuid_find(out, n, 0x80000001, 0)->ecx, 0x20);
	assert_int_equal(cpuid_find(out, n, 0x80000001, 0)->edx, 1u << 20);
	assert_int_equal(cpuid_find(out, n, 1, 0)->eax, 0xff);
	assert_true(cpuid_find(out, n, 1, 0)->ecx & CPUID_1_ECX_HYPERVISOR);
	/* A feature the host's KVM does not have: leaf 7 EBX bit 5 (AVX2). */
	assert_int_equal(parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x7\", \"subleaf\": \"0x0\", "
		"\"flags\": 1, \"modifiers\": [{\"register\": \"ebx\", \"bitmap\": \"0b1xxxxx\"}]}]}",
		t, err, sizeof(err)), 0);
	assert_int_equal(cpu_template_apply_cpuid(t, out, n, sup, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "leaf 0x7 subleaf 0x0 ebx bit 5 cannot be set"));
	assert_int_equal(cpuid_find(out, n, 7, 0)->ebx, 1u << 9); /* untouched */
	/* A bit it has may be set: EBX bit 9. */
	assert_int_equal(parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x7\", \"subleaf\": \"0x0\", "
		"\"flags\": 1, \"modifiers\": [{\"register\": \"ebx\", \"bitmap\": \"0b1000000000\"}]}]}",
		t, err, sizeof(err)), 0);
	assert_int_equal(cpu_template_apply_cpuid(t, out, n, sup, err, sizeof(err)), 0);
	assert_int_equal(cpuid_find(out, n, 7, 0)->ebx, 1u << 9);
	/* A leaf the host does not have. */
	assert_int_equal(parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x8000001f\", \"subleaf\": \"0x0\", "
		"\"flags\": 0, \"modifiers\": [{\"register\": \"eax\", \"bitmap\": \"0b1\"}]}]}",
		t, err, sizeof(err)), 0);
	assert_int_equal(cpu_template_apply_cpuid(t, out, n, sup, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "leaf 0x8000001f subleaf 0x0 is not in this host's CPUID"));
	/* No template: nothing happens. */
	assert_int_equal(cpu_template_apply_cpuid(NULL, out, n, sup, err, sizeof(err)), 0);
	free(t);
	free(sup);
}

static void test_msr_value(void **state)
{
	struct cpu_template_msr m = { .addr = 0x10a, .filter = 0xff00, .value = 0x1200 };
	(void)state;

	assert_true(cpu_template_msr_value(&m, 0xabcdef) == 0xab12ef);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bitmap),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_msr_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
