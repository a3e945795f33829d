/* The VM configuration: `vmon run`'s command line into it, its strings, the guest command line. */

#include "vmm/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv/hv.h"
#include "security/seccomp.h"
#include "util/log.h"

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"

/*
 * Guest command-line words this host's nested KVM (kvm_pvm) needs, because it shows the
 * guest its own CPUID leaves 1 and 7 whatever vmon sets (../shared/PLATFORM.md): switch off
 * the features whose instructions it cannot emulate in guest kernel mode (xsave, smap's
 * stac/clac, popcnt, invpcid, erms/fsrm string ops), skip the INT3 self-test and SMP
 * alternatives patching (int3), and avoid slow paths (rodata, per-cpu embedding, sysfs
 * parameter files). On real hardware none of this is added.
 */
#define PVM_HOST_CMDLINE                                                                   \
	"noxsave clearcpuid=smap,popcnt,invpcid,erms,fsrm noinvpcid nopcid noint3selftest " \
	"noreplace-smp rodata=off percpu_alloc=page no_builtin_param_sysfs random.trust_cpu=on"

/* Also when jailed without /sys: the jailer passes what it saw (VMON_HOST_KVM=pvm). */
static bool host_is_pvm(void)
{
	const char *env = getenv("VMON_HOST_KVM");

	return access("/sys/module/kvm_pvm", F_OK) == 0 || (env && !strcmp(env, "pvm"));
}

void config_usage(FILE *out)
{
	fprintf(out,
		"usage: vmon run --kernel PATH [options]\n"
		"       vmon --api-sock PATH [--config-file FILE]   (see vmon --api-sock --help)\n"
		"       vmon ctl --api-sock PATH COMMAND             (see vmon ctl)\n"
		"       vmon jail --id ID --uid U --gid G -- ARGS   (see vmon jail --help)\n"
		"       vmon snapshot create|merge ...               (see vmon snapshot --help)\n"
		"       vmon shm-server --socket PATH --size SIZE    (see vmon shm-server --help)\n"
		"       vmon --help | --version\n"
		"\n"
		"Boot a Linux (or any 64-bit/PVH) kernel on KVM.\n"
		"\n"
		"  --kernel PATH        bzImage, vmlinux ELF or PVH ELF kernel\n"
		"  --initrd PATH        initial ramdisk (cpio, uncompressed is fastest)\n"
		"  --cmdline STR        kernel command line (default: \"%s\")\n"
		"  --memory SIZE        guest RAM, e.g. 512M, 2G (default 512M)\n"
		"  --cpus N[,affinity=LIST]  vCPUs, 1-%d (default 1); with affinity= every vCPU\n"
		"                       runs only on the host CPUs in LIST (like 0-3,5)\n"
		"  --vcpu-affinity I=LIST[,I=LIST]...  vCPU I runs only on host CPUs LIST, e.g.\n"
		"                       0=1,1=0-1 (a bare LIST first: every other vCPU)\n"
		"  --io-affinity LIST   the I/O thread (vmon-io) runs only on host CPUs LIST\n"
		"  --cpu-weight W       the VM's share of contended CPU, 1-10000 (100: as others;\n"
		"                       cgroup v2 cpu.weight, v1 cpu.shares W*1024/100)\n"
		"  --cpu-max Q/P        at most Q µs of CPU time per P µs (max/P: no cap), e.g.\n"
		"                       25000/100000 for a quarter of one CPU\n"
		"  --vcpu-weight I=W[,I=W]...  vCPU I's share against the VM's other vCPUs, 1-10000\n"
		"                       (each vCPU thread in a sub-group of the VM's cgroup)\n"
		"  --cgroup DIR         make the VM's cgroup in DIR (default: vmon's own group)\n"
		"  --console SPEC       stdio (default, raw mode; Ctrl-A x quits), file:PATH,\n"
		"                       unix:PATH (a socket one client connects to), none\n"
		"  --boot PROTO         auto (default), linux (64-bit boot protocol), pvh\n"
		"  --disk SPEC          virtio-blk disk: path=FILE[,readonly][,serial=ID]\n"
		"                       [,io_engine=io_uring|sync][,transport=mmio|pci] (up to %d)\n"
		"  --net SPEC           virtio-net: user[,hostfwd=tcp::HOSTPORT-:GUESTPORT]... (the\n"
		"                       default: NAT through libslirp, guest 10.0.2.15, DHCP),\n"
		"                       tap=NAME (created if missing), or none; add ,mac=MAC\n"
		"                       ,mtu=N (68-65535) and ,transport=mmio|pci; ,mmds: MMDS\n"
		"                       answers there (see --mmds)\n"
		"  --mmds version=V1|V2[,ipv4_address=A][,imds_compat=on]  the metadata service\n"
		"                       on the --net ...,mmds interfaces (default V1 at\n"
		"                       169.254.169.254; A link-local)\n"
		"  --metadata FILE      MMDS's data store from a JSON file\n"
		"  --rng[=transport=T]  virtio-rng entropy device\n"
		"  --balloon amount_mib=N[,deflate_on_oom=on][,stats=S]  virtio-balloon holding N MiB,\n"
		"                       guest statistics every S seconds (0: none);\n"
		"                       ,free_page_reporting=on: pages the guest frees go back too\n"
		"  --vsock cid=N,uds=PATH  virtio-vsock for guest CID N (>= 3); host clients connect\n"
		"                       to PATH, guest connections to host port P go to PATH_P\n"
		"  --shm SPEC           ivshmem on PCI: socket=PATH[,vectors=N] (ivshmem-doorbell, a\n"
		"                       peer of vmon shm-server or QEMU's ivshmem-server),\n"
		"                       path=FILE,size=SIZE or memfd,size=SIZE (ivshmem-plain)\n"
		"  --pmem path=FILE[,readonly][,root]  virtio-pmem: FILE (a multiple of 2 MiB) mapped\n"
		"                       into the guest as /dev/pmemN; root: root=/dev/pmem0\n"
		"  --virtio-transport T mmio (default) or pci, for devices without transport=\n"
		"  --virtio-console[=transport=T]  virtio-console (hvc0) on the console; boot with\n"
		"                       console=hvc0\n"
		"  --hugepages          back guest RAM with 2 MiB huge pages\n"
		"  --no-host-decompress enter a bzImage through its own decompressor\n"
		"  --no-host-quirks     do not add this host's workaround words to the command line\n"
		"  --accel NAME         the machine backend (default kvm)\n"
		"  --track-dirty-pages  log written pages, for Diff snapshots\n"
		"  --restore STATE --mem FILE | --uffd SOCKET [--resume]\n"
		"                       restore a snapshot (memory from its file, or from a page-fault\n"
		"                       handler on SOCKET); paused until resumed over --api-sock\n"
		"  --testdev            add the test device (ports 0xf0/0xf4, MMIO 0xd0000000)\n"
		"  --api-sock PATH      also serve the management API (Firecracker's) on PATH\n"
		"  --gdb URL            a GDB stub on tcp:[HOST:]PORT (HOST defaults to 127.0.0.1)\n"
		"                       or unix:PATH; gdb: target remote HOST:PORT | PATH\n"
		"  --gdb-wait           the vCPUs wait for gdb before their first instruction\n"
		"  --no-seccomp         no seccomp filters (debugging only)\n"
		"  -v, --verbose        more log output (repeat for debug)\n"
		"  -q, --quiet          errors only\n"
		"\n"
		"Exit status: 0 guest powered off (or Ctrl-A x), 1 setup failed, 2 bad command line,\n"
		"3 guest reset/reboot, 4 triple fault, 5 KVM internal error or unhandled exit,\n"
		"6 stopped by SIGINT/SIGTERM, 7 a thread broke its seccomp filter; with --testdev,\n"
		"the code the guest wrote to port 0xf4.\n",
		DEFAULT_CMDLINE, VMON_MAX_CPUS, VMON_MAX_DISKS);
}

enum {
	OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS, OPT_CONSOLE, OPT_BOOT,
	OPT_HUGEPAGES, OPT_NO_HOST_DECOMPRESS, OPT_NO_HOST_QUIRKS, OPT_TESTDEV, OPT_HELP,
	OPT_VERSION, OPT_DISK, OPT_RNG, OPT_BALLOON, OPT_VSOCK, OPT_SHM, OPT_PMEM, OPT_VIRTIO_CONSOLE, OPT_NET, OPT_TRANSPORT, OPT_API_SOCK, OPT_NO_SECCOMP,
	OPT_ACCEL, OPT_TRACK_DIRTY, OPT_RESTORE, OPT_RESTORE_MEM, OPT_RESTORE_UFFD, OPT_RESUME,
	OPT_GDB, OPT_GDB_WAIT, OPT_VCPU_AFFINITY, OPT_IO_AFFINITY,
	OPT_CPU_WEIGHT, OPT_CPU_MAX, OPT_CGROUP, OPT_VCPU_WEIGHT, OPT_MMDS, OPT_METADATA,
};

static const struct option options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "boot", required_argument, NULL, OPT_BOOT },
	{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
	{ "no-host-decompress", no_argument, NULL, OPT_NO_HOST_DECOMPRESS },
	{ "no-host-quirks", no_argument, NULL, OPT_NO_HOST_QUIRKS },
	{ "testdev", no_argument, NULL, OPT_TESTDEV },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "rng", optional_argument, NULL, OPT_RNG },
	{ "balloon", required_argument, NULL, OPT_BALLOON },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "shm", required_argument, NULL, OPT_SHM },
	{ "pmem", required_argument, NULL, OPT_PMEM },
	{ "mmds", required_argument, NULL, OPT_MMDS },
	{ "metadata", required_argument, NULL, OPT_METADATA },
	{ "net", required_argument, NULL, OPT_NET },
	{ "virtio-transport", required_argument, NULL, OPT_TRANSPORT },
	{ "virtio-console", optional_argument, NULL, OPT_VIRTIO_CONSOLE },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "accel", required_argument, NULL, OPT_ACCEL },
	{ "track-dirty-pages", no_argument, NULL, OPT_TRACK_DIRTY },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "mem", required_argument, NULL, OPT_RESTORE_MEM },
	{ "uffd", required_argument, NULL, OPT_RESTORE_UFFD },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "gdb", required_argument, NULL, OPT_GDB },
	{ "gdb-wait", no_argument, NULL, OPT_GDB_WAIT },
	{ "vcpu-affinity", required_argument, NULL, OPT_VCPU_AFFINITY },
	{ "io-affinity", required_argument, NULL, OPT_IO_AFFINITY },
	{ "cpu-weight", required_argument, NULL, OPT_CPU_WEIGHT },
	{ "vcpu-weight", required_argument, NULL, OPT_VCPU_WEIGHT },
	{ "cpu-max", required_argument, NULL, OPT_CPU_MAX },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ 0 },
};

/* The API's id for an entry the command line made: "drive0", "net1", ... */
static int index_id(char **slot, const char *kind, int index)
{
	char id[24];

	snprintf(id, sizeof(id), "%s%d", kind, index);
	return config_set(slot, id);
}

/* "path=FILE[,readonly][,serial=ID]" or just "FILE". The string is modified in place. */
static int parse_disk(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	struct disk_config d = { 0 };
	const char *path = NULL, *serial = NULL;
	char *save = NULL;

	if (cfg->nr_disks == VMON_MAX_DISKS) {
		snprintf(err, errlen, "--disk: at most %d disks", VMON_MAX_DISKS);
		return -EINVAL;
	}
	for (char *tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "path=", 5))
			path = tok + 5;
		else if (!strcmp(tok, "readonly") || !strcmp(tok, "ro"))
			d.readonly = true;
		else if (!strcmp(tok, "transport=pci"))
			d.transport = TRANSPORT_PCI;
		else if (!strcmp(tok, "transport=mmio"))
			d.transport = TRANSPORT_MMIO;
		else if (!strcmp(tok, "io_engine=sync") || !strcmp(tok, "io_engine=Sync"))
			d.sync = true;
		else if (!strcmp(tok, "io_engine=io_uring") || !strcmp(tok, "io_engine=Async"))
			d.sync = false;
		else if (!strncmp(tok, "serial=", 7) && strlen(tok + 7) <= 20)
			serial = tok + 7;
		else if (!path && !strchr(tok, '='))
			path = tok;
		else {
			snprintf(err, errlen, "--disk: cannot understand '%s' "
				 "(path=FILE[,readonly][,serial=ID up to 20 chars][,io_engine=io_uring|sync])", tok);
			return -EINVAL;
		}
	}
	if (!path || !*path) {
		snprintf(err, errlen, "--disk: no path given");
		return -EINVAL;
	}
	/* The API knows the disk by its serial, as the guest does, or by its place. */
	if (config_set(&d.path, path) || config_set(&d.serial, serial) ||
	    (serial ? config_set(&d.id, serial) : index_id(&d.id, "drive", cfg->nr_disks))) {
		disk_config_clear(&d);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cfg->disks[cfg->nr_disks++] = d;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "amount_mib=N[,deflate_on_oom=on|off][,stats=S][,free_page_reporting=on|off]". Modifies it. */
static int parse_balloon(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	bool have_amount = false;
	char *save = NULL;

	for (char *t = strtok_r(arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strncmp(t, "amount_mib=", 11) && !parse_u32(t + 11, &cfg->balloon_mib))
			have_amount = true;
		else if (!strcmp(t, "deflate_on_oom=on") || !strcmp(t, "deflate_on_oom=off"))
			cfg->balloon_deflate_on_oom = !strcmp(t + 15, "on");
		else if (!strcmp(t, "free_page_reporting=on") || !strcmp(t, "free_page_reporting=off"))
			cfg->balloon_free_page_reporting = !strcmp(t + 20, "on");
		else if (strncmp(t, "stats=", 6) || parse_u32(t + 6, &cfg->balloon_stats_s)) {
			snprintf(err, errlen, "--balloon: bad '%s' (amount_mib=N, deflate_on_oom=on|off, "
				 "stats=SECONDS, free_page_reporting=on|off)", t);
			return -EINVAL;
		}
	}
	if (!have_amount) {
		snprintf(err, errlen, "--balloon needs amount_mib=N");
		return -EINVAL;
	}
	cfg->balloon = true;
	return 0;
}

/* "cid=N,uds=PATH". Modifies the string. */
static int parse_vsock(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	char *save = NULL;
	bool have_cid = false;

	for (char *t = strtok_r(arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strncmp(t, "cid=", 4) && !parse_u32(t + 4, &cfg->vsock_cid) && cfg->vsock_cid >= 3)
			have_cid = true;
		else if (!strncmp(t, "uds=", 4) && t[4]) {
			if (config_set(&cfg->vsock_uds, t + 4))
				return -ENOMEM;
		} else {
			snprintf(err, errlen, "--vsock: bad '%s' (cid=N with N >= 3, uds=PATH)", t);
			return -EINVAL;
		}
	}
	if (!have_cid || !cfg->vsock_uds) {
		snprintf(err, errlen, "--vsock needs cid=N and uds=PATH");
		return -EINVAL;
	}
	cfg->vsock = true;
	return 0;
}

int shm_config_check(const struct shm_config *s, char *err, size_t errlen)
{
	if (!s->socket == !(s->path || s->memfd) || (s->path && s->memfd)) {
		snprintf(err, errlen, "shm: give one of socket=PATH (doorbell), path=FILE or memfd (plain)");
		return -EINVAL;
	}
	if (s->socket && (s->vectors > 16 || s->size)) {
		snprintf(err, errlen, "shm: a doorbell device takes vectors=1-16 and its size from the server");
		return -EINVAL;
	}
	if (!s->socket && (s->vectors || s->size < 4096 || (s->size & (s->size - 1)) ||
			   s->size > 64ULL * GiB)) {
		snprintf(err, errlen, "shm: a plain device needs size=SIZE, a power of two from 4K to 64G, "
			 "and has no vectors");
		return -EINVAL;
	}
	if ((s->socket && !*s->socket) || (s->path && !*s->path)) {
		snprintf(err, errlen, "shm: empty path");
		return -EINVAL;
	}
	return 0;
}

int shm_config_parse(struct shm_config *s, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t && !ret; t = strtok_r(NULL, ",", &save)) {
		if (!strncmp(t, "socket=", 7))
			ret = config_set(&s->socket, t + 7);
		else if (!strncmp(t, "path=", 5))
			ret = config_set(&s->path, t + 5);
		else if (!strcmp(t, "memfd"))
			s->memfd = true;
		else if (!strncmp(t, "size=", 5) && !parse_size(t + 5, &s->size) && s->size)
			;
		else if (!strncmp(t, "vectors=", 8) && !parse_u32(t + 8, &s->vectors) && s->vectors)
			;
		else {
			snprintf(err, errlen, "--shm: cannot understand '%s' (socket=PATH[,vectors=N], "
				 "path=FILE,size=SIZE or memfd,size=SIZE)", t);
			ret = -EINVAL;
		}
	}
	free(copy);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (!ret) {
		char why[200];
		if ((ret = shm_config_check(s, why, sizeof(why))))
			snprintf(err, errlen, "--%s", why);
	}
	if (ret)
		shm_config_clear(s);
	return ret;
}

static int parse_shm(struct vm_config *cfg, const char *arg, char *err, size_t errlen)
{
	struct shm_config s;
	int ret;

	if (cfg->nr_shms == VMON_MAX_SHMS) {
		snprintf(err, errlen, "--shm: at most %d devices", VMON_MAX_SHMS);
		return -EINVAL;
	}
	ret = shm_config_parse(&s, arg, err, errlen);
	if (!ret && index_id(&s.id, "shm", cfg->nr_shms)) {
		shm_config_clear(&s);
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
	}
	if (!ret)
		cfg->shms[cfg->nr_shms++] = s;
	return ret;
}

/* The range the API accepts: IPv4's minimum up to what virtio-net's config field holds. */
static int parse_mtu(const char *s, uint16_t *mtu)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < 68 || v > 65535)
		return -EINVAL;
	*mtu = (uint16_t)v;
	return 0;
}

/* "user[,hostfwd=...]", "tap=NAME", "none", each with [,mac=MAC][,mtu=N]. Modifies the string. */
static int parse_net(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	struct net_config n = { 0 };
	const char *tap = NULL;
	char *save = NULL;
	bool user = false;

	if (!strcmp(arg, "none")) {
		cfg->no_net = true;
		return 0;
	}
	if (cfg->nr_nets == VMON_MAX_NETS) {
		snprintf(err, errlen, "--net: at most %d interfaces", VMON_MAX_NETS);
		return -EINVAL;
	}
	for (char *tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned m[6];
		char end;

		if (!strncmp(tok, "tap=", 4) && tok[4] && strlen(tok + 4) < 16) {
			tap = tok + 4;
		} else if (!strcmp(tok, "user")) {
			user = true;
		} else if (!strcmp(tok, "mmds")) {
			n.mmds = true;
		} else if (!strcmp(tok, "transport=pci") || !strcmp(tok, "transport=mmio")) {
			n.transport = tok[10] == 'p' ? TRANSPORT_PCI : TRANSPORT_MMIO;
		} else if (!strncmp(tok, "hostfwd=", 8) && n.nr_fwd < NET_MAX_HOSTFWD &&
			   net_parse_hostfwd(tok + 8, &n.fwd[n.nr_fwd]) == 0) {
			n.nr_fwd++;
		} else if (!strncmp(tok, "mac=", 4) &&
			   sscanf(tok + 4, "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2], &m[3], &m[4],
				  &m[5], &end) == 6 &&
			   m[0] < 256 && m[1] < 256 && m[2] < 256 && m[3] < 256 && m[4] < 256 &&
			   m[5] < 256 && !(m[0] & 1)) {
			for (int i = 0; i < 6; i++)
				n.mac[i] = (uint8_t)m[i];
			n.has_mac = true;
		} else if (!strncmp(tok, "mtu=", 4)) {
			if (parse_mtu(tok + 4, &n.mtu)) {
				snprintf(err, errlen, "--net: mtu '%s': use 68 to 65535", tok + 4);
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "--net: cannot understand '%s' (user[,hostfwd=tcp:[ADDR]:PORT-"
				 "[ADDR]:PORT], tap=NAME up to 15 chars, none; mac=unicast MAC)", tok);
			return -EINVAL;
		}
	}
	if (tap && (user || n.nr_fwd)) {
		snprintf(err, errlen, "--net: tap= and user/hostfwd= do not go together");
		return -EINVAL;
	}
	if (config_set(&n.tap, tap) || index_id(&n.id, "net", cfg->nr_nets)) {
		net_config_clear(&n);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cfg->nets[cfg->nr_nets++] = n;
	return 0;
}

/* --mmds [version=V1|V2][,ipv4_address=A][,imds_compat=on|off], as PUT /mmds/config. */
static int parse_mmds(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	char *save = NULL;
	struct in_addr a;

	cfg->mmds = true;
	for (char *t = arg ? strtok_r(arg, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "version=V1") || !strcmp(t, "version=V2")) {
			cfg->mmds_version = t[9] == '2' ? 2 : 1;
		} else if (!strncmp(t, "ipv4_address=", 13) && inet_pton(AF_INET, t + 13, &a) == 1 &&
			   (ntohl(a.s_addr) >> 16) == 0xa9fe) {
			cfg->mmds_ipv4 = ntohl(a.s_addr);
		} else if (!strcmp(t, "imds_compat=on") || !strcmp(t, "imds_compat=off")) {
			cfg->mmds_imds_compat = t[13] == 'n';
		} else {
			snprintf(err, errlen, "--mmds: bad '%s' (version=V1|V2, ipv4_address=<169.254.x.y>, "
				 "imds_compat=on|off)", t);
			return -EINVAL;
		}
	}
	return 0;
}

/* A string option's value, copied: the configuration owns its strings. */
static int option_string(char **slot, const char *arg, char *err, size_t errlen)
{
	if (!config_set(slot, arg))
		return 0;
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* One host-CPU list for an option. */
static int parse_affinity(struct cpu_affinity *a, const char *opt, const char *arg, char *err,
			  size_t errlen)
{
	char why[160];

	if (cpulist_parse(arg, &a->cpus, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", opt, why);
		return -EINVAL;
	}
	a->set = true;
	return 0;
}

static int parse_option(struct vm_config *cfg, int opt, const char *arg, char *err, size_t errlen)
{
	char *end, why[160];
	long n;

	switch (opt) {
	case OPT_KERNEL: return option_string(&cfg->kernel, arg, err, errlen);
	case OPT_INITRD: return option_string(&cfg->initrd, arg, err, errlen);
	case OPT_CMDLINE: return option_string(&cfg->cmdline, arg, err, errlen);
	case OPT_CONSOLE: return option_string(&cfg->console, arg, err, errlen);
	case OPT_API_SOCK: return option_string(&cfg->api_sock, arg, err, errlen);
	case OPT_TRACK_DIRTY: cfg->track_dirty_pages = true; break;
	case OPT_RESTORE: return option_string(&cfg->restore_state, arg, err, errlen);
	case OPT_RESTORE_MEM: cfg->restore_uffd = false; return option_string(&cfg->restore_mem, arg, err, errlen);
	case OPT_RESTORE_UFFD: cfg->restore_uffd = true; return option_string(&cfg->restore_mem, arg, err, errlen);
	case OPT_RESUME: cfg->restore_resume = true; break;
	case OPT_GDB:
		if (strncmp(arg, "tcp:", 4) && strncmp(arg, "unix:", 5)) {
			snprintf(err, errlen, "--gdb '%s': use tcp:[HOST:]PORT or unix:PATH", arg);
			return -EINVAL;
		}
		return option_string(&cfg->gdb, arg, err, errlen);
	case OPT_GDB_WAIT: cfg->gdb_wait = true; break;
	case OPT_ACCEL:
		if (!hv_find(arg)) {
			snprintf(err, errlen, "--accel '%s': this vmon has only kvm", arg);
			return -EINVAL;
		}
		return option_string(&cfg->accel, arg, err, errlen);
	case OPT_HUGEPAGES: cfg->hugepages = true; break;
	case OPT_NO_HOST_DECOMPRESS: cfg->no_host_decompress = true; break;
	case OPT_NO_HOST_QUIRKS: cfg->host_quirks = false; break;
	case OPT_TESTDEV: cfg->testdev = true; break;
	case OPT_NO_SECCOMP: seccomp_enabled = false; break;
	case OPT_RNG:
	case OPT_VIRTIO_CONSOLE: {
		enum virtio_transport t = TRANSPORT_DEFAULT;

		if (arg && !strcmp(arg, "transport=pci"))
			t = TRANSPORT_PCI;
		else if (arg && !strcmp(arg, "transport=mmio"))
			t = TRANSPORT_MMIO;
		else if (arg) {
			snprintf(err, errlen, "--%s=%s: use transport=mmio or transport=pci",
				 opt == OPT_RNG ? "rng" : "virtio-console", arg);
			return -EINVAL;
		}
		if (opt == OPT_RNG)
			cfg->rng = true, cfg->rng_transport = t;
		else
			cfg->virtio_console = true, cfg->console_transport = t;
		break;
	}
	case OPT_DISK: return parse_disk(cfg, (char *)arg, err, errlen);
	case OPT_BALLOON: return parse_balloon(cfg, (char *)arg, err, errlen);
	case OPT_VSOCK: return parse_vsock(cfg, (char *)arg, err, errlen);
	case OPT_SHM: return parse_shm(cfg, arg, err, errlen);
	case OPT_PMEM: {
		struct pmem_config p;
		int ret = pmem_config_parse(&p, arg, cfg->nr_pmems, err, errlen);
		char pwhy[160];

		if (!ret && (ret = pmem_config_add(cfg, &p, pwhy, sizeof(pwhy)))) {
			snprintf(err, errlen, "--pmem: %s", pwhy);
			pmem_config_clear(&p);
		}
		return ret;
	}
	case OPT_MMDS: return parse_mmds(cfg, (char *)arg, err, errlen);
	case OPT_METADATA: return option_string(&cfg->metadata, arg, err, errlen);
	case OPT_NET: return parse_net(cfg, (char *)arg, err, errlen);
	case OPT_TRANSPORT:
		if (strcmp(arg, "mmio") && strcmp(arg, "pci")) {
			snprintf(err, errlen, "--virtio-transport '%s': use mmio or pci", arg);
			return -EINVAL;
		}
		cfg->transport = arg[0] == 'p' ? TRANSPORT_PCI : TRANSPORT_MMIO;
		break;
	case 'v': cfg->log_level++; break;
	case 'q': cfg->log_level = LOG_ERROR; break;
	case OPT_MEMORY:
		if (parse_size(arg, &cfg->memory) || cfg->memory < VMON_MIN_MEMORY ||
		    cfg->memory % (4 * KiB) || cfg->memory > VMON_MAX_MEMORY) {
			snprintf(err, errlen, "--memory '%s': need a size from 8M to 1024G, in whole KiB pages",
				 arg);
			return -EINVAL;
		}
		break;
	case OPT_CPUS:
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || (*end && strncmp(end, ",affinity=", 10)) || end == arg || n < 1 ||
		    n > VMON_MAX_CPUS) {
			snprintf(err, errlen, "--cpus '%s': need a number from 1 to %d, then "
				 "optionally ,affinity=LIST", arg, VMON_MAX_CPUS);
			return -EINVAL;
		}
		cfg->cpus = (int)n;
		if (*end)
			return parse_affinity(&cfg->vcpus_affinity, "--cpus", end + 10, err, errlen);
		break;
	case OPT_VCPU_AFFINITY:
		if (!strchr(arg, '=')) /* a bare list is every vCPU's, as affinity= in --cpus */
			return parse_affinity(&cfg->vcpus_affinity, "--vcpu-affinity", arg, err, errlen);
		if (config_parse_vcpu_affinity(cfg, arg, why, sizeof(why))) {
			snprintf(err, errlen, "--vcpu-affinity '%s': %s", arg, why);
			return -EINVAL;
		}
		break;
	case OPT_IO_AFFINITY:
		return parse_affinity(&cfg->io_affinity, "--io-affinity", arg, err, errlen);
	case OPT_CPU_WEIGHT:
		if (cgroup_parse_weight(arg, &cfg->sched.weight)) {
			snprintf(err, errlen, "--cpu-weight '%s': need a number from 1 to 10000", arg);
			return -EINVAL;
		}
		break;
	case OPT_VCPU_WEIGHT:
		if (cgroup_parse_vcpu_weights(arg, cfg->sched.vcpu_weight, why, sizeof(why))) {
			snprintf(err, errlen, "--vcpu-weight '%s': %s", arg, why);
			return -EINVAL;
		}
		break;
	case OPT_CPU_MAX:
		if (cgroup_parse_cpu_max(arg, &cfg->sched.max_quota_us, &cfg->sched.max_period_us)) {
			snprintf(err, errlen, "--cpu-max '%s': %s", arg, CGROUP_CPU_MAX_HELP);
			return -EINVAL;
		}
		break;
	case OPT_CGROUP: return option_string(&cfg->sched.parent, arg, err, errlen);
	case OPT_BOOT:
		if (!strcmp(arg, "auto"))
			cfg->protocol = BOOT_PROTO_AUTO;
		else if (!strcmp(arg, "linux"))
			cfg->protocol = BOOT_PROTO_LINUX;
		else if (!strcmp(arg, "pvh"))
			cfg->protocol = BOOT_PROTO_PVH;
		else {
			snprintf(err, errlen, "--boot '%s': use auto, linux or pvh", arg);
			return -EINVAL;
		}
		break;
	default:
		snprintf(err, errlen, "unknown option (see vmon --help)");
		return -EINVAL;
	}
	return 0;
}

/* MMDS on the command line: --mmds with at least one --net ...,mmds, and the reverse. */
static int config_mmds_check(struct vm_config *cfg, char *err, size_t errlen)
{
	int marked = 0;

	for (int i = 0; i < cfg->nr_nets; i++)
		marked += cfg->nets[i].mmds;
	if (cfg->mmds != (marked > 0) || (cfg->metadata && !cfg->mmds)) {
		snprintf(err, errlen, "--mmds and --metadata need an interface with ,mmds (--net ...,mmds), "
			 "and ,mmds needs --mmds");
		return -1;
	}
	if (!cfg->mmds_version)
		cfg->mmds_version = 1;
	if (!cfg->mmds_ipv4)
		cfg->mmds_ipv4 = 0xa9fea9feu;
	return 0;
}

enum config_result config_parse(struct vm_config *cfg, int argc, char **argv, char *err,
				size_t errlen)
{
	int opt, n;

	*cfg = (struct vm_config){
		.memory = VMON_DEFAULT_MEMORY,
		.cpus = 1,
		.host_quirks = true,
		.log_level = LOG_WARN,
	};
	if (option_string(&cfg->console, "stdio", err, errlen))
		return CONFIG_ERROR;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "vq", options, NULL)) != -1) {
		if (opt == OPT_HELP) {
			config_usage(stdout);
			return CONFIG_EXIT_OK;
		}
		if (opt == OPT_VERSION) {
			printf("vmon %s\n", VMON_VERSION);
			return CONFIG_EXIT_OK;
		}
		if (opt == '?') {
			snprintf(err, errlen, "unknown or incomplete option '%s' (see vmon --help)",
				 argv[optind - 1]);
			return CONFIG_ERROR;
		}
		if (parse_option(cfg, opt, optarg, err, errlen))
			return CONFIG_ERROR;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see vmon --help)", argv[optind]);
		return CONFIG_ERROR;
	}
	if (cfg->restore_state || cfg->restore_mem) {
		if (!cfg->restore_state || !cfg->restore_mem) {
			snprintf(err, errlen, "--restore STATE needs --mem FILE (or --uffd SOCKET), and they need it");
			return CONFIG_ERROR;
		}
		if (cfg->kernel || cfg->nr_disks || cfg->nr_nets || cfg->rng || cfg->virtio_console ||
		    cfg->gdb) {
			snprintf(err, errlen, "--restore takes the machine from the snapshot: give no "
				 "--kernel, --disk, --net, --rng, --virtio-console or --gdb (PUT /gdb "
				 "starts a stub on the restored VM)");
			return CONFIG_ERROR;
		}
		return CONFIG_OK;
	}
	if (!cfg->kernel) {
		snprintf(err, errlen, "no kernel given (--kernel PATH)");
		return CONFIG_ERROR;
	}
	for (int i = cfg->cpus; i < VMON_MAX_CPUS; i++) {
		if (cfg->vcpu_affinity[i].set) {
			snprintf(err, errlen, "--vcpu-affinity names vCPU %d, but --cpus gives %d", i,
				 cfg->cpus);
			return CONFIG_ERROR;
		}
	}
	if ((n = cgroup_highest_vcpu(cfg->sched.vcpu_weight)) >= cfg->cpus) {
		snprintf(err, errlen, "--vcpu-weight names vCPU %d, but --cpus gives %d", n, cfg->cpus);
		return CONFIG_ERROR;
	}
	if (cfg->gdb_wait && !cfg->gdb) {
		snprintf(err, errlen, "--gdb-wait needs --gdb URL");
		return CONFIG_ERROR;
	}
	/* Like QEMU: one user-mode interface unless the user chose otherwise. */
	if (!cfg->nr_nets && !cfg->no_net) {
		if (index_id(&cfg->nets[0].id, "net", 0)) {
			snprintf(err, errlen, "out of memory");
			return CONFIG_ERROR;
		}
		cfg->nr_nets = 1;
	}
	if (cfg->no_net && cfg->nr_nets) {
		snprintf(err, errlen, "--net none and another --net do not go together");
		return CONFIG_ERROR;
	}
	if ((n = config_mmds_check(cfg, err, errlen)))
		return CONFIG_ERROR;
	if (cfg->hugepages && cfg->memory % (2 * MiB)) {
		snprintf(err, errlen, "--hugepages needs --memory in whole 2 MiB pages");
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}

static const struct disk_config *config_root(const struct vm_config *cfg)
{
	for (int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].root)
			return &cfg->disks[i];
	return NULL;
}

/*
 * Firecracker's words for the root drive after the user's: root=/dev/vda (or PARTUUID=) and
 * ro/rw. Without a user's command line they stand alone, vmon's default gives way.
 */
static char *root_cmdline(const struct vm_config *cfg, const struct disk_config *root)
{
	const struct pmem_config *pmem = pmem_config_root(cfg);
	const char *user = cfg->cmdline;
	char *s;

	if (pmem) /* Firecracker's words for a root pmem device */
		return asprintf(&s, "%s%sroot=/dev/pmem0 %s", user ? user : "", user ? " " : "",
				pmem->read_only ? "ro" : "rw") < 0 ? NULL : s;
	if (asprintf(&s, "%s%sroot=%s%s %s", user ? user : "", user ? " " : "",
		     root->partuuid ? "PARTUUID=" : "/dev/vda", root->partuuid ? root->partuuid : "",
		     root->readonly ? "ro" : "rw") < 0)
		return NULL;
	return s;
}

char *config_guest_cmdline(const struct vm_config *cfg)
{
	const struct disk_config *root = config_root(cfg);
	const char *quirks = cfg->host_quirks && host_is_pvm() ? PVM_HOST_CMDLINE : "";
	char *with_root = NULL, *s;

	if ((root || pmem_config_root(cfg)) && !(with_root = root_cmdline(cfg, root)))
		return NULL;
	const char *base = with_root ? with_root : cfg->cmdline ? cfg->cmdline : DEFAULT_CMDLINE;
	if (asprintf(&s, "%s%s%s", base, *quirks && *base ? " " : "", quirks) < 0)
		s = NULL;
	free(with_root);
	return s;
}

/* Take disks[from] out and put it back in at index to, the others keeping their order. */
static void disk_move(struct vm_config *cfg, int from, int to)
{
	struct disk_config d = cfg->disks[from];

	if (from < to)
		memmove(&cfg->disks[from], &cfg->disks[from + 1], (size_t)(to - from) * sizeof(d));
	else
		memmove(&cfg->disks[to + 1], &cfg->disks[to], (size_t)(from - to) * sizeof(d));
	cfg->disks[to] = d;
}

/*
 * Invariant: disks[1..] are in the API's order and disks[0] is listed at root_listed (0: in
 * place). Put disks[0] back first, since the root may have changed after a failed start.
 */
void config_root_first(struct vm_config *cfg)
{
	disk_move(cfg, 0, cfg->root_listed);
	cfg->root_listed = 0;
	for (int i = 0; i < cfg->nr_disks; i++) {
		if (cfg->disks[i].root) {
			disk_move(cfg, i, 0);
			cfg->root_listed = i;
			return;
		}
	}
}

int config_disk_listed(const struct vm_config *cfg, int pos)
{
	if (pos == cfg->root_listed)
		return 0;
	return pos < cfg->root_listed ? pos + 1 : pos;
}

int config_set(char **slot, const char *value)
{
	char *copy = value ? strdup(value) : NULL;

	if (value && !copy)
		return -ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

void disk_config_clear(struct disk_config *d)
{
	free(d->id);
	free(d->path);
	free(d->serial);
	free(d->partuuid);
	memset(d, 0, sizeof(*d));
}

void net_config_clear(struct net_config *n)
{
	free(n->id);
	free(n->tap);
	memset(n, 0, sizeof(*n));
}

void shm_config_clear(struct shm_config *s)
{
	free(s->id);
	free(s->socket);
	free(s->path);
	memset(s, 0, sizeof(*s));
}

void config_clear(struct vm_config *cfg)
{
	for (int i = 0; i < cfg->nr_pmems; i++)
		pmem_config_clear(&cfg->pmems[i]);
	for (int i = 0; i < cfg->nr_shms; i++)
		shm_config_clear(&cfg->shms[i]);
	for (int i = 0; i < cfg->nr_disks; i++)
		disk_config_clear(&cfg->disks[i]);
	for (int i = 0; i < cfg->nr_nets; i++)
		net_config_clear(&cfg->nets[i]);
	free(cfg->kernel);
	free(cfg->initrd);
	free(cfg->cmdline);
	free(cfg->console);
	free(cfg->api_sock);
	free(cfg->gdb);
	free(cfg->accel);
	free(cfg->restore_state);
	free(cfg->restore_mem);
	free(cfg->log_path);
	free(cfg->log_module);
	free(cfg->metrics_path);
	free(cfg->metadata);
	free(cfg->sched.parent);
	free(cfg->cpu_template);
	free(cfg->vsock_uds);
	free(cfg->vsock_id);
	memset(cfg, 0, sizeof(*cfg));
}
