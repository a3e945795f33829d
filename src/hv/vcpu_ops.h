/*
 * The per-vCPU half of the hypervisor layer (the VM half is hv/hv.h): how a vCPU runs and
 * what its architectural state is. The vCPU layer (cpu/vcpu.c) and the exit table see only
 * this, so a software backend can replace KVM without touching them. KVM: hv/kvm/vcpu.c.
 */
#ifndef VMON_VCPU_OPS_H
#define VMON_VCPU_OPS_H

#include <linux/kvm.h>
#include <stdint.h>
#include "util/util.h"

struct vcpu;

/* Why the vCPU stopped running guest code: the index of the exit table. */
enum vcpu_exit_reason {
	VCPU_EXIT_IO,
	VCPU_EXIT_MMIO,
	VCPU_EXIT_HLT,
	VCPU_EXIT_SHUTDOWN,       /* triple fault */
	VCPU_EXIT_SYSTEM_EVENT,   /* PSCI-like power events from the in-kernel model */
	VCPU_EXIT_FAIL_ENTRY,
	VCPU_EXIT_INTERNAL_ERROR,
	VCPU_EXIT_INTR,           /* kicked by the VMM (pause, stop) */
	VCPU_EXIT_DEBUG,          /* single step, breakpoint or watchpoint (set_debug) */
	VCPU_EXIT_UNKNOWN,
	VCPU_EXIT__MAX,
};

struct vcpu_exit {
	enum vcpu_exit_reason reason;
	uint32_t raw_reason; /* the backend's own code, for logs */
	union {
		struct {
			uint16_t port;
			uint8_t size;
			bool out;
			uint32_t count;
			uint8_t *data; /* count * size bytes */
		} io;
		struct {
			uint64_t addr;
			uint8_t *data;
			uint32_t len;
			bool write;
		} mmio;
		struct {
			uint32_t type;
		} system_event;
		struct {
			uint64_t hw_reason;
		} fail_entry;
		struct {
			uint32_t exception; /* 1: #DB (step, hardware breakpoint), 3: #BP */
			uint64_t pc;
			uint64_t dr6, dr7;
		} debug;
		struct {
			uint32_t suberror;
			uint32_t ndata;
			uint64_t data[16];
		} internal;
	};
};

/*
 * The architectural state of a vCPU. Which parts a call touches is chosen by `what`.
 * Backends get and set the parts in this order, which KVM requires (and a restore must
 * keep): get MP_STATE, REGS, SREGS, XSAVE, XCRS, DEBUGREGS, LAPIC, TSC_KHZ, MSRS, EVENTS;
 * set TSC_KHZ, SREGS (CR0/CR4/EFER before what depends on them), REGS, XSAVE (FPU),
 * XCRS, DEBUGREGS, LAPIC, MSRS (after SREGS for EFER-dependent MSRs, after LAPIC for
 * TSC_DEADLINE), MP_STATE, EVENTS last (pending exceptions and NMIs on top of the rest).
 * FPU (KVM_GET/SET_FPU) is the legacy subset of XSAVE, for the boot state only.
 */
#define VCPU_CTX_REGS (1u << 0)
#define VCPU_CTX_SREGS (1u << 1)
#define VCPU_CTX_FPU (1u << 2)
#define VCPU_CTX_MSRS (1u << 3)
#define VCPU_CTX_LAPIC (1u << 4)
#define VCPU_CTX_EVENTS (1u << 5)
#define VCPU_CTX_MPSTATE (1u << 6)
#define VCPU_CTX_XCRS (1u << 7)
#define VCPU_CTX_XSAVE (1u << 8)
#define VCPU_CTX_DEBUGREGS (1u << 9)
#define VCPU_CTX_TSC_KHZ (1u << 10)
/* Everything a snapshot saves (not FPU: XSAVE holds it). */
#define VCPU_CTX_ALL (VCPU_CTX_REGS | VCPU_CTX_SREGS | VCPU_CTX_MSRS | VCPU_CTX_LAPIC | \
		      VCPU_CTX_EVENTS | VCPU_CTX_MPSTATE | VCPU_CTX_XCRS | VCPU_CTX_XSAVE | \
		      VCPU_CTX_DEBUGREGS | VCPU_CTX_TSC_KHZ)

/* Room for every MSR KVM reports as saveable (a few hundred at most today). */
#define VCPU_CTX_MAX_MSRS 512

struct vcpu_context {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xsave xsave;      /* the legacy 4 KiB area */
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	uint32_t tsc_khz;
	/* MSRS: on get, the indices asked for (vcpu_context_all_msrs() fills in every
	 * saveable one); on set, the values to write. */
	uint32_t nr_msrs;
	struct kvm_msr_entry msrs[VCPU_CTX_MAX_MSRS];
};

/*
 * Guest debugging (gdb stub): single-step, software breakpoints, up to four hardware
 * breakpoints or watchpoints. A step holds off interrupts where the backend can, so it
 * lands on the next instruction rather than in an interrupt handler.
 */
struct vcpu_debug {
	bool enable;
	bool single_step;
	bool sw_breakpoints;  /* the guest's int3 (#BP) exits as VCPU_EXIT_DEBUG, exception 3 */
	bool hw_breakpoints;  /* use db[] and dr7 */
	uint64_t db[4];
	uint64_t dr7;
	/* Once: hand the guest the #DB (1) or #BP (3) that just exited but was its own, not
	 * the debugger's. 0: none. */
	uint8_t inject;
};

struct cpu_backend_ops {
	const char *name;
	/* Create vCPU `vcpu->index` (its APIC ID) of vcpu->set->hv and apply its CPUID policy. */
	int (*vcpu_create)(struct vcpu *vcpu) __must_check;
	void (*vcpu_destroy)(struct vcpu *vcpu);
	/* Run until an exit; -EINTR when kicked (reported as VCPU_EXIT_INTR). */
	int (*vcpu_run)(struct vcpu *vcpu, struct vcpu_exit *exit) __must_check;
	int (*vcpu_get_context)(struct vcpu *vcpu, struct vcpu_context *ctx, unsigned what) __must_check;
	int (*vcpu_set_context)(struct vcpu *vcpu, const struct vcpu_context *ctx, unsigned what) __must_check;
	/* Queue external interrupt `vector` (for a VM without an in-kernel LAPIC). */
	int (*vcpu_inject_irq)(struct vcpu *vcpu, uint8_t vector) __must_check;
	/* Make a running or about-to-run vcpu_run() return -EINTR promptly. Any thread. */
	void (*vcpu_kick)(struct vcpu *vcpu);
	/* Single-step, software and hardware breakpoints; their hits are VCPU_EXIT_DEBUG.
	 * vCPU's thread or while it is parked. */
	int (*vcpu_set_debug)(struct vcpu *vcpu, const struct vcpu_debug *dbg) __must_check;
	/* The MSRs a snapshot must carry: every one the backend can save for this vCPU.
	 * Writes up to max indices, returns how many. */
	int (*vcpu_msr_list)(struct vcpu *vcpu, uint32_t *idx, int max);
	/*
	 * The registers and segments as the last exit left them, for the profiler's samples
	 * (an exit with nothing left to complete). The first call asks the backend to bring them
	 * along with every later exit where it can (KVM_CAP_SYNC_REGS), so that the next calls
	 * cost no system call; vcpu_exit_regs_end() stops that. Both on the vCPU's thread.
	 */
	int (*vcpu_exit_regs)(struct vcpu *vcpu, struct kvm_regs *regs, struct kvm_sregs *sregs) __must_check;
	void (*vcpu_exit_regs_end)(struct vcpu *vcpu);
};

#endif
