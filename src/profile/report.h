/*
 * The profiler's aggregation: samples (profile/sample.h) symbolised against a kernel symbol
 * table into self counts per function (in total and per vCPU), counts per leaf address, and
 * folded stacks (root first, ';'-separated); and the text outputs made from them, top.txt
 * and Brendan Gregg's folded format. Guest kernel samples name their functions, or
 * [unknown]; user-mode samples (CPL 3) are one leaf frame, [user]. Pure.
 */
#ifndef VMON_PROFILE_REPORT_H
#define VMON_PROFILE_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "profile/sample.h"
#include "profile/symbols.h"

#define REPORT_USER "[user]"
#define REPORT_UNKNOWN "[unknown]"

/* A name and how often it was counted (per_vcpu: for functions only). */
struct report_count {
	char *key;
	uint64_t count;
	uint64_t *per_vcpu;
};

/* Counts by name (open addressing). */
struct report_map {
	struct report_count *slots;
	size_t cap, nr;
	int nr_vcpus; /* per_vcpu columns, 0 for none */
};

struct report {
	const struct symtab *syms;
	int nr_vcpus;
	uint64_t samples, kernel, user;
	uint64_t walked;  /* kernel samples with at least one frame of a chain */
	uint64_t frames;  /* return addresses over all of them */
	struct report_map funcs, addrs, stacks;
};

/* An empty report over vCPUs 0..nr_vcpus-1 (1..1024). 0 or -errno. */
int report_init(struct report *r, const struct symtab *syms, int nr_vcpus) __must_check;

/* Count one sample. 0, -EINVAL for a vCPU out of range, -ENOMEM. */
int report_add(struct report *r, const struct profile_sample *s) __must_check;

/* The map's entries, the most counted first (ties by name), or by name; malloc'd, *n of
 * them, or NULL. */
struct report_count **report_sorted(const struct report_map *m, size_t *n, bool by_name);

/*
 * top.txt: the `title` line, the user/kernel split, what the stacks hold (or that only leaf
 * samples were available), then the `rows` hottest functions by self samples with share %
 * and a column per vCPU, and with `addrs` the hottest leaf addresses. 0 or -errno.
 */
int report_write_top(const struct report *r, FILE *f, const char *title, size_t rows,
		     size_t addrs) __must_check;

/* stacks.folded: "root;...;leaf COUNT" per line, sorted by stack. 0 or -errno. */
int report_write_folded(const struct report *r, FILE *f) __must_check;

/* A line saying what the stacks hold (frame chains or leaf samples only), into buf. */
const char *report_stacks_note(const struct report *r, char *buf, size_t len);

void report_free(struct report *r);

#endif
