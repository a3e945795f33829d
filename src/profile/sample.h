/*
 * A guest profile's samples as the API carries them (GET /profile) and vmon ctl reads them:
 * the vCPU, its privilege level (CPL), the instruction pointer and, for guest kernel
 * samples, the return addresses of the frame-pointer chain, innermost first. One sample is
 * one line of words, "VCPU CPL RIP [RET...]" (decimal, decimal, then hex without 0x). Also
 * the limits of a profile request, which the server and the client both check. Pure.
 */
#ifndef VMON_PROFILE_SAMPLE_H
#define VMON_PROFILE_SAMPLE_H

#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

/* How deep a kernel stack is walked. */
#define PROFILE_MAX_FRAMES 64
/* A request's bounds: rate, duration, and samples per vCPU (hz * seconds). */
#define PROFILE_MAX_HZ 5000
#define PROFILE_MAX_SECONDS 300
#define PROFILE_MAX_SAMPLES 100000
#define PROFILE_DEFAULT_HZ 1000
/* The longest line profile_sample_format() writes, with its NUL. */
#define PROFILE_SAMPLE_LINE_MAX (24 + 17 * (PROFILE_MAX_FRAMES + 1))

struct profile_sample {
	uint32_t vcpu;
	uint8_t cpl;        /* 0 kernel ... 3 user */
	uint8_t nr_frames;  /* return addresses in frames[] */
	uint64_t rip;
	uint64_t frames[PROFILE_MAX_FRAMES];
};

/* Write s as one line (no newline) into buf; returns the length, or 0 if it did not fit. */
size_t profile_sample_format(const struct profile_sample *s, char *buf, size_t len);

/* Read one line; 0, or -EINVAL if it is not a sample (bad word, too many frames, CPL > 3). */
int profile_sample_parse(const char *text, struct profile_sample *s) __must_check;

/*
 * NULL if a profile of `hz` samples per second for `seconds` seconds is within the bounds,
 * else a sentence saying which bound it breaks (written into err).
 */
const char *profile_check_request(uint64_t hz, uint64_t seconds, char *err, size_t errlen);

#endif
