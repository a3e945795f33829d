/*
 * A flame graph as a self-contained SVG: folded stacks merged into a tree, each frame a
 * rectangle as wide as its share of the samples, the root ("all") at the bottom, callees
 * above their callers; the function's name as text where it fits and, always, as a
 * <title> tooltip with its sample count and share. No script, no external resources. Pure.
 */
#ifndef VMON_PROFILE_FLAMEGRAPH_H
#define VMON_PROFILE_FLAMEGRAPH_H

#include <stdio.h>
#include "profile/report.h"

/* Draw the n folded stacks ("a;b;c" with their counts) under `title`. 0 or -errno. */
int flamegraph_write(FILE *f, struct report_count *const *stacks, size_t n,
		     const char *title) __must_check;

/* Write s with XML's special characters escaped (for text and attribute values). */
void flamegraph_xml_escape(FILE *f, const char *s);

#endif
