/* Which host CPUs the vCPU and I/O threads may run on: the option syntax and the check. */
#include "vmm/config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* One "LIST" or "I=LIST" segment into its entry. */
static int affinity_segment(struct vm_config *cfg, char *seg, char *err, size_t errlen)
{
	struct cpu_affinity *a = &cfg->vcpus_affinity;
	char *eq = strchr(seg, '='), *end, why[160];

	if (eq) {
		*eq = '\0';
		errno = 0;
		long i = strtol(seg, &end, 10);
		if (errno || end == seg || *end || i < 0 || i >= VMON_MAX_CPUS) {
			snprintf(err, errlen, "'%s=': a vCPU is a number from 0 to %d", seg,
				 VMON_MAX_CPUS - 1);
			return -EINVAL;
		}
		a = &cfg->vcpu_affinity[i];
		seg = eq + 1;
	}
	if (cpulist_parse(seg, &a->cpus, why, sizeof(why))) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	a->set = true;
	return 0;
}

int config_parse_vcpu_affinity(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec), *seg;
	int ret = 0;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Cut before every token that holds '=': each piece is then one segment. */
	for (char *tok = copy; tok; ) {
		char *comma = strchr(tok, ',');
		char *next = comma ? comma + 1 : NULL;

		if (next && memchr(next, '=', strcspn(next, ",")))
			*comma = '\0';
		tok = next;
	}
	for (seg = copy; !ret && seg < copy + strlen(spec); ) {
		char *next = seg + strlen(seg) + 1; /* before the segment cuts at its '=' */

		ret = affinity_segment(cfg, seg, err, errlen);
		seg = next;
	}
	if (!*spec) {
		snprintf(err, errlen, "an empty list: use LIST or I=LIST, e.g. 0=1,1=0-1");
		ret = -EINVAL;
	}
	free(copy);
	return ret;
}

void config_format_vcpu_affinity(const struct vm_config *cfg, char *buf, size_t len)
{
	size_t used = 0;
	char list[256];

	buf[0] = '\0';
	if (cfg->vcpus_affinity.set)
		cpulist_format(&cfg->vcpus_affinity.cpus, buf, len);
	used = strlen(buf);
	for (int i = 0; i < VMON_MAX_CPUS && used < len; i++) {
		if (!cfg->vcpu_affinity[i].set)
			continue;
		cpulist_format(&cfg->vcpu_affinity[i].cpus, list, sizeof(list));
		snprintf(buf + used, len - used, "%s%d=%s", used ? "," : "", i, list);
		used += strlen(buf + used);
	}
}

const cpu_set_t *config_vcpu_affinity(const struct vm_config *cfg, int i)
{
	if (i < VMON_MAX_CPUS && cfg->vcpu_affinity[i].set)
		return &cfg->vcpu_affinity[i].cpus;
	return cfg->vcpus_affinity.set ? &cfg->vcpus_affinity.cpus : NULL;
}

/* A set this process may not use, as "CPU N": the first CPU outside `allowed`. */
static int affinity_outside(const cpu_set_t *set, const cpu_set_t *allowed)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET((size_t)c, set) && !CPU_ISSET((size_t)c, allowed))
			return c;
	return -1;
}

int config_check_affinity(const struct vm_config *cfg, char *err, size_t errlen)
{
	cpu_set_t allowed;
	char may[256];
	int c;

	for (int i = cfg->cpus; i < VMON_MAX_CPUS; i++) {
		if (cfg->vcpu_affinity[i].set) {
			snprintf(err, errlen, "an affinity is given for vCPU %d, but the VM has %d vCPU%s",
				 i, cfg->cpus, cfg->cpus == 1 ? "" : "s");
			return -EINVAL;
		}
	}
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return 0; /* cannot tell: the threads' own calls will say */
	cpulist_format(&allowed, may, sizeof(may));
	for (int i = 0; i < cfg->cpus; i++) {
		const cpu_set_t *set = config_vcpu_affinity(cfg, i);

		if (set && (c = affinity_outside(set, &allowed)) >= 0) {
			snprintf(err, errlen, "vCPU %d's affinity names host CPU %d, which vmon may not "
				 "run on (it may use %s)", i, c, may);
			return -EINVAL;
		}
	}
	if (cfg->io_affinity.set && (c = affinity_outside(&cfg->io_affinity.cpus, &allowed)) >= 0) {
		snprintf(err, errlen, "the I/O thread's affinity names host CPU %d, which vmon may not "
			 "run on (it may use %s)", c, may);
		return -EINVAL;
	}
	return 0;
}

int config_keep_placement(struct vm_config *to, const struct vm_config *from)
{
	char *parent = to->sched.parent;

	to->vcpus_affinity = from->vcpus_affinity;
	memcpy(to->vcpu_affinity, from->vcpu_affinity, sizeof(to->vcpu_affinity));
	to->io_affinity = from->io_affinity;
	to->sched = from->sched;
	to->sched.parent = parent; /* the configuration owns its strings: a copy */
	return config_set(&to->sched.parent, from->sched.parent);
}
