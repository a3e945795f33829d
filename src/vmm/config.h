/*
 * The VM's configuration: the one model the command line (config.c), the management API and
 * its config file (src/api/) fill in, and vm_build() reads. It owns its strings. The API
 * edits it under the vmm lock, also while the VM runs: nothing reads it after vm_build().
 */
#ifndef VMON_CONFIG_H
#define VMON_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include "boot/loader.h"
#include "net/backend.h"
#include "util/cpulist.h"
#include "vmm/cgroup.h"
#include "util/ratelimit.h"
#include "util/util.h"

#define VMON_VERSION "0.1.0"
#define VMON_MAX_CPUS 64
_Static_assert(VMON_MAX_CPUS == CPU_SCHED_MAX_VCPUS, "a weight for every vCPU");
#define VMON_MIN_MEMORY (8 * MiB)
#define VMON_DEFAULT_MEMORY (512 * MiB)
#define VMON_MAX_MEMORY (1024 * GiB)
#define VMON_ID_MAX 64      /* drive_id, iface_id and the instance id, with their NUL */

#define VMON_MAX_DISKS 8

enum virtio_transport { TRANSPORT_DEFAULT, TRANSPORT_MMIO, TRANSPORT_PCI };

struct disk_config {
	char *id;           /* the API's drive_id; from the command line its serial, or "driveN" */
	enum virtio_transport transport;
	char *path;
	bool readonly;
	bool sync;          /* io_engine=sync: no io_uring */
	char *serial;       /* the guest's device ID (up to 20 characters); NULL: none */
	struct rate_limiter_spec limiter;
	bool root;          /* is_root_device: root= on the guest's command line, and /dev/vda */
	char *partuuid;     /* the root named by PARTUUID= instead of /dev/vda; NULL: none */
	bool writeback;     /* cache_type Writeback: reported only; the device offers flush anyway */
};

#define VMON_MAX_NETS 4

struct net_config {
	char *id;           /* the API's iface_id; from the command line "netN" */
	enum virtio_transport transport;
	char *tap;          /* TAP interface name (created if missing); NULL: user-mode (slirp) */
	uint8_t mac[6];
	bool has_mac;
	uint16_t mtu;       /* 0: the driver's default */
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	int nr_fwd;
	struct rate_limiter_spec rx_limiter, tx_limiter;
	bool mmds;          /* named in PUT /mmds/config's network_interfaces (--net ...,mmds) */
};

#define VMON_MAX_SHMS 4

/*
 * An ivshmem device (devices/ivshmem.h): ivshmem-doorbell on an ivshmem server's socket, or
 * ivshmem-plain on a shared file (created or grown to `size`) or on a memfd of its own.
 */
struct shm_config {
	char *id;           /* the API's shm id; from the command line "shmN" */
	char *socket;       /* doorbell: the server's socket; NULL: plain */
	uint32_t vectors;   /* doorbell: MSI-X vectors, 1-16 (0: 1) */
	char *path;         /* plain: the shared file; NULL with memfd */
	bool memfd;
	uint64_t size;      /* plain: a power of two from 4 KiB; doorbell: the server's */
};

#define VMON_MAX_PMEMS 4

/* A virtio-pmem device (devices/virtio/pmem.h): a host file mapped into the guest. */
struct pmem_config {
	char *id;           /* the API's id; from the command line "pmemN" */
	char *path;         /* the backing file; its size (a multiple of 2 MiB) is the device's */
	bool read_only;     /* mapped read-only, flushes refused */
	bool root;          /* root=/dev/pmem0 on the command line; kept at pmems[0] */
};

struct mmds_shared;

struct vm_config {
	char *kernel;            /* NULL: no boot source yet (the API before PUT /boot-source) */
	char *initrd;
	char *cmdline;           /* the API's boot_args; NULL: the default command line */
	uint64_t memory;
	int cpus;
	/* Host CPUs the threads may run on (unset: what vmon inherited). The vCPU's own entry
	 * wins over the one for every vCPU. Placement on this host: never in a snapshot. */
	struct cpu_affinity vcpus_affinity;
	struct cpu_affinity vcpu_affinity[VMON_MAX_CPUS];
	struct cpu_affinity io_affinity;
	/* --cpu-weight, --cpu-max, --vcpu-weight, --cgroup: the VM's own cpu cgroup (none unless
	 * one is set); PATCH /vmon/cpu changes them while the VM runs. Never in a snapshot. */
	struct cpu_sched_spec sched;
	bool smt;                /* the API's machine-config smt: reported only */
	char *console;           /* "stdio", "file:PATH" (the API's serial_out_path), "none" */
	/* PUT /serial's rate_limiter: bytes of COM1 output beyond it are dropped (Firecracker's
	 * uart.rate_limiter_dropped_bytes); unset, size 0 or refill_time 0: no limit. */
	struct token_bucket_spec serial_limiter;
	bool hugepages;
	bool thp;                /* transparent huge pages (madvise) */
	bool track_dirty_pages;  /* KVM dirty-page log on every memory slot */
	char *accel;             /* the machine backend (hv/hv.h): NULL is "kvm" */
	/* vmon run --restore: a snapshot to restore instead of a kernel to boot. */
	char *restore_state, *restore_mem;
	bool restore_uffd, restore_resume;
	enum boot_protocol protocol;
	bool no_host_decompress;
	bool testdev;
	bool host_quirks;        /* add this host's guest command-line workarounds */
	struct disk_config disks[VMON_MAX_DISKS];
	int nr_disks;
	int root_listed;         /* where the API lists disks[0]: see config_root_first() */
	bool rng;
	enum virtio_transport rng_transport;
	struct rate_limiter_spec rng_limiter;
	bool balloon;            /* virtio-balloon (PUT /balloon, --balloon) */
	uint32_t balloon_mib;    /* its target: guest memory the balloon should hold */
	bool balloon_deflate_on_oom;
	uint32_t balloon_stats_s; /* stats polling interval; 0: no stats queue */
	bool balloon_free_page_reporting; /* the guest reports free pages, released to the host */
	bool vsock;              /* virtio-vsock (PUT /vsock, --vsock) */
	uint32_t vsock_cid;      /* the guest's CID, >= 3 */
	char *vsock_uds;         /* the host side: clients at this path, guest ports at PATH_<P> */
	char *vsock_id;          /* Firecracker's deprecated vsock_id, kept for GET /vm/config */
	bool virtio_console;     /* console input goes to hvc0 (output from both) */
	enum virtio_transport console_transport;
	struct net_config nets[VMON_MAX_NETS];
	int nr_nets;
	struct shm_config shms[VMON_MAX_SHMS];
	int nr_shms;
	struct pmem_config pmems[VMON_MAX_PMEMS]; /* --pmem, PUT /pmem/{id} */
	int nr_pmems;
	bool no_net;             /* --net none: no default user-mode interface */
	/* PUT /mmds/config (--mmds): MMDS answers at mmds_ipv4 on the nets marked mmds. */
	bool mmds;
	uint8_t mmds_version;    /* MMDS_V1 or MMDS_V2 */
	uint32_t mmds_ipv4;      /* host order */
	bool mmds_imds_compat;
	char *metadata;          /* --metadata FILE: the data store's first document */
	/* The VMM's data store (not owned, never in a snapshot); NULL: the VM makes its own. */
	struct mmds_shared *mmds_service;
	enum virtio_transport transport; /* for devices that do not choose: mmio unless set */
	int log_level;           /* -v/-q, or the API's PUT /logger level */
	char *api_sock;          /* also serve the management API there */
	/* A GDB stub on tcp:[HOST:]PORT or unix:PATH (NULL: none); gdb_wait: the vCPUs wait
	 * for the debugger before their first instruction. Neither is saved in a snapshot. */
	char *gdb;
	bool gdb_wait;
	/* What PUT /logger and PUT /metrics set, as GET /vm/config reports it. */
	bool has_logger;
	char *log_path;          /* NULL: stderr */
	char *log_module;        /* NULL: every module */
	bool log_show_level, log_show_origin;
	char *metrics_path;      /* NULL: no PUT /metrics */
	/* PUT /cpu-config: Firecracker's custom CPU template (NULL: vmon's CPUID policy as is).
	 * Not in a snapshot's configuration: snapshots and migrations of such a VM are refused. */
	struct cpu_template *cpu_template;
};

enum config_result { CONFIG_OK, CONFIG_EXIT_OK, CONFIG_ERROR };

/*
 * Parse `vmon run ...` style arguments (argv[0] is the subcommand). Prints help/version
 * itself (CONFIG_EXIT_OK) or writes the problem into err (CONFIG_ERROR). Whatever the
 * result, config_clear() frees what cfg holds afterwards.
 */
enum config_result config_parse(struct vm_config *cfg, int argc, char **argv, char *err,
				size_t errlen);

/* Replace the string in *slot by a copy of value (NULL: none). 0 or -ENOMEM. */
int config_set(char **slot, const char *value) __must_check;

/* Free what an entry or the whole configuration holds; it is left zeroed. */
void disk_config_clear(struct disk_config *d);
void net_config_clear(struct net_config *n);
void config_clear(struct vm_config *cfg);
void shm_config_clear(struct shm_config *s);

/* ---- pmem_config.c ---- */
void pmem_config_clear(struct pmem_config *p);
/* --pmem's "path=FILE[,readonly][,root]" into p, named "pmem<index>". 0 or -errno + err. */
int pmem_config_parse(struct pmem_config *p, const char *spec, int index, char *err,
		      size_t errlen) __must_check;
/*
 * Add p to cfg (taking its strings), or replace the device of the same id. Refused: a fifth
 * device, a second root (pmem or drive). The root is moved to pmems[0]. 0 or -errno + err.
 */
int pmem_config_add(struct vm_config *cfg, struct pmem_config *p, char *err,
		    size_t errlen) __must_check;
/* The root pmem device (always pmems[0]), or NULL. */
const struct pmem_config *pmem_config_root(const struct vm_config *cfg);

/*
 * Parse --shm's "socket=PATH[,vectors=N]", "path=FILE,size=SIZE" or "memfd,size=SIZE" into
 * s (zeroed first; id not set). 0 or -EINVAL/-ENOMEM with one sentence in err.
 */
int shm_config_parse(struct shm_config *s, const char *spec, char *err, size_t errlen) __must_check;
/* Whether an entry is whole and in range (also for the API's). 0 or -EINVAL with err. */
int shm_config_check(const struct shm_config *s, char *err, size_t errlen) __must_check;

/*
 * Move the root drive to disks[0], so that the guest sees it as /dev/vda, while the API goes
 * on listing the drives in the order they were PUT: config_disk_listed() maps the place in
 * that list to an index in disks[]. Before InstanceStart.
 */
void config_root_first(struct vm_config *cfg);
int config_disk_listed(const struct vm_config *cfg, int pos);

/*
 * The command line the guest gets: the user's or the default, the root drive's words
 * (root=, ro/rw), plus host quirks. malloc'd.
 */
char *config_guest_cmdline(const struct vm_config *cfg);

/*
 * vCPU affinities: "LIST" (every vCPU), "I=LIST" (vCPU I), several joined by commas, e.g.
 * "0-1,0=1,1=0-1": a token with '=' starts a vCPU's list, tokens without one continue the
 * list before them. Sets the entries it names; 0 or -EINVAL with the reason in err.
 */
int config_parse_vcpu_affinity(struct vm_config *cfg, const char *spec, char *err,
			       size_t errlen) __must_check;
/* The same syntax back ("" when none is set). */
void config_format_vcpu_affinity(const struct vm_config *cfg, char *buf, size_t len);
/* The host CPUs vCPU i may run on, or NULL: unpinned. */
const cpu_set_t *config_vcpu_affinity(const struct vm_config *cfg, int i);
/*
 * Every affinity names a vCPU the VM has and only host CPUs this process may use (a
 * restored or migrated VM meets this host's CPUs here). 0, or -EINVAL with one sentence.
 */
int config_check_affinity(const struct vm_config *cfg, char *err, size_t errlen) __must_check;
/*
 * Copy this host's placement of the threads (the affinities, the cgroup, the CPU weights and
 * cap) from one configuration to another: a restore or an incoming migration keeps the
 * destination's own, since the snapshot carries none (its host may have had other CPUs and
 * other neighbours). 0 or -ENOMEM.
 */
int config_keep_placement(struct vm_config *to, const struct vm_config *from) __must_check;

void config_usage(FILE *out);

#endif
