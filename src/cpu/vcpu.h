/* vCPUs: one thread each, running the backend until an exit and dispatching it. */
#ifndef VMON_VCPU_H
#define VMON_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include "boot/entry.h"
#include "cpu/backend.h"

struct vm;

/* Exit-handling time histogram: bucket i counts exits handled in under 2^i µs. */
#define VCPU_LATENCY_BUCKETS 16

/* vmon's profile of one vCPU; written by its thread only (STAT_INC), read by metrics. */
struct vcpu_stats {
	uint64_t exits[VCPU_EXIT__MAX];
	uint64_t latency[VCPU_EXIT__MAX][VCPU_LATENCY_BUCKETS];
	uint64_t handling_ns[VCPU_EXIT__MAX]; /* total time spent in vmon's handlers */
};

struct vcpu {
	struct vm *vm;
	int index;             /* also its APIC ID */
	int fd;                /* KVM vCPU fd */
	struct kvm_run *run;   /* KVM's shared run page */
	pthread_t thread;
	bool thread_started;
	struct vcpu_stats stats;
};

/* What an exit handler tells the run loop. */
enum exit_action { EXIT_CONTINUE, EXIT_STOP, EXIT_ERROR };

/* The exit table: one handler per enum vcpu_exit_reason. */
enum exit_action exit_dispatch(struct vcpu *vcpu, struct vcpu_exit *exit);
const char *exit_reason_name(enum vcpu_exit_reason r);

/* Create every vCPU, apply CPUID/MSRs/LAPIC; the boot CPU gets the entry state. */
int vcpus_create(struct vm *vm, const struct boot_entry *entry) __must_check;
/* Start one thread per vCPU. */
int vcpus_start(struct vm *vm) __must_check;
/* Kick every vCPU out of guest mode and join the threads. */
void vcpus_stop(struct vm *vm);
void vcpus_destroy(struct vm *vm);

/*
 * Pause: every vCPU finishes its current exit and parks outside KVM_RUN; returns once all
 * are parked (or -ETIMEDOUT after a few seconds, with the vCPUs running again). The
 * kvmclock is held still while paused. Resume lets them go. One caller at a time.
 */
int vcpus_pause(struct vm *vm) __must_check;
int vcpus_resume(struct vm *vm) __must_check;

/* Print registers, segments, control registers and code bytes at RIP (error exits). */
void vcpu_dump(struct vcpu *vcpu);

/* The MSR values every vCPU starts with (pure; fills ctx->msrs). */
void msr_boot_values(struct vcpu_context *ctx);

#endif
