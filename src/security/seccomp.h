/*
 * seccomp filters, one per kind of thread (libseccomp): each thread installs its own
 * allowlist before it handles anything the guest or a client sends. A system call outside
 * it raises SIGSYS; the handler names the thread and the call, and vmon stops with
 * VMON_EXIT_SECCOMP. Threads inherit the filter of the thread that creates them.
 */
#ifndef VMON_SECCOMP_H
#define VMON_SECCOMP_H

#include <stdbool.h>

enum seccomp_kind {
	SECCOMP_MAIN,    /* after start-up: the run loop, console, signals, teardown */
	SECCOMP_VCPU,    /* KVM_RUN and the device models behind exits */
	SECCOMP_IO,      /* the I/O thread: virtqueues, io_uring, TAP */
	SECCOMP_NET,     /* libslirp's thread: the host sockets of user-mode networking */
	SECCOMP_API,     /* the HTTP server: accepts, requests, pause/resume */
	SECCOMP_METRICS, /* the periodic metrics writer */
	SECCOMP_GDB,     /* the GDB stub: its client socket, the vCPUs' state, guest memory */
	SECCOMP_PROFILE, /* the profiler's sampler: timers and the vCPUs' kick signal, nothing else */
	SECCOMP__MAX,
};

/* --no-seccomp turns it off (debugging only). */
extern bool seccomp_enabled;

/*
 * Install the calling thread's filter. Logs and returns -errno if it cannot be loaded.
 * With VMON_SECCOMP_SELFTEST=<kind name> in the environment, a thread of that kind then
 * makes one forbidden call (ptrace), so tests can see a violation caught and reported.
 */
int seccomp_install(enum seccomp_kind kind);

/* First thing in a new thread: its name (for reports), then its filter; exits on failure. */
void seccomp_thread_start(enum seccomp_kind kind, const char *name);

const char *seccomp_kind_name(enum seccomp_kind kind);

#endif
