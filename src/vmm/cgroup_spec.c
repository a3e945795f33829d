/* The CPU share's syntax (--cpu-weight, --cpu-max, --vcpu-weight) and cgroup paths; pure. */
#include "vmm/cgroup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cgroup_parse_cpu_max(const char *s, int64_t *quota, uint64_t *period)
{
	char *end;
	unsigned long long q = 0, p;

	if (!strcmp(s, "max")) { /* as cgroup v2's "max": the kernel's default period */
		*quota = -1;
		*period = CGROUP_DEFAULT_PERIOD_US;
		return 0;
	}
	if (!strncmp(s, "max/", 4)) {
		end = (char *)s + 3;
	} else {
		errno = 0;
		q = strtoull(s, &end, 10);
		if (errno || end == s || *s == '-' || q < CGROUP_MIN_US || q > CGROUP_MAX_QUOTA_US)
			return -EINVAL;
	}
	if (*end != '/' || !end[1] || end[1] == '-')
		return -EINVAL;
	s = end + 1;
	errno = 0;
	p = strtoull(s, &end, 10);
	if (errno || *end || p < CGROUP_MIN_US || p > CGROUP_MAX_PERIOD_US)
		return -EINVAL;
	*quota = q ? (int64_t)q : -1;
	*period = p;
	return 0;
}

void cgroup_format_cpu_max(int64_t quota, uint64_t period, char *buf, size_t len)
{
	if (quota < 0)
		snprintf(buf, len, "max/%" PRIu64, period);
	else
		snprintf(buf, len, "%" PRId64 "/%" PRIu64, quota, period);
}

int cgroup_parse_weight(const char *s, unsigned *weight)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || end == s || n < CGROUP_MIN_WEIGHT || n > CGROUP_MAX_WEIGHT)
		return -EINVAL;
	*weight = (unsigned)n;
	return 0;
}

/* One "I=W" of a --vcpu-weight list. */
static int vcpu_weight_item(char *item, unsigned *w, char *err, size_t errlen)
{
	char *eq = strchr(item, '='), *end;
	long i;

	if (!eq) {
		snprintf(err, errlen, "'%.32s' is not I=WEIGHT (e.g. 0=100,1=300)", item);
		return -EINVAL;
	}
	*eq = '\0';
	errno = 0;
	i = strtol(item, &end, 10);
	if (errno || end == item || *end || i < 0 || i >= CPU_SCHED_MAX_VCPUS) {
		snprintf(err, errlen, "'%.32s=': a vCPU is a number from 0 to %d", item,
			 CPU_SCHED_MAX_VCPUS - 1);
		return -EINVAL;
	}
	if (w[i]) {
		snprintf(err, errlen, "vCPU %ld is named twice", i);
		return -EINVAL;
	}
	if (cgroup_parse_weight(eq + 1, &w[i])) {
		snprintf(err, errlen, "vCPU %ld's weight '%.32s' is not a number from %d to %d", i,
			 eq + 1, CGROUP_MIN_WEIGHT, CGROUP_MAX_WEIGHT);
		return -EINVAL;
	}
	return 0;
}

int cgroup_parse_vcpu_weights(const char *s, unsigned w[CPU_SCHED_MAX_VCPUS], char *err,
			      size_t errlen)
{
	unsigned got[CPU_SCHED_MAX_VCPUS] = { 0 };
	char *copy = strdup(s), *save = NULL;
	int ret = 0;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!*s || s[strlen(s) - 1] == ',' || strstr(s, ",,") || *s == ',') {
		snprintf(err, errlen, "an empty item: use I=WEIGHT[,I=WEIGHT]..., e.g. 0=100,1=300");
		ret = -EINVAL;
	}
	for (char *item = strtok_r(copy, ",", &save); !ret && item; item = strtok_r(NULL, ",", &save))
		ret = vcpu_weight_item(item, got, err, errlen);
	free(copy);
	if (ret)
		return ret;
	for (int i = 0; i < CPU_SCHED_MAX_VCPUS; i++)
		if (got[i])
			w[i] = got[i];
	return 0;
}

void cgroup_format_vcpu_weights(const unsigned w[CPU_SCHED_MAX_VCPUS], char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < CPU_SCHED_MAX_VCPUS && used < len; i++) {
		if (!w[i])
			continue;
		snprintf(buf + used, len - used, "%s%d=%u", used ? "," : "", i, w[i]);
		used += strlen(buf + used);
	}
}

int cgroup_highest_vcpu(const unsigned w[CPU_SCHED_MAX_VCPUS])
{
	for (int i = CPU_SCHED_MAX_VCPUS - 1; i >= 0; i--)
		if (w[i])
			return i;
	return -1;
}

uint64_t cgroup_weight_to_shares(unsigned weight)
{
	return MAX((uint64_t)weight * 1024 / 100, 2ull);
}

int cgroup_self_path(const char *text, const char *controller, char *out, size_t len)
{
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		size_t n = strcspn(c2 ? c2 + 1 : "", "\n");
		bool match;

		if (!c2)
			continue;
		if (!*controller) {
			match = c2 == c1 + 1 && !strncmp(line, "0:", 2);
		} else { /* a comma-separated list, e.g. "cpu,cpuacct" */
			match = false;
			for (const char *p = c1 + 1; p < c2; p += strcspn(p, ",:") + 1)
				if (strcspn(p, ",:") == strlen(controller) && !strncmp(p, controller, strlen(controller)))
					match = true;
		}
		if (match && n < len) {
			memcpy(out, c2 + 1, n);
			out[n] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}
