/* The VM's cpu cgroup: made, joined, tuned and removed (v2 or v1's cpu controller). */
#include "vmm/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

int cgroup_parse_cpu_max(const char *s, int64_t *quota, uint64_t *period)
{
	char *end;
	unsigned long long q = 0, p;

	if (!strncmp(s, "max/", 4)) {
		end = (char *)s + 3;
	} else {
		errno = 0;
		q = strtoull(s, &end, 10);
		if (errno || end == s || *s == '-' || q < 1000 || q > INT64_MAX)
			return -EINVAL;
	}
	if (*end != '/' || !end[1] || end[1] == '-')
		return -EINVAL;
	s = end + 1;
	errno = 0;
	p = strtoull(s, &end, 10);
	if (errno || *end || p < 1000 || p > 1000000)
		return -EINVAL;
	*quota = q ? (int64_t)q : -1;
	*period = p;
	return 0;
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

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX + 64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The parent: the given one, or where this process is in the cpu hierarchy. */
static int cgroup_parent(struct vm_cgroup *g, const char *given)
{
	char text[4096], rel[PATH_MAX - 64];
	ssize_t n;
	int fd, ret;

	g->v2 = access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0;
	if (given) {
		snprintf(g->parent, sizeof(g->parent), "%s", given);
		return 0;
	}
	fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	text[n] = '\0';
	ret = cgroup_self_path(text, g->v2 ? "" : "cpu", rel, sizeof(rel));
	if (!ret)
		snprintf(g->parent, sizeof(g->parent), "%s%s%s", CGROUP_ROOT, g->v2 ? "" : "/cpu",
			 strcmp(rel, "/") ? rel : "");
	return ret;
}

int vm_cgroup_set(struct vm_cgroup *g, const struct cpu_sched_spec *spec, char *err, size_t errlen)
{
	char v[64];
	int ret = 0;

	if (spec->weight) {
		if (g->v2)
			snprintf(v, sizeof(v), "%u", spec->weight);
		else
			snprintf(v, sizeof(v), "%" PRIu64, cgroup_weight_to_shares(spec->weight));
		ret = write_file(g->dir, g->v2 ? "cpu.weight" : "cpu.shares", v);
	}
	if (!ret && spec->max_period_us) {
		if (g->v2) {
			if (spec->max_quota_us < 0)
				snprintf(v, sizeof(v), "max %" PRIu64, spec->max_period_us);
			else
				snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, spec->max_quota_us,
					 spec->max_period_us);
			ret = write_file(g->dir, "cpu.max", v);
		} else {
			/* The quota first when it shrinks against the old period, else the period. */
			snprintf(v, sizeof(v), "%" PRIu64, spec->max_period_us);
			ret = write_file(g->dir, "cpu.cfs_quota_us", "-1");
			ret = ret ?: write_file(g->dir, "cpu.cfs_period_us", v);
			snprintf(v, sizeof(v), "%" PRId64, spec->max_quota_us);
			ret = ret ?: write_file(g->dir, "cpu.cfs_quota_us", v);
		}
	}
	if (ret)
		snprintf(err, errlen, "cannot set the CPU weight or cap in the cgroup %s: %s", g->dir,
			 strerror(-ret));
	return ret;
}

int vm_cgroup_create(struct vm_cgroup *g, const struct cpu_sched_spec *spec, char *err,
		     size_t errlen)
{
	char pid[24];
	int ret;

	g->dir[0] = '\0';
	if ((ret = cgroup_parent(g, spec->parent))) {
		snprintf(err, errlen, "cannot tell which cpu cgroup vmon is in: %s", strerror(-ret));
		return ret;
	}
	snprintf(g->dir, sizeof(g->dir), "%.*s/vmon-%d", (int)sizeof(g->dir) - 32, g->parent, getpid());
	if (mkdir(g->dir, 0755) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the cgroup %s: %s", g->dir, strerror(errno));
		g->dir[0] = '\0';
		return ret;
	}
	if (g->v2 && spec->parent == NULL)
		(void)write_file(g->parent, "cgroup.subtree_control", "+cpu");
	snprintf(pid, sizeof(pid), "%d", getpid());
	ret = write_file(g->dir, "cgroup.procs", pid);
	if (ret) {
		snprintf(err, errlen, "cannot move vmon into the cgroup %s: %s", g->dir, strerror(-ret));
		vm_cgroup_destroy(g);
		return ret;
	}
	ret = vm_cgroup_set(g, spec, err, errlen);
	if (ret)
		vm_cgroup_destroy(g);
	return ret;
}

void vm_cgroup_destroy(struct vm_cgroup *g)
{
	char pid[24];

	if (!g->dir[0])
		return;
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_file(g->parent, "cgroup.procs", pid))
		pr_warn("cannot move vmon back to the cgroup %s", g->parent);
	if (rmdir(g->dir))
		pr_warn("cannot remove the cgroup %s: %s", g->dir, strerror(errno));
	g->dir[0] = '\0';
}
