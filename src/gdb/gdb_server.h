/*
 * The GDB stub's server: a thread that listens on tcp:[HOST:]PORT or unix:PATH, serves one
 * gdb client at a time, pumps its bytes through gdb_stub.c and drives the VM through
 * gdb_target.c. A client that connects stops the VM; one that leaves without detaching is
 * detached (breakpoints out, the VM runs on). The thread has a seccomp filter of its own.
 */
#ifndef VMON_GDB_SERVER_H
#define VMON_GDB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include "cpu/vcpu.h"

struct gdb_server;

struct gdb_server_env {
	struct vcpu_set *vcpus;
	/* gdb's kill (k): end the VM. Called on the gdb thread. */
	void (*kill)(void *opaque);
	/* Optional, on the gdb thread: stop the guest clock while gdb holds the VM (!run), let
	 * it go on from there (run). */
	void (*clock)(void *opaque, bool run);
	void *opaque;
};

/*
 * Listen on `url` and start serving; the exit hook goes into env->vcpus. Call before
 * vcpus_start(), or with every vCPU paused (the hook is read by the vCPU threads). With
 * `wait` (before vcpus_start() only), the vCPUs stop before their first instruction and
 * run once a client lets them. Without HOST a TCP port listens on 127.0.0.1 only: whoever
 * connects owns the guest. On failure writes one sentence into err.
 */
int gdb_server_start(struct gdb_server **out, const struct gdb_server_env *env, const char *url,
		     bool wait, char *err, size_t errlen) __must_check;

/* The URL it listens on. */
const char *gdb_server_url(const struct gdb_server *s);

/* The VM is paused (or resumed): see gdb_target_pause(). */
void gdb_server_pause(struct gdb_server *s, bool paused);

/* Software breakpoints the client has planted: int3 bytes in guest RAM right now. */
int gdb_server_breakpoints(struct gdb_server *s);

/*
 * Stop serving (idempotent): the client's breakpoints come out, every vCPU is let go, the
 * thread is joined; from then on the hook takes no exit. `vm_ending`: the VM is going down,
 * so the vCPUs are let go as they are (a vCPU thread that has left its loop never stops
 * for gdb); otherwise they are stopped first and their debug state cleared. Before
 * vcpus_stop(): a vCPU held by gdb would never leave its loop.
 */
void gdb_server_stop(struct gdb_server *s, bool vm_ending);

/*
 * The VM has ended with vmon's exit `status`, or was stopped by the host `signal` (SIGINT,
 * SIGTERM, SIGHUP; 0 for none): a client waiting for a stop (after c or s) hears W status
 * or X signal, then the server stops as gdb_server_stop(s, true). A client idle at its
 * prompt hears nothing (all-stop gdb is not reading; see gdb_stub_exited()): the connection
 * closes and gdb says so at its next command.
 */
void gdb_server_vm_ended(struct gdb_server *s, int status, int signal);

/*
 * Stop and free. The hook must be out of the vCPUs' reach: their threads joined, or every
 * vCPU paused and the hook taken out of the vcpu_set.
 */
void gdb_server_free(struct gdb_server *s);

#endif
