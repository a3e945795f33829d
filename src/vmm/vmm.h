/*
 * The VMM process as the management API sees it: one VM's specification (filled in by API
 * requests or a config file, in Firecracker's terms), its lifecycle (not started -> running
 * <-> paused), and the services around it (metrics). The API thread calls these functions;
 * the main thread runs the VM once it is started.
 */
#ifndef VMON_VMM_H
#define VMON_VMM_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include "util/ratelimit.h"
#include "vmm/config.h"
#include "vmm/metrics.h"
#include "vmm/vm.h"

enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED };

#define SPEC_ID_MAX 64

struct spec_drive {
	char id[SPEC_ID_MAX];
	char path[PATH_MAX];
	char partuuid[SPEC_ID_MAX];
	bool root, readonly, sync, writeback;
	int cfg_index;            /* its place in vm_config.disks once started */
	struct rate_limiter_spec limiter;
};

struct spec_net {
	char id[SPEC_ID_MAX];
	char tap[16];
	uint8_t mac[6];
	bool has_mac, has_mtu;
	uint16_t mtu;
	struct rate_limiter_spec rx, tx;
};

/* What the VM will be: Firecracker's resources, before they become a struct vm_config. */
struct vm_spec {
	bool has_boot;
	char kernel[PATH_MAX], initrd[PATH_MAX];
	char *boot_args;          /* NULL: vmon's default command line */
	int vcpus;
	uint64_t mem_mib;
	bool smt, track_dirty_pages;
	enum { HUGE_NONE, HUGE_THP, HUGE_2M } huge_pages;
	struct spec_drive drives[VMON_MAX_DISKS];
	int nr_drives;
	struct spec_net nets[VMON_MAX_NETS];
	int nr_nets;
	bool entropy;
	struct rate_limiter_spec entropy_limiter;
	char serial_out[PATH_MAX]; /* "" : the console is vmon's stdio */
	/* Echoed by GET /vm/config. */
	bool has_logger, has_metrics;
	char log_path[PATH_MAX], metrics_path[PATH_MAX];
	int log_level;
	bool log_show_level, log_show_origin;
	char log_module[32];
};

struct vmm {
	pthread_mutex_t lock;     /* state, spec; held by every API request */
	enum vmm_state state;
	char id[SPEC_ID_MAX];
	struct vm_spec spec;
	struct vm_config cfg;     /* made from spec at start */
	struct vm vm;
	int start_fd;             /* eventfd: InstanceStart asks the main thread to build the VM */
	bool main_waiting;        /* the main thread sits in vmm_wait_start() */
	bool start_requested, start_done;
	int start_ret;
	char start_err[768];
	pthread_cond_t start_cond;
	struct metrics metrics;
	uint64_t api_requests, api_errors;
};

/* Defaults as Firecracker has them: 1 vCPU, 128 MiB, nothing else. */
int vmm_init(struct vmm *vmm, const char *id) __must_check;

/* Free what the spec and services hold (the VM itself: vm_destroy). */
void vmm_destroy(struct vmm *vmm);

/*
 * InstanceStart: check the spec; the main thread (waiting in vmm_wait_start) builds the VM
 * and then runs it; this returns its verdict. Called on the main thread itself (config
 * file), it builds in place. On failure nothing is left behind and err says why.
 * Lock held.
 */
int vmm_start(struct vmm *vmm, char *err, size_t errlen) __must_check;

/* Adopt a VM the command line already built (vmon run --api-sock): the spec mirrors cfg. */
void vmm_adopt(struct vmm *vmm, const struct vm_config *cfg);

/* PATCH /vm. Lock held. */
int vmm_pause(struct vmm *vmm, char *err, size_t errlen) __must_check;
int vmm_resume(struct vmm *vmm, char *err, size_t errlen) __must_check;

/* SendCtrlAltDel: the key chord on the i8042 keyboard. Lock held. */
int vmm_ctrl_alt_del(struct vmm *vmm, char *err, size_t errlen) __must_check;

/* Post-boot PATCH /drives: point a drive at another file (the guest sees a capacity change). */
int vmm_drive_update(struct vmm *vmm, int index, const char *path, char *err,
		     size_t errlen) __must_check;

/* Post-boot rate limiter changes (PATCH /drives, /network-interfaces). */
int vmm_drive_limit(struct vmm *vmm, int index, const struct rate_limiter_spec *rl, char *err,
		    size_t errlen) __must_check;
int vmm_net_limit(struct vmm *vmm, int index, const struct rate_limiter_spec *rx,
		  const struct rate_limiter_spec *tx, char *err, size_t errlen) __must_check;

const char *vmm_state_name(enum vmm_state s);

/* Main thread: build the VM when InstanceStart asks, until one is built (1) or a signal says quit (0). */
int vmm_wait_start(struct vmm *vmm);

#endif
