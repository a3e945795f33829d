/* Host-CPU lists ("0-3,5") and the thread-affinity options built on them. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "util/cpulist.h"
#include "vmm/cgroup.h"
#include "vmm/config.h"

static void assert_list(const char *in, const char *want)
{
	cpu_set_t set;
	char err[160] = "", out[64];

	assert_int_equal(cpulist_parse(in, &set, err, sizeof(err)), 0);
	cpulist_format(&set, out, sizeof(out));
	assert_string_equal(out, want);
}

static void assert_bad(const char *in, const char *why)
{
	cpu_set_t set;
	char err[160] = "";

	assert_int_equal(cpulist_parse(in, &set, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("'%s': got '%s', want '%s' in it", in, err, why);
	assert_null(strchr(err, '\n'));
}

static void test_parse_and_format(void **state)
{
	cpu_set_t set;
	char err[160];
	(void)state;

	assert_list("0", "0");
	assert_list("1", "1");
	assert_list("0-3,5", "0-3,5");
	assert_list("5,0-3", "0-3,5");
	assert_list("0,1,2,7-7", "0-2,7");
	assert_list("2-3,3-4", "2-4");
	assert_list("1023", "1023");
	assert_int_equal(cpulist_parse("0-1023", &set, err, sizeof(err)), 0);
	assert_int_equal(CPU_COUNT(&set), 1024);
}

static void test_errors(void **state)
{
	(void)state;

	assert_bad("", "empty CPU list");
	assert_bad("1024", "from 0 to 1023");
	assert_bad("0-99999999999999999999", "from 0 to 1023");
	assert_bad("3-1", "runs backwards");
	assert_bad("a", "cannot understand 'a'");
	assert_bad("0,,1", "cannot understand ''");
	assert_bad("0,", "cannot understand ''");
	assert_bad("-1", "cannot understand '-1'");
	assert_bad("1-", "cannot understand '1-'");
	assert_bad("0 1", "cannot understand '0 1'");
	assert_bad("1,2x", "cannot understand '2x'");
}

/* A short output buffer truncates at a whole entry, never mid-number. */
static void test_format_truncates(void **state)
{
	cpu_set_t set;
	char err[160], out[6];
	(void)state;

	assert_int_equal(cpulist_parse("0,2,4,6,8", &set, err, sizeof(err)), 0);
	cpulist_format(&set, out, sizeof(out));
	assert_string_equal(out, "0,2,4");
	CPU_ZERO(&set);
	cpulist_format(&set, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_vcpu_affinity_syntax(void **state)
{
	struct vm_config cfg = { .cpus = 3 };
	char err[160] = "", out[128];
	(void)state;

	/* A token with '=' starts a vCPU's list; the ones after it without '=' continue it. */
	assert_int_equal(config_parse_vcpu_affinity(&cfg, "0-1,0=1,3,1=0-1,2=4", err, sizeof(err)), 0);
	assert_true(cfg.vcpus_affinity.set);
	config_format_vcpu_affinity(&cfg, out, sizeof(out));
	assert_string_equal(out, "0-1,0=1,3,1=0-1,2=4");
	assert_true(CPU_ISSET(3, config_vcpu_affinity(&cfg, 0)));
	assert_false(CPU_ISSET(0, config_vcpu_affinity(&cfg, 0)));
	assert_int_equal(config_check_affinity(&cfg, err, sizeof(err)) == 0 ||
			 strstr(err, "which vmon may not run on") != NULL, 1);

	struct vm_config one = { .cpus = 1 };
	assert_int_equal(config_parse_vcpu_affinity(&one, "1=0", err, sizeof(err)), 0);
	assert_null(config_vcpu_affinity(&one, 0));
	assert_int_equal(config_check_affinity(&one, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "an affinity is given for vCPU 1, but the VM has 1 vCPU");

	assert_int_equal(config_parse_vcpu_affinity(&one, "64=0", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "'64=': a vCPU is a number from 0 to 63");
	assert_int_equal(config_parse_vcpu_affinity(&one, "x=0", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_parse_vcpu_affinity(&one, "0=", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty CPU list"));
	assert_int_equal(config_parse_vcpu_affinity(&one, "", err, sizeof(err)), -EINVAL);
}

/* This process's own CPUs always pass the check; CPU 1023 is beyond any test machine. */
static void test_check_against_host(void **state)
{
	struct vm_config cfg = { .cpus = 1 };
	cpu_set_t mine;
	char err[160] = "", list[256];
	(void)state;

	assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
	cpulist_format(&mine, list, sizeof(list));
	assert_int_equal(config_parse_vcpu_affinity(&cfg, list, err, sizeof(err)), 0);
	assert_int_equal(cpulist_parse(list, &cfg.io_affinity.cpus, err, sizeof(err)), 0);
	cfg.io_affinity.set = true;
	assert_int_equal(config_check_affinity(&cfg, err, sizeof(err)), 0);
	CPU_SET(1023, &cfg.io_affinity.cpus);
	assert_int_equal(config_check_affinity(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the I/O thread's affinity names host CPU 1023"));
	cfg.io_affinity.set = false;
	assert_int_equal(config_parse_vcpu_affinity(&cfg, "0=1023", err, sizeof(err)), 0);
	assert_int_equal(config_check_affinity(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vCPU 0's affinity names host CPU 1023"));
}

/* The cgroup side's pure helpers: --cpu-max, weight to v1 shares, /proc/self/cgroup. */
static void test_cgroup_helpers(void **state)
{
	const char *v1 = "9:name=systemd:/\n2:cpu,cpuacct:/a/b\n1:memory:/m\n0::/unified\n";
	int64_t q;
	uint64_t p;
	char out[64];
	(void)state;

	assert_int_equal(cgroup_parse_cpu_max("25000/100000", &q, &p), 0);
	assert_int_equal(q, 25000);
	assert_int_equal(p, 100000);
	assert_int_equal(cgroup_parse_cpu_max("max/50000", &q, &p), 0);
	assert_int_equal(q, -1);
	assert_int_equal(p, 50000);
	assert_int_equal(cgroup_parse_cpu_max("25000", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("999/100000", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("1000/999", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("1000/1000001", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("-1/100000", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("1000/", &q, &p), -EINVAL);
	assert_int_equal(cgroup_weight_to_shares(100), 1024);
	assert_int_equal(cgroup_weight_to_shares(300), 3072);
	assert_int_equal(cgroup_weight_to_shares(1), 10);
	assert_int_equal(cgroup_weight_to_shares(10000), 102400);
	assert_int_equal(cgroup_self_path(v1, "cpu", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b");
	assert_int_equal(cgroup_self_path(v1, "cpuacct", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b");
	assert_int_equal(cgroup_self_path(v1, "memory", out, sizeof(out)), 0);
	assert_string_equal(out, "/m");
	assert_int_equal(cgroup_self_path(v1, "", out, sizeof(out)), 0);
	assert_string_equal(out, "/unified");
	assert_int_equal(cgroup_self_path(v1, "cpuset", out, sizeof(out)), -ENOENT);
	assert_int_equal(cgroup_self_path("1:cpu:/x", "cpu", out, sizeof(out)), 0);
	assert_string_equal(out, "/x");
}

/* cpu.max's range is the kernel's: quota up to max_cfs_runtime, "max" alone; and back. */
static void test_cgroup_cpu_max_range(void **state)
{
	int64_t q;
	uint64_t p;
	char buf[48];
	(void)state;

	assert_int_equal(cgroup_parse_cpu_max("max", &q, &p), 0);
	assert_int_equal(q, -1);
	assert_int_equal(p, 100000);
	assert_int_equal(cgroup_parse_cpu_max("17592186044415/1000000", &q, &p), 0);
	assert_int_equal(q, 17592186044415LL);
	assert_int_equal(cgroup_parse_cpu_max("17592186044416/1000000", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("1000/1000", &q, &p), 0);
	assert_int_equal(cgroup_parse_cpu_max("maxi", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("max/", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("", &q, &p), -EINVAL);
	assert_int_equal(cgroup_parse_cpu_max("25000 100000", &q, &p), -EINVAL);
	cgroup_format_cpu_max(25000, 100000, buf, sizeof(buf));
	assert_string_equal(buf, "25000/100000");
	cgroup_format_cpu_max(-1, 50000, buf, sizeof(buf));
	assert_string_equal(buf, "max/50000");
}

/* --vcpu-weight I=W,...: all or nothing, each vCPU once, the weight range; and back. */
static void test_cgroup_vcpu_weights(void **state)
{
	unsigned w[CPU_SCHED_MAX_VCPUS] = { 0 }, weight;
	char err[160], buf[128];
	(void)state;

	assert_int_equal(cgroup_highest_vcpu(w), -1);
	assert_int_equal(cgroup_parse_vcpu_weights("0=100,1=300", w, err, sizeof(err)), 0);
	assert_int_equal(w[0], 100);
	assert_int_equal(w[1], 300);
	assert_int_equal(cgroup_highest_vcpu(w), 1);
	/* A later list changes the vCPUs it names and keeps the others. */
	assert_int_equal(cgroup_parse_vcpu_weights("1=50,63=10000", w, err, sizeof(err)), 0);
	assert_int_equal(w[0], 100);
	assert_int_equal(w[1], 50);
	assert_int_equal(w[63], 10000);
	cgroup_format_vcpu_weights(w, buf, sizeof(buf));
	assert_string_equal(buf, "0=100,1=50,63=10000");
	static const struct { const char *in, *why; } bad[] = {
		{ "0=0", "vCPU 0's weight '0' is not a number from 1 to 10000" },
		{ "0=10001", "vCPU 0's weight '10001'" },
		{ "0=1x", "vCPU 0's weight '1x'" },
		{ "0=", "vCPU 0's weight ''" },
		{ "64=100", "a vCPU is a number from 0 to 63" },
		{ "-1=100", "a vCPU is a number from 0 to 63" },
		{ "0=100,0=200", "vCPU 0 is named twice" },
		{ "100", "'100' is not I=WEIGHT" },
		{ "", "an empty item" },
		{ "0=100,", "an empty item" },
		{ ",0=100", "an empty item" },
		{ "0=100,,1=2", "an empty item" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(cgroup_parse_vcpu_weights(bad[i].in, w, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("'%s': got '%s', want '%s'", bad[i].in, err, bad[i].why);
	}
	/* Nothing of a refused list went in. */
	assert_int_equal(cgroup_parse_vcpu_weights("2=7,3=0", w, err, sizeof(err)), -EINVAL);
	assert_int_equal(w[2], 0);
	cgroup_format_vcpu_weights(w, buf, 12); /* truncated, still a string */
	assert_int_equal(strlen(buf), 11);
	assert_int_equal(cgroup_parse_weight("10000", &weight), 0);
	assert_int_equal(weight, 10000);
	assert_int_equal(cgroup_parse_weight("0", &weight), -EINVAL);
	assert_int_equal(cgroup_parse_weight(" 5", &weight), 0); /* strtol's leading space */
	assert_int_equal(cgroup_parse_weight("5 ", &weight), -EINVAL);
}

/* A restore keeps the command line's placement, the cgroup's parent as a copy of its own. */
static void test_keep_placement(void **state)
{
	struct vm_config from = { .cpus = 2 }, to = { .cpus = 4 };
	char err[160];
	(void)state;

	assert_int_equal(config_parse_vcpu_affinity(&from, "0=1", err, sizeof(err)), 0);
	from.sched.weight = 300;
	from.sched.max_quota_us = 25000;
	from.sched.max_period_us = 100000;
	from.sched.vcpu_weight[1] = 200;
	assert_int_equal(config_set(&from.sched.parent, "/sys/fs/cgroup/x"), 0);
	assert_int_equal(config_set(&to.sched.parent, "/old"), 0);
	assert_int_equal(config_keep_placement(&to, &from), 0);
	assert_true(to.vcpu_affinity[0].set);
	assert_int_equal(to.sched.weight, 300);
	assert_int_equal(to.sched.max_quota_us, 25000);
	assert_int_equal(to.sched.max_period_us, 100000);
	assert_int_equal(to.sched.vcpu_weight[1], 200);
	assert_int_equal(to.cpus, 4); /* the machine is the snapshot's */
	assert_string_equal(to.sched.parent, "/sys/fs/cgroup/x");
	assert_ptr_not_equal(to.sched.parent, from.sched.parent);
	config_clear(&from);
	config_clear(&to);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_format),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_format_truncates),
		cmocka_unit_test(test_vcpu_affinity_syntax),
		cmocka_unit_test(test_check_against_host),
		cmocka_unit_test(test_cgroup_helpers),
		cmocka_unit_test(test_cgroup_cpu_max_range),
		cmocka_unit_test(test_cgroup_vcpu_weights),
		cmocka_unit_test(test_keep_placement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
