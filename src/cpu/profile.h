/*
 * The guest profiler's vCPU side: a sampler thread asks each vCPU for a sample `hz` times a
 * second (a request flag and a kick); the vCPU, at the kick's exit, reads its registers,
 * records RIP, CPL and (in the guest kernel, 64-bit) the frame-pointer chain through its
 * own page tables and the checked guest-memory API, and runs on. Samples go into a bounded
 * buffer per vCPU; none are asked for while the VM is paused, and the profile ends early,
 * cleanly, when the VM stops. One profile at a time per VM.
 */
#ifndef VMON_CPU_PROFILE_H
#define VMON_CPU_PROFILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "profile/sample.h"
#include "util/util.h"

struct vcpu;
struct vcpu_set;

/* One vCPU's samples while a profile runs: records of words, header (CPL | frames << 8),
 * RIP, then the return addresses. Only its vCPU appends; the lock keeps the buffer's
 * owner from taking it away mid-record. */
struct vcpu_samples {
	pthread_mutex_t lock;
	uint64_t *words;   /* NULL: no profile */
	size_t len, cap, max;  /* in words: used, allocated, the most it may grow to */
	uint64_t taken, dropped, failed;
	bool regs_kept;    /* the backend brings the registers along with each exit */
};

enum profile_state { PROFILE_RUNNING, PROFILE_COMPLETED, PROFILE_STOPPED };

/* A finished vCPU's share of a profile. */
struct profile_vcpu {
	uint64_t *words;
	size_t len;
	uint64_t taken;    /* samples recorded */
	uint64_t dropped;  /* the buffer was full */
	uint64_t failed;   /* the registers could not be read */
	uint64_t missed;   /* ticks when its previous request was still pending (no exit yet) */
};

struct vcpu_profile {
	struct vcpu_set *set;
	unsigned hz, seconds;
	_Atomic int state;            /* enum profile_state; COMPLETED/STOPPED publish vcpu[] */
	_Atomic uint64_t ticks;       /* sample requests made (to every vCPU at once) */
	_Atomic uint64_t paused_ticks; /* ticks that asked nothing: the VM was paused */
	_Atomic uint64_t elapsed_ms;
	atomic_bool cancel;           /* end it now (vcpus_profile_end) */
	int nr;
	struct profile_vcpu *vcpu;
	pthread_t thread;
	bool joined;
};

/*
 * Start a profile (the API's lock held; the vCPUs' threads running). 0, or -EBUSY while
 * one runs, -EINVAL for a rate or duration outside profile/sample.h's bounds, -ENOMEM; with
 * a sentence in err. A finished profile is replaced.
 */
int vcpus_profile_start(struct vcpu_set *set, unsigned hz, unsigned seconds, char *err,
			size_t errlen) __must_check;

/* The running or the last profile, or NULL. */
const struct vcpu_profile *vcpus_profile(const struct vcpu_set *set);

/*
 * End a running profile and join its sampler, keeping what it has (vcpus_stop, before it
 * joins the vCPU threads the sampler kicks). API lock held, if there is an API.
 */
void vcpus_profile_end(struct vcpu_set *set);
/* End it and free it (vcpus_destroy). */
void vcpus_profile_free(struct vcpu_set *set);

/* A finished profile's next sample of vCPU `vcpu` from *pos (start at 0); false at the end. */
bool vcpu_profile_next(const struct vcpu_profile *p, int vcpu, size_t *pos,
		       struct profile_sample *s);

/* The vCPU's thread, at an exit with nothing left to complete: take one sample. */
void vcpu_sample(struct vcpu *vcpu);

#endif
