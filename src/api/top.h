/*
 * `vmon ctl top`: one refresh of the live exit view, computed from two metrics lines (GET
 * /metrics) taken `dt` seconds apart. Pure: no sockets, no terminal; vmon-ctl draws it.
 */
#ifndef VMON_API_TOP_H
#define VMON_API_TOP_H

#include <jansson.h>
#include <stddef.h>

/* How many bus ranges and devices to show, the busiest first. */
#define TOP_MAX_RANGES 6

/*
 * Write the view into out (always NUL-terminated, cut at outlen): exits per second by reason
 * with the exit-handling time percentiles of the interval (p50/p99 from the log2
 * histograms), the busiest port and MMIO ranges, the devices' notifications, interrupts,
 * requests and bytes per second, and the interrupts of the legacy lines. Returns the
 * length written (or that would have been).
 */
size_t top_render(json_t *before, json_t *after, double dt, char *out, size_t outlen);

/*
 * The upper bound in microseconds of the bucket holding the fraction `q` (0..1) of the
 * samples in a log2 histogram (bucket 0: under 1 µs, bucket b: [2^(b-1), 2^b)), or 0 when
 * it is empty. The last bucket is open: its bound is reported as its lower bound.
 */
unsigned long long top_percentile_us(const unsigned long long *hist, int nr, double q);

#endif
