/*
 * The VMM process as the management API sees it: one VM's configuration (struct vm_config,
 * which API requests or a config file edit in Firecracker's terms), its lifecycle (not
 * started -> running <-> paused), and the services around it (metrics). The API thread
 * calls these functions; the main thread runs the VM once it is started.
 */
#ifndef VMON_VMM_H
#define VMON_VMM_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include "util/ratelimit.h"
#include "vmm/config.h"
#include "vmm/metrics.h"
#include "vmm/snapshot.h"

struct mig_progress;
struct mmds_shared;
#include "vmm/vm.h"

/* PUT /snapshot/load (or vmon run --restore): where the machine comes from. */
struct snapshot_load {
	char *state_path;
	char *mem_path;          /* the memory file, or with uffd the page-fault handler's socket */
	bool uffd;
	bool resume;
	bool clock_realtime;
	bool track_dirty_pages;
	int nr_overrides;        /* network_overrides: iface_id -> host_dev_name */
	struct { char *iface_id, *host_dev_name; } overrides[VMON_MAX_NETS];
	char *vsock_uds;         /* vsock_override: the vsock device's uds_path, or NULL */
};

void snapshot_load_clear(struct snapshot_load *l);

enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED };

struct vmm {
	pthread_mutex_t lock;     /* state, cfg; held by every API request */
	enum vmm_state state;
	char id[VMON_ID_MAX];
	struct vm_config cfg;     /* what the API edits and vm_build() reads */
	struct vm vm;
	int start_fd;             /* eventfd: InstanceStart asks the main thread to build the VM */
	bool main_waiting;        /* the main thread sits in vmm_wait_start() */
	bool start_requested, start_done;
	int start_ret;
	char start_err[768];
	pthread_cond_t start_cond;
	struct metrics metrics;
	uint64_t api_requests, api_errors;
	bool configured;          /* a boot resource was set: a snapshot may no longer be loaded */
	struct snapshot_load load; /* with start_requested: restore instead of booting */
	bool load_requested;
	uint64_t snapshots_created, snapshot_create_us, snapshot_load_us;
	struct mig_progress *migration; /* the last migration from here (migration/migrate.h) */
	/* The migration layer's figures for the metrics line, once a migration has started. */
	json_t *(*migration_metrics)(struct vmm *vmm);
	int incoming_fd;          /* PUT /migration/receive: the listening socket */
	bool receive_requested;
	/* Takes the incoming VM on the main thread (the migration layer's mig_receive). */
	int (*receive)(struct vmm *vmm, int listen_fd, char *err, size_t errlen);
	char receive_err[512];
	struct mmds_shared *mmds;  /* the MMDS data store (PUT /mmds), the nets' stacks read it */
};

/* Defaults as Firecracker has them: 1 vCPU, 128 MiB, nothing else. */
int vmm_init(struct vmm *vmm, const char *id) __must_check;

/* Free what the configuration and services hold (the VM itself: vm_destroy). */
void vmm_destroy(struct vmm *vmm);

/*
 * InstanceStart: check the configuration; the main thread (waiting in vmm_wait_start) builds the VM
 * and then runs it; this returns its verdict. Called on the main thread itself (config
 * file), it builds in place. On failure nothing is left behind and err says why.
 * Lock held.
 */
int vmm_start(struct vmm *vmm, char *err, size_t errlen) __must_check;

/* Have the main thread build (or restore) the VM and wait for its verdict. Lock held. */
int vmm_request_build(struct vmm *vmm, char *err, size_t errlen) __must_check;
/* The restore itself, on the main thread (vmm/vmm_snapshot.c). Lock held. */
int vmm_restore_build(struct vmm *vmm, char *err, size_t errlen) __must_check;

/* vmon run --api-sock: take over the command line's configuration (cfg is left empty). */
void vmm_adopt(struct vmm *vmm, struct vm_config *cfg);

/* PATCH /vm. Lock held. */
int vmm_pause(struct vmm *vmm, char *err, size_t errlen) __must_check;
int vmm_resume(struct vmm *vmm, char *err, size_t errlen) __must_check;

/* SendCtrlAltDel: the key chord on the i8042 keyboard. Lock held. */
int vmm_ctrl_alt_del(struct vmm *vmm, char *err, size_t errlen) __must_check;

/* Post-boot PATCH /drives: point cfg.disks[index] at another file (the guest sees a new capacity). */
int vmm_drive_update(struct vmm *vmm, int index, const char *path, char *err,
		     size_t errlen) __must_check;

/* Post-boot rate limiter changes (PATCH /drives, /network-interfaces). */
int vmm_drive_limit(struct vmm *vmm, int index, const struct rate_limiter_spec *rl, char *err,
		    size_t errlen) __must_check;
int vmm_net_limit(struct vmm *vmm, int index, const struct rate_limiter_spec *rx,
		  const struct rate_limiter_spec *tx, char *err, size_t errlen) __must_check;

/* The running VM's virtio-balloon, or NULL (none configured, or not booted). Lock held. */
struct virtio_device *vmm_balloon(struct vmm *vmm);

const char *vmm_state_name(enum vmm_state s);
/* What GET / shows: the state's name, or "Suspended" for a running guest in S3. Lock held. */
const char *vmm_state_show(struct vmm *vmm);

/*
 * PUT /actions PowerButton (vmon's): press the ACPI power button; Wake (vmon's): wake a
 * guest suspended to RAM. Lock held.
 */
int vmm_power_button(struct vmm *vmm, char *err, size_t errlen) __must_check;
int vmm_wake(struct vmm *vmm, char *err, size_t errlen) __must_check;

/* PUT /snapshot/create: the paused VM into two files (vmm/vmm_snapshot.c). Lock held. */
int vmm_snapshot_create(struct vmm *vmm, enum snapshot_type type, const char *state_path,
			const char *mem_path, char *err, size_t errlen) __must_check;

/*
 * PUT /snapshot/load: a fresh VMM (nothing configured, not started) becomes the snapshot's
 * VM, paused unless l->resume; the main thread builds it, as for InstanceStart. Takes
 * ownership of *l's strings. On failure nothing is left behind. Lock held.
 */
int vmm_snapshot_load(struct vmm *vmm, struct snapshot_load *l, char *err,
		      size_t errlen) __must_check;

/* The counters metrics lines carry (vmm/counters.c): a JSON object. vmm lock held. */
json_t *vmm_counters(void *opaque);

/* Main thread: build the VM when InstanceStart (or a snapshot load, or an incoming migration)
 * asks, until one is built (1), a signal says quit (0), or an incoming migration failed (-1). */
int vmm_wait_start(struct vmm *vmm);

#endif
