/* The VM configuration: what the command line fills in, its own strings, the root drive. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"

/* config_parse() over a copy of args, freed before the caller looks at cfg. */
static enum config_result parse(struct vm_config *cfg, char *err, const char *const *args)
{
	char *argv[32];
	int argc = 0;

	while (args[argc]) {
		argv[argc] = strdup(args[argc]);
		argc++;
	}
	argv[argc] = NULL;
	enum config_result res = config_parse(cfg, argc, argv, err, 256);
	for (int i = 0; i < argc; i++) {
		memset(argv[i], 'x', strlen(argv[i]));
		free(argv[i]);
	}
	return res;
}

static void test_parse_owns_and_names(void **state)
{
	const char *const args[] = { "run", "--kernel", "vmlinux", "--cmdline", "console=ttyS0",
				     "--disk", "path=a.img,serial=data", "--disk", "b.img,ro",
				     "--net", "user,mtu=1400", "--net", "tap=tap7,mac=52:54:00:00:00:01",
				     NULL };
	struct vm_config cfg;
	char err[256] = "";
	(void)state;

	assert_int_equal(parse(&cfg, err, args), CONFIG_OK);
	assert_string_equal(cfg.kernel, "vmlinux");
	assert_string_equal(cfg.cmdline, "console=ttyS0");
	assert_string_equal(cfg.console, "stdio");
	assert_int_equal(cfg.nr_disks, 2);
	/* The API's drive_id: the serial the guest sees, else the disk's place. */
	assert_string_equal(cfg.disks[0].id, "data");
	assert_string_equal(cfg.disks[0].serial, "data");
	assert_string_equal(cfg.disks[0].path, "a.img");
	assert_string_equal(cfg.disks[1].id, "drive1");
	assert_null(cfg.disks[1].serial);
	assert_true(cfg.disks[1].readonly);
	assert_int_equal(cfg.nr_nets, 2);
	assert_string_equal(cfg.nets[0].id, "net0");
	assert_null(cfg.nets[0].tap);
	assert_int_equal(cfg.nets[0].mtu, 1400);
	assert_string_equal(cfg.nets[1].id, "net1");
	assert_string_equal(cfg.nets[1].tap, "tap7");
	assert_int_equal(cfg.nets[1].mtu, 0);
	assert_true(cfg.nets[1].has_mac);
	config_clear(&cfg);
	assert_null(cfg.kernel);
	assert_int_equal(cfg.nr_disks, 0);
}

static void test_parse_default_net(void **state)
{
	const char *const args[] = { "run", "--kernel", "vmlinux", NULL };
	struct vm_config cfg;
	char err[256] = "";
	(void)state;

	assert_int_equal(parse(&cfg, err, args), CONFIG_OK);
	assert_int_equal(cfg.nr_nets, 1);
	assert_string_equal(cfg.nets[0].id, "net0");
	assert_null(cfg.nets[0].tap);
	assert_null(cfg.cmdline);
	config_clear(&cfg);
}

/* A bad value after strings were copied: the caller still frees them all. */
static void test_parse_errors_free(void **state)
{
	const char *const bad_mtu[] = { "run", "--kernel", "vmlinux", "--disk", "a.img",
					"--net", "user,mtu=20", NULL };
	const char *const bad_disk[] = { "run", "--kernel", "vmlinux", "--disk", "a.img,bogus", NULL };
	struct vm_config cfg;
	char err[256] = "";
	(void)state;

	assert_int_equal(parse(&cfg, err, bad_mtu), CONFIG_ERROR);
	assert_non_null(strstr(err, "mtu '20'"));
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, bad_disk), CONFIG_ERROR);
	assert_non_null(strstr(err, "cannot understand 'bogus'"));
	config_clear(&cfg);
}

/* --mmds with --net ...,mmds: V1 at 169.254.169.254 by default; either without the other,
 * or a bad word or address, is refused. */
static void test_parse_mmds(void **state)
{
	const char *const plain[] = { "run", "--kernel", "k", "--net", "tap=t0,mmds", "--net", "user",
				      "--mmds", "version=V1", "--metadata", "m.json", NULL };
	const char *const full[] = { "run", "--kernel", "k", "--net", "user,mmds", "--mmds",
				     "version=V2,ipv4_address=169.254.1.2,imds_compat=on", NULL };
	const char *const bad[][10] = {
		{ "run", "--kernel", "k", "--mmds", "version=V2", NULL },
		{ "run", "--kernel", "k", "--net", "user,mmds", NULL },
		{ "run", "--kernel", "k", "--net", "user", "--metadata", "m.json", NULL },
		{ "run", "--kernel", "k", "--net", "user,mmds", "--mmds", "version=V3", NULL },
		{ "run", "--kernel", "k", "--net", "user,mmds", "--mmds", "ipv4_address=10.0.0.1", NULL },
		{ "run", "--kernel", "k", "--net", "user,mmds", "--mmds", "imds_compat=yes", NULL },
	};
	struct vm_config cfg;
	char err[256] = "";
	(void)state;

	assert_int_equal(parse(&cfg, err, plain), CONFIG_OK);
	assert_true(cfg.mmds);
	assert_int_equal(cfg.mmds_version, 1);
	assert_int_equal(cfg.mmds_ipv4, 0xa9fea9feu);
	assert_false(cfg.mmds_imds_compat);
	assert_true(cfg.nets[0].mmds);
	assert_false(cfg.nets[1].mmds);
	assert_string_equal(cfg.metadata, "m.json");
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, full), CONFIG_OK);
	assert_int_equal(cfg.mmds_version, 2);
	assert_int_equal(cfg.mmds_ipv4, 0xa9fe0102u);
	assert_true(cfg.mmds_imds_compat);
	config_clear(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(parse(&cfg, err, bad[i]), CONFIG_ERROR);
		assert_non_null(strstr(err, "mmds"));
		config_clear(&cfg);
	}
}

/* --vsock cid=N,uds=PATH in either order; reserved CIDs, missing parts, unknown keys refused. */
static void test_parse_vsock(void **state)
{
	const char *const good[] = { "run", "--kernel", "vmlinux", "--vsock", "uds=/run/v.sock,cid=42", NULL };
	const char *const bad[][6] = {
		{ "run", "--kernel", "vmlinux", "--vsock", "cid=2,uds=/v", NULL },
		{ "run", "--kernel", "vmlinux", "--vsock", "cid=3", NULL },
		{ "run", "--kernel", "vmlinux", "--vsock", "uds=/v", NULL },
		{ "run", "--kernel", "vmlinux", "--vsock", "cid=3,uds=", NULL },
		{ "run", "--kernel", "vmlinux", "--vsock", "cid=4294967296,uds=/v", NULL },
		{ "run", "--kernel", "vmlinux", "--vsock", "cid=3,uds=/v,port=1", NULL },
	};
	struct vm_config cfg;
	char err[256] = "";
	(void)state;

	assert_int_equal(parse(&cfg, err, good), CONFIG_OK);
	assert_true(cfg.vsock);
	assert_int_equal(cfg.vsock_cid, 42);
	assert_string_equal(cfg.vsock_uds, "/run/v.sock");
	config_clear(&cfg);
	assert_null(cfg.vsock_uds);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&cfg, err, bad[i]), CONFIG_ERROR);
		assert_non_null(strstr(err, "--vsock"));
		config_clear(&cfg);
	}
}

static void add_disk(struct vm_config *cfg, const char *id, bool root)
{
	struct disk_config *d = &cfg->disks[cfg->nr_disks++];

	assert_int_equal(config_set(&d->id, id), 0);
	assert_int_equal(config_set(&d->path, id), 0);
	d->root = root;
}

static void assert_listed(const struct vm_config *cfg, const char *const *ids)
{
	for (int pos = 0; pos < cfg->nr_disks; pos++)
		assert_string_equal(cfg->disks[config_disk_listed(cfg, pos)].id, ids[pos]);
}

/* The root drive is disks[0] at start; the API's list keeps the order of the PUTs. */
/* --cpus N,affinity=, --vcpu-affinity (repeatable) and --io-affinity; their mistakes. */
static void test_parse_affinity(void **state)
{
	const char *const args[] = { "run", "--kernel", "k", "--vcpu-affinity", "1=0",
				     "--cpus", "2,affinity=0-1,3", "--vcpu-affinity", "0=1",
				     "--io-affinity", "0", NULL };
	const char *const bad_index[] = { "run", "--kernel", "k", "--vcpu-affinity", "2=0", "--cpus", "2", NULL };
	const char *const bad_cpus[] = { "run", "--kernel", "k", "--cpus", "2,affinity=", NULL };
	const char *const bad_word[] = { "run", "--kernel", "k", "--cpus", "2,pinned", NULL };
	const char *const bad_io[] = { "run", "--kernel", "k", "--io-affinity", "1-0", NULL };
	struct vm_config cfg;
	char err[256] = "", out[64];
	(void)state;

	assert_int_equal(parse(&cfg, err, args), CONFIG_OK);
	assert_int_equal(cfg.cpus, 2);
	config_format_vcpu_affinity(&cfg, out, sizeof(out));
	assert_string_equal(out, "0-1,3,0=1,1=0");
	cpulist_format(&cfg.io_affinity.cpus, out, sizeof(out));
	assert_string_equal(out, "0");
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, bad_index), CONFIG_ERROR);
	assert_string_equal(err, "--vcpu-affinity names vCPU 2, but --cpus gives 2");
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, bad_cpus), CONFIG_ERROR);
	assert_string_equal(err, "--cpus: an empty CPU list: name CPUs like 0-3,5");
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, bad_word), CONFIG_ERROR);
	assert_non_null(strstr(err, "--cpus '2,pinned': need a number from 1 to 64"));
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, bad_io), CONFIG_ERROR);
	assert_string_equal(err, "--io-affinity: CPU list '1-0': the range 1-0 runs backwards");
	config_clear(&cfg);
}

/* --cpu-weight, --cpu-max and --vcpu-weight (repeatable); a vCPU the VM lacks; a restore
 * takes them too (its vCPUs are the snapshot's: the build checks those). */
static void test_parse_sched(void **state)
{
	const char *const args[] = { "run", "--kernel", "k", "--cpus", "3", "--cpu-weight", "250",
				     "--cpu-max", "max", "--vcpu-weight", "0=100,2=300",
				     "--vcpu-weight", "2=400", NULL };
	const char *const bad_index[] = { "run", "--kernel", "k", "--vcpu-weight", "1=100", NULL };
	const char *const bad_weight[] = { "run", "--kernel", "k", "--vcpu-weight", "0=0", NULL };
	const char *const bad_max[] = { "run", "--kernel", "k", "--cpu-max", "1/100000", NULL };
	const char *const restore[] = { "run", "--restore", "s", "--mem", "m", "--vcpu-weight",
					"5=10", "--cpu-weight", "50", NULL };
	struct vm_config cfg;
	char err[256] = "", out[64];
	(void)state;

	assert_int_equal(parse(&cfg, err, args), CONFIG_OK);
	assert_int_equal(cfg.sched.weight, 250);
	assert_int_equal(cfg.sched.max_quota_us, -1);
	assert_int_equal(cfg.sched.max_period_us, 100000);
	cgroup_format_vcpu_weights(cfg.sched.vcpu_weight, out, sizeof(out));
	assert_string_equal(out, "0=100,2=400");
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, bad_index), CONFIG_ERROR);
	assert_string_equal(err, "--vcpu-weight names vCPU 1, but --cpus gives 1");
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, bad_weight), CONFIG_ERROR);
	assert_string_equal(err, "--vcpu-weight '0=0': vCPU 0's weight '0' is not a number from 1 to 10000");
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, bad_max), CONFIG_ERROR);
	assert_non_null(strstr(err, "--cpu-max '1/100000': use QUOTA/PERIOD"));
	config_clear(&cfg);
	assert_int_equal(parse(&cfg, err, restore), CONFIG_OK);
	assert_int_equal(cfg.sched.vcpu_weight[5], 10);
	assert_int_equal(cfg.sched.weight, 50);
	config_clear(&cfg);
}

static void test_root_first(void **state)
{
	const char *const order[] = { "a", "r", "b", "c" };
	struct vm_config cfg = { 0 };
	(void)state;

	add_disk(&cfg, "a", false);
	add_disk(&cfg, "r", true);
	add_disk(&cfg, "b", false);
	config_root_first(&cfg);
	assert_string_equal(cfg.disks[0].id, "r");
	assert_string_equal(cfg.disks[1].id, "a");
	assert_string_equal(cfg.disks[2].id, "b");
	assert_listed(&cfg, order);
	/* After a failed start: a new drive, another root, and a second start. */
	add_disk(&cfg, "c", false);
	assert_listed(&cfg, order);
	cfg.disks[0].root = false;
	cfg.disks[3].root = true;
	config_root_first(&cfg);
	assert_string_equal(cfg.disks[0].id, "c");
	assert_listed(&cfg, order);
	cfg.disks[0].root = false;
	config_root_first(&cfg);
	for (int i = 0; i < 4; i++)
		assert_string_equal(cfg.disks[i].id, order[i]);
	config_clear(&cfg);
}

static void test_root_cmdline(void **state)
{
	struct vm_config cfg = { 0 };
	char *s;
	(void)state;

	/* host_quirks off: the words do not depend on the machine the test runs on. */
	s = config_guest_cmdline(&cfg);
	assert_string_equal(s, "console=ttyS0 reboot=k panic=-1");
	free(s);
	add_disk(&cfg, "rootfs", true);
	s = config_guest_cmdline(&cfg);
	assert_string_equal(s, "root=/dev/vda rw");
	free(s);
	cfg.disks[0].readonly = true;
	assert_int_equal(config_set(&cfg.disks[0].partuuid, "1234-ab"), 0);
	assert_int_equal(config_set(&cfg.cmdline, "console=ttyS0"), 0);
	s = config_guest_cmdline(&cfg);
	assert_string_equal(s, "console=ttyS0 root=PARTUUID=1234-ab ro");
	free(s);
	config_clear(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_owns_and_names),
		cmocka_unit_test(test_parse_default_net),
		cmocka_unit_test(test_parse_errors_free),
		cmocka_unit_test(test_parse_vsock),
		cmocka_unit_test(test_parse_mmds),
		cmocka_unit_test(test_parse_sched),
		cmocka_unit_test(test_parse_affinity),
		cmocka_unit_test(test_root_first),
		cmocka_unit_test(test_root_cmdline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
