/* The text form of one profile sample and the bounds of a profile request. */
#include "profile/sample.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

size_t profile_sample_format(const struct profile_sample *s, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%" PRIu32 " %u %" PRIx64, s->vcpu, s->cpl, s->rip);
	size_t at = n > 0 ? (size_t)n : 0;

	for (unsigned i = 0; i < s->nr_frames && i < PROFILE_MAX_FRAMES && at < len; i++) {
		n = snprintf(buf + at, len - at, " %" PRIx64, s->frames[i]);
		at += n > 0 ? (size_t)n : 0;
	}
	return at < len ? at : 0;
}

/* One word in `base`; *p moves past it and the blanks after it. */
static int word(const char **p, int base, uint64_t *out)
{
	char *end;

	if (**p < '0' || (**p > '9' && **p < 'A') || **p == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(*p, &end, base);
	if (errno || end == *p || (*end && *end != ' '))
		return -EINVAL;
	*out = v;
	*p = end;
	while (**p == ' ')
		(*p)++;
	return 0;
}

int profile_sample_parse(const char *text, struct profile_sample *s)
{
	const char *p = text;
	uint64_t vcpu, cpl;

	s->nr_frames = 0;
	if (word(&p, 10, &vcpu) || vcpu > UINT32_MAX || word(&p, 10, &cpl) || cpl > 3 ||
	    word(&p, 16, &s->rip))
		return -EINVAL;
	s->vcpu = (uint32_t)vcpu;
	s->cpl = (uint8_t)cpl;
	while (*p) {
		if (s->nr_frames == PROFILE_MAX_FRAMES || word(&p, 16, &s->frames[s->nr_frames]))
			return -EINVAL;
		s->nr_frames++;
	}
	return 0;
}

const char *profile_check_request(uint64_t hz, uint64_t seconds, char *err, size_t errlen)
{
	if (hz < 1 || hz > PROFILE_MAX_HZ)
		snprintf(err, errlen, "The sampling rate hz must be from 1 to %d per second, not %" PRIu64 ".",
			 PROFILE_MAX_HZ, hz);
	else if (seconds < 1 || seconds > PROFILE_MAX_SECONDS)
		snprintf(err, errlen, "A profile's seconds must be from 1 to %d, not %" PRIu64 ".",
			 PROFILE_MAX_SECONDS, seconds);
	else if (hz * seconds > PROFILE_MAX_SAMPLES)
		snprintf(err, errlen, "hz * seconds may be at most %d samples per vCPU, not %" PRIu64
			 " (%" PRIu64 " Hz for %" PRIu64 " s).", PROFILE_MAX_SAMPLES, hz * seconds, hz, seconds);
	else
		return NULL;
	return err;
}
