/*
 * The CPU backend: how vCPUs execute. vmon's device models and exit table see only this
 * interface, so a pure-software backend can replace KVM without touching them.
 * KVM is the one implementation today (cpu/kvm_vcpu.c).
 */
#ifndef VMON_CPU_BACKEND_H
#define VMON_CPU_BACKEND_H

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
			uint32_t suberror;
			uint32_t ndata;
			uint64_t data[16];
		} internal;
	};
};

/* The architectural state of a vCPU. Which parts a call touches is chosen by `what`. */
#define VCPU_CTX_REGS (1u << 0)
#define VCPU_CTX_SREGS (1u << 1)
#define VCPU_CTX_FPU (1u << 2)
#define VCPU_CTX_MSRS (1u << 3)
#define VCPU_CTX_LAPIC (1u << 4)
#define VCPU_CTX_EVENTS (1u << 5)
#define VCPU_CTX_MPSTATE (1u << 6)
#define VCPU_CTX_XCRS (1u << 7)
#define VCPU_CTX_ALL 0xffu

#define VCPU_CTX_MAX_MSRS 32

struct vcpu_context {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_xcrs xcrs;
	uint32_t nr_msrs;
	struct kvm_msr_entry msrs[VCPU_CTX_MAX_MSRS];
};

struct cpu_backend_ops {
	const char *name;
	/* Create vCPU `vcpu->index` (its APIC ID) and apply its CPUID policy. */
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
};

extern const struct cpu_backend_ops kvm_cpu_backend;

#endif
