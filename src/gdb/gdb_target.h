/*
 * The machine the GDB stub debugs: struct gdb_target_ops over the VM's vCPUs and guest
 * memory, all-stop. Stopping means every vCPU parks in the vCPU layer's exit hook: a stop
 * request sets a flag and kicks every vCPU, and each parks at the kick's VCPU_EXIT_INTR
 * (an exit with nothing left to complete, so its registers are whole) until resume() tells
 * it what to do. A breakpoint, watchpoint or finished step stops the others the same way.
 *
 * Threads: one debugger thread (the gdb server's) calls everything here; the vCPU threads
 * enter only through the hook. The target ops run only while every vCPU is parked (the
 * stub's rule), so their register and memory accesses never race the guest.
 *
 * This host (nested KVM, kvm_pvm) does not deliver #BP for an int3 the guest executes in
 * kernel mode: the instruction fails emulation (KVM_EXIT_INTERNAL_ERROR, suberror 1) with
 * RIP at the int3. Such an exit at a planted breakpoint is taken as the breakpoint's hit;
 * on a correct host int3 exits as #BP and this path is never taken.
 */
#ifndef VMON_GDB_TARGET_H
#define VMON_GDB_TARGET_H

#include <pthread.h>
#include <stdatomic.h>
#include "cpu/vcpu.h"
#include "gdb/gdb_stub.h"

#define GDB_MAX_SW_BREAKPOINTS 64

struct gdb_target_vcpu {
	bool parked;             /* waiting in the hook */
	bool go;                 /* resume() let it run */
	bool step;               /* its next #DB with BS ends its step */
	bool applied_valid;
	struct vcpu_debug applied; /* what vcpu_set_debug last took */
};

struct gdb_target {
	struct vcpu_set *vcpus;
	const struct guest_mem *mem;
	void (*kill)(void *opaque);  /* gdb's k: end the VM (debugger thread) */
	void (*clock)(void *opaque, bool run); /* optional: stop or restart the guest clock */
	void *opaque;
	bool clock_stopped;          /* by the last stop taken (debugger thread only) */
	int notify_fd;               /* eventfd: a stop completed (every vCPU parked) */

	pthread_mutex_t lock;        /* all below; the vCPUs wait on cond */
	pthread_cond_t cond;
	atomic_bool off;             /* the server stopped: the hook takes no exit */
	atomic_bool stopping;        /* a stop is under way or done: vCPUs park at their kick */
	bool paused;                 /* the VM is paused: gdb may look but change nothing */
	int stop_signal;             /* what a stop without a debug event reports */
	int nr_parked;
	bool stop_ready;             /* every vCPU parked since the stop request */
	bool stop_taken;             /* gdb_target_take_stop() returned it */
	bool event_real;             /* event is a breakpoint, watchpoint or step (not a kick) */
	bool event_polled;           /* a watchpoint hit the poll found: its vCPU is a guess */
	int event_vcpu;              /* -1: none yet */
	struct gdb_stop event;
	struct gdb_target_vcpu *cpu; /* one per vCPU */

	/* Breakpoints: changed by the debugger thread only, under lock (the hook reads them). */
	struct { bool used; uint64_t addr, gpa; uint8_t orig; } sw[GDB_MAX_SW_BREAKPOINTS];
	int nr_sw;
	struct {
		bool used;
		int type, len;
		uint64_t addr;
		bool polled;         /* a write watchpoint also found by polling its bytes */
		uint64_t gpa;
		uint8_t last[8];     /* its bytes when the vCPUs last went */
	} hw[4];
	uint64_t dr7;
	/*
	 * Watchpoint hits the stop they came in did not report (another event came first):
	 * each is the stop of a later resume instead, as gdbserver reports a pending event. It
	 * names a vCPU that would move and is not on a breakpoint (there gdb would take the
	 * SIGTRAP for the breakpoint's and report that twice). Breakpoints and steps are not
	 * kept: the vCPU waits on the breakpoint's instruction and hits it again, and a
	 * finished step is over.
	 */
	struct { struct gdb_stop ev; int vcpu; } kept[4];
	int nr_kept;

	int cur_vcpu;                /* whose page tables translate a breakpoint's address */
	struct vcpu_context *ctx;    /* the debugger thread's scratch */
};

extern const struct gdb_target_ops gdb_target_ops;

/*
 * Before the hook is installed. With `wait`, every vCPU parks before its first
 * instruction (the stop completes once they all run; call before vcpus_start()). `clock`
 * (optional) stops the guest's clock while gdb holds the VM and restarts it after, so the
 * guest sees no leap in time (as QEMU does).
 */
int gdb_target_init(struct gdb_target *t, struct vcpu_set *vcpus, void (*kill)(void *),
		    void (*clock)(void *, bool), void *opaque, bool wait) __must_check;
void gdb_target_destroy(struct gdb_target *t);

/* The vCPU layer's exit hook; opaque is the target. */
bool gdb_target_hook(void *opaque, struct vcpu *vcpu, struct vcpu_exit *exit);

/*
 * The VM is paused (or no longer): while it is, the ops that would change guest RAM or a
 * vCPU's registers (M, X, G, P, software breakpoints) fail with -EBUSY, since a snapshot or
 * a migration may be copying them. Looking, resuming (the vCPUs then wait in the pause) and
 * hardware breakpoints go on. Any thread.
 */
void gdb_target_pause(struct gdb_target *t, bool paused);

/* Ask every vCPU to stop, reporting `signal` unless a debug event comes first; notify_fd
 * fires when all are parked (at once if they are). */
void gdb_target_stop(struct gdb_target *t, int signal);

/* After notify_fd: true once per completed stop, with the vCPU and reason to report. */
bool gdb_target_take_stop(struct gdb_target *t, int *vcpu, struct gdb_stop *why);

/*
 * Write (and access) watchpoints are also found by comparing the watched bytes while the
 * vCPUs run, for hosts whose debug registers never fire on data accesses (this one: guest
 * kernel code is emulated, and the emulator checks only instruction breakpoints). Such a
 * hit stops the VM up to a poll period after the write, wherever the vCPUs are then; a read
 * is not seen. gdb_target_poll_ms() says how soon to call gdb_target_poll() (-1: no need).
 */
int gdb_target_poll_ms(struct gdb_target *t);
void gdb_target_poll(struct gdb_target *t);

/*
 * The session ends (detach, the client left, vmon stops): breakpoints out, debugging off,
 * every vCPU let go. With `quick` (the VM is going down) the vCPUs are not stopped first
 * and their debug state is left as it is.
 */
void gdb_target_release(struct gdb_target *t, bool quick);

/* ---- between gdb_target.c (control) and gdb_target_mem.c (state), nobody else ------- */

static inline const struct cpu_backend_ops *cpu_ops(const struct gdb_target *t)
{
	return t->vcpus->ops;
}

static inline struct vcpu *vcpu_at(struct gdb_target *t, int i)
{
	return &t->vcpus->vcpus[i];
}

/* A debug event, the stop's reason unless a real one came first: the others are kicked
 * (and vcpu too unless the event is on its own thread, where it parks next). Lock held. */
void gdb_target_event(struct gdb_target *t, int vcpu, const struct gdb_stop *ev, bool on_vcpu);
/* The planted software breakpoint at a linear address, or -1 (lock held). */
int gdb_target_sw_find(const struct gdb_target *t, uint64_t addr);
void gdb_target_sw_remove(struct gdb_target *t, int i);
/* Remember the watched bytes as the vCPUs go (lock held). */
void gdb_target_poll_snapshot(struct gdb_target *t);
/* At a stop reported for `vcpu`: watched bytes that changed since the vCPUs went, and that
 * no stop has reported, are kept for a later resume (lock held). */
void gdb_target_poll_at_stop(struct gdb_target *t, int vcpu);
/* Keep a watchpoint hit (of vcpu, if known) for a later resume; true if it is kept now or
 * was already, false if there is no room (lock held). */
bool gdb_target_keep(struct gdb_target *t, int vcpu, const struct gdb_stop *ev);

/* The target ops of gdb_target_mem.c: called with every vCPU parked. */
int gdb_target_get_regs(void *t, int vcpu, struct gdb_regs *r);
int gdb_target_set_regs(void *t, int vcpu, const struct gdb_regs *r);
int gdb_target_read_mem(void *t, int vcpu, uint64_t addr, void *buf, size_t len, bool phys);
int gdb_target_write_mem(void *t, int vcpu, uint64_t addr, const void *buf, size_t len,
			 bool phys);
int gdb_target_set_breakpoint(void *t, int type, uint64_t addr, int kind, bool insert);

#endif
