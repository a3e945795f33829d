/*
 * Metrics: one JSON object per line into the sink PUT /metrics chose (a file or FIFO),
 * every METRICS_PERIOD_S seconds and on FlushMetrics. Each line has the per-vCPU exit
 * profile (counts and handling-time histograms by exit reason), every device's counters,
 * the API's counters and the VMM's resident memory.
 */
#ifndef VMON_METRICS_H
#define VMON_METRICS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "util/util.h"

#define METRICS_PERIOD_S 60

struct metrics {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* The counters to write: a JSON object (vmm/counters.c), taken under source_lock. */
	json_t *(*collect)(void *opaque);
	void *opaque;
	pthread_mutex_t *source_lock;
	const char *id;    /* for emit_id */
	int fd;            /* -1: no sink yet */
	bool emit_id;
	char *properties;  /* JSON object text added to each line, or NULL */
	pthread_t thread;
	bool thread_started, stop;
	uint64_t lines, write_errors;
};

void metrics_init(struct metrics *m, json_t *(*collect)(void *opaque), void *opaque,
		  pthread_mutex_t *source_lock, const char *id);

/* Open the sink and start the periodic writer. 0 or -errno (-EEXIST: already set). */
int metrics_configure(struct metrics *m, const char *path, bool emit_id,
		      const char *properties) __must_check;

/* Write one line now. 0, or -errno (-ENOENT: no sink configured). */
int metrics_flush(struct metrics *m) __must_check;

/* The line itself (malloc'd JSON text, no newline); also GET-able for `vmon ctl metrics`.
 * Caller holds source_lock. */
char *metrics_render(struct metrics *m);

/* Final line, stop the writer. */
void metrics_stop(struct metrics *m);

#endif
