/*
 * Live migration: the pre-copy loop on the source and the receiving side on the
 * destination, over a TCP or Unix stream (migration/stream.h is the wire format). The
 * device state travels as the snapshot state file; guest RAM as RAM frames, zero pages as
 * markers.
 */
#ifndef VMON_MIGRATION_MIGRATE_H
#define VMON_MIGRATION_MIGRATE_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "util/util.h"

struct vmm;

enum mig_state { MIG_NONE, MIG_ACTIVE, MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED };

/* What GET /migration reports; written by the migration thread, read by the API's. */
struct mig_progress {
	_Atomic int state;
	_Atomic uint32_t pass;
	_Atomic uint64_t ram_total, ram_sent, ram_remaining; /* bytes */
	_Atomic uint64_t dirty_rate;    /* bytes per second, last pass */
	_Atomic uint64_t bandwidth;     /* bytes per second, last pass */
	_Atomic uint64_t expected_downtime_ms, downtime_ms, downtime_us; /* paused until the ACK */
	_Atomic uint64_t bytes_sent;    /* on the wire: frames of RAM, state and DONE */
	_Atomic unsigned throttle_pct;  /* auto-converge: the share of time the vCPUs sleep */
	atomic_bool cancel;
	char error[512];                /* once state is FAILED or CANCELLED */
};

/* GET /migration and the metrics' "migration": {"state": "none"} when pr is NULL. */
json_t *mig_progress_json(const struct mig_progress *pr);

struct mig_send_params {
	char url[256];
	uint64_t downtime_limit_ms;   /* 300 unless given */
	uint64_t max_bandwidth_mbps;  /* 0: no limit */
	bool local;                   /* pass guest RAM's memfd (unix: URLs), copy no RAM */
	bool auto_converge;           /* throttle the vCPUs when they dirty faster than sent */
};

/* "tcp:ADDR:PORT" or "unix:PATH": a connected or a listening socket, or -errno. */
int mig_connect(const char *url, char *err, size_t errlen);
int mig_listen(const char *url, char *err, size_t errlen);

/*
 * Source: start the migration thread (vmm lock held, VM running or paused). It sends the
 * VM, and on the destination's acknowledgement stops this VMM (exit status 0); on any
 * failure before that the guest runs on here as it did. 0 or -errno.
 */
int mig_send_start(struct vmm *vmm, const struct mig_send_params *p, char *err,
		   size_t errlen) __must_check;

/*
 * Destination, on the main thread: accept one source on listen_fd, build its VM, take its
 * RAM and state. 0 with the VM ready to run (resumed), or -errno with nothing left behind.
 * vmm lock held.
 */
int mig_receive(struct vmm *vmm, int listen_fd, char *err, size_t errlen) __must_check;

#endif
