/* Host-CPU lists ("0-3,5"): parse and format. */
#include "util/cpulist.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A CPU number at *p, advancing it; -1 if there is none or it is out of range. */
static long cpulist_number(const char **p)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)**p))
		return -1;
	errno = 0;
	v = strtol(*p, &end, 10);
	if (errno || v >= CPU_SETSIZE)
		return -2;
	*p = end;
	return v;
}

int cpulist_parse(const char *s, cpu_set_t *out, char *err, size_t errlen)
{
	const char *p = s;

	CPU_ZERO(out);
	if (!*s) {
		snprintf(err, errlen, "an empty CPU list: name CPUs like 0-3,5");
		return -EINVAL;
	}
	for (;;) {
		const char *start = p;
		long lo = cpulist_number(&p), hi = lo;

		if (lo >= 0 && *p == '-') {
			p++;
			hi = cpulist_number(&p);
		}
		if (lo == -2 || hi == -2) {
			snprintf(err, errlen, "CPU list '%s': CPU numbers go from 0 to %d", s, CPU_SETSIZE - 1);
			return -EINVAL;
		}
		if (lo < 0 || hi < 0 || (*p && *p != ',')) {
			snprintf(err, errlen, "CPU list '%s': cannot understand '%.*s' (use N or N-M, "
				 "joined by commas, like 0-3,5)", s, (int)strcspn(start, ","), start);
			return -EINVAL;
		}
		if (hi < lo) {
			snprintf(err, errlen, "CPU list '%s': the range %ld-%ld runs backwards", s, lo, hi);
			return -EINVAL;
		}
		for (long c = lo; c <= hi; c++)
			CPU_SET((size_t)c, out);
		if (!*p)
			return 0;
		p++;
	}
}

void cpulist_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		int hi = c;

		if (!CPU_ISSET((size_t)c, set))
			continue;
		while (hi + 1 < CPU_SETSIZE && CPU_ISSET((size_t)(hi + 1), set))
			hi++;
		int n = hi == c ? snprintf(buf + used, len - used, "%s%d", used ? "," : "", c)
				: snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", c, hi);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
		c = hi;
	}
}
