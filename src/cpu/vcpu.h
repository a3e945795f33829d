/*
 * The vCPU layer: the vCPU array, one thread each running the backend until an exit and
 * dispatching it through the exit table, and the pause protocol. It knows nothing of the
 * VM object: the builder hands it the buses, guest memory and a stop sink (struct
 * vcpu_env), and the hypervisor's per-vCPU operations.
 */
#ifndef VMON_VCPU_H
#define VMON_VCPU_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include "boot/entry.h"
#include "bus/bus.h"
#include "cpu/profile.h"
#include "hv/vcpu_ops.h"
#include "mem/guest_mem.h"

struct hv_vm;
struct vcpu_set;

/* Exit-handling time histogram: bucket i counts exits handled in under 2^i µs. */
#define VCPU_LATENCY_BUCKETS 16

/* vmon's profile of one vCPU; written by its thread only (STAT_INC), read by metrics. */
struct vcpu_stats {
	uint64_t exits[VCPU_EXIT__MAX];
	uint64_t latency[VCPU_EXIT__MAX][VCPU_LATENCY_BUCKETS];
	uint64_t handling_ns[VCPU_EXIT__MAX]; /* total time spent in vmon's handlers */
};

struct vcpu {
	struct vcpu_set *set;
	int index;             /* also its APIC ID */
	char id[16];           /* "vcpu0": its snapshot section */
	void *priv;            /* the backend's state (KVM: the vCPU fd and kvm_run) */
	pthread_t thread;
	bool thread_started;
	const cpu_set_t *affinity; /* host CPUs its thread may run on (NULL: inherited) */
	atomic_int tid;        /* its thread's id while the thread runs (0 before and after):
				* the VM's per-vCPU cgroup places it by this */
	atomic_bool throttle_due; /* the throttle's ticker asks for one sleep */
	atomic_bool sample_due;   /* the profiler asks for one sample (cpu/profile.h) */
	struct vcpu_samples samples;
	struct vcpu_stats stats;
};

/* What an exit handler tells the run loop. */
enum exit_action { EXIT_CONTINUE, EXIT_STOP, EXIT_ERROR };

/* A handler's verdict: continue, or stop the VM with `status` because of `why`. */
struct exit_outcome {
	enum exit_action action;
	int status;        /* enum vmon_exit_status, for STOP and ERROR */
	const char *why;
};

/* What exit handlers may touch. */
struct vcpu_env {
	struct bus *pio;
	struct bus *mmio;
	const struct guest_mem *mem;
	/* The stop sink: the run loop reports an outcome that ends the VM here. Any vCPU thread. */
	void (*stop)(void *opaque, int status, const char *why);
	void *opaque;
};

/*
 * The debugger's hook: runs on the vCPU's thread before every exit is dispatched. It may
 * consume the exit (return true: the exit table does not see it) and may block there, e.g.
 * while gdb holds the vCPU stopped.
 */
typedef bool (*vcpu_exit_hook)(void *opaque, struct vcpu *vcpu, struct vcpu_exit *exit);

struct vcpu_set {
	const struct cpu_backend_ops *ops;
	struct hv_vm *hv;
	struct vcpu_env env;
	int nr;
	struct vcpu *vcpus;
	vcpu_exit_hook hook;
	void *hook_opaque;
	atomic_bool stopping;

	/* Pause: vCPUs park after their current exit until resumed. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	bool pause_requested;
	int nr_parked;          /* in vcpu_park(), or held by the exit hook (vcpu_hold) */

	/* Throttle (migration's auto-converge): a ticker thread makes every vCPU sleep. */
	pthread_mutex_t throttle_lock;
	_Atomic unsigned throttle_pct;
	pthread_t throttle_thread;
	bool throttle_running;

	/* The guest profiler (cpu/profile.h): the running or the last profile. API lock held. */
	struct vcpu_profile *profile;

	/* PUT /cpu-config's template (NULL: none), applied as each vCPU is created; why it
	 * could not be goes to tmpl_err. */
	const struct cpu_template *tmpl;
	char tmpl_err[256];
};

/* The exit table: one handler per enum vcpu_exit_reason. Pure with respect to the VM. */
struct exit_outcome exit_dispatch(const struct vcpu_env *env, struct vcpu *vcpu,
				  struct vcpu_exit *exit);
const char *exit_reason_name(enum vcpu_exit_reason r);

/* Prepare an empty set (no vCPUs yet). */
void vcpus_init(struct vcpu_set *set, const struct cpu_backend_ops *ops, struct hv_vm *hv,
		const struct vcpu_env *env);
/* Create `nr` vCPUs, apply CPUID/MSRs/LAPIC; the boot CPU gets the entry state (NULL: a
 * restore sets every vCPU's state afterwards). */
int vcpus_create(struct vcpu_set *set, int nr, const struct boot_entry *entry) __must_check;
/* Start one thread per vCPU. */
int vcpus_start(struct vcpu_set *set) __must_check;
/* Ask every vCPU to leave its loop (any thread); vcpus_stop() then joins them. */
void vcpus_request_stop(struct vcpu_set *set);
/* Kick every vCPU out of guest mode and join the threads. */
void vcpus_stop(struct vcpu_set *set);
void vcpus_destroy(struct vcpu_set *set);

/*
 * Pause: every vCPU finishes its current exit and parks outside the backend's run call (or
 * is held there by the exit hook); returns once all are parked (or -ETIMEDOUT after a few seconds, with the vCPUs running
 * again). Resume lets them go. One caller at a time.
 */
int vcpus_pause(struct vcpu_set *set) __must_check;
void vcpus_resume(struct vcpu_set *set);
/* Before vcpus_start(): the threads park before their first run, until vcpus_resume(). */
void vcpus_start_paused(struct vcpu_set *set);

/*
 * For an exit hook that blocks its vCPU (gdb holding it stopped): between vcpu_hold() and
 * vcpu_unhold() the vCPU counts as parked, so vcpus_pause() completes around it, as QEMU
 * lets `stop` and savevm run while gdb has the VM stopped. Only where the vCPU's state is
 * whole (its exit consumed, nothing left for the next run). After vcpu_unhold() the hook
 * returns and the run loop parks the vCPU if a pause is on. On the vCPU's own thread.
 */
void vcpu_hold(struct vcpu *vcpu);
void vcpu_unhold(struct vcpu *vcpu);

/*
 * Throttle: every vCPU spends `pct` percent (0..99) of its time asleep outside the guest, in
 * slices of VCPU_THROTTLE_SLICE_MS of running, as QEMU's cpu-throttle does. 0 lets them run
 * freely again and joins the ticker thread. Any thread but a vCPU's; vcpus_destroy() stops it.
 */
#define VCPU_THROTTLE_SLICE_MS 10
int vcpus_throttle(struct vcpu_set *set, unsigned pct);
/* The nanoseconds a vCPU sleeps per slice at `pct` (pure). */
uint64_t vcpu_throttle_sleep_ns(unsigned pct);

/* Every saveable MSR index into ctx (for a full context get). */
void vcpu_context_all_msrs(struct vcpu *vcpu, struct vcpu_context *ctx);

/* Print registers, segments, control registers and code bytes at RIP (error exits). */
void vcpu_dump(struct vcpu *vcpu);

/* The MSR values every vCPU starts with (pure; fills ctx->msrs). */
void msr_boot_values(struct vcpu_context *ctx);

#endif
