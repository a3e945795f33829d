/* The VM's cpu cgroup: made, joined, split per vCPU, tuned and removed (v2 or v1's cpu controller). */
#include "vmm/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

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

/* The parent: the given one, or where this process is in the cpu hierarchy (its origin). */
static int cgroup_parent(struct vm_cgroup *g, const char *given)
{
	char text[4096], rel[PATH_MAX - 64];
	struct stat st;
	ssize_t n;
	int fd, ret;

	/* stat, not access: the API thread's seccomp filter has newfstatat (common), not access. */
	g->v2 = stat(CGROUP_ROOT "/cgroup.controllers", &st) == 0;
	fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	text[n] = '\0';
	ret = cgroup_self_path(text, g->v2 ? "" : "cpu", rel, sizeof(rel));
	if (ret)
		return ret;
	snprintf(g->origin, sizeof(g->origin), "%s%s%s", CGROUP_ROOT, g->v2 ? "" : "/cpu",
		 strcmp(rel, "/") ? rel : "");
	snprintf(g->parent, sizeof(g->parent), "%s", given ? given : g->origin);
	return 0;
}

/* A sub-group's directory: vcpuN (vcpu >= 0) or vmm (-1). */
static void sub_dir(const struct vm_cgroup *g, int vcpu, char *out, size_t len)
{
	if (vcpu >= 0)
		snprintf(out, len, "%.*s/vcpu%d", PATH_MAX - 32, g->dir, vcpu);
	else
		snprintf(out, len, "%.*s/vmm", PATH_MAX - 32, g->dir);
}

static int set_weight(const struct vm_cgroup *g, const char *dir, unsigned weight)
{
	char v[32];

	if (g->v2)
		snprintf(v, sizeof(v), "%u", weight);
	else
		snprintf(v, sizeof(v), "%" PRIu64, cgroup_weight_to_shares(weight));
	return write_file(dir, g->v2 ? "cpu.weight" : "cpu.shares", v);
}

static int set_max(const struct vm_cgroup *g, int64_t quota, uint64_t period)
{
	char v[64];
	int ret;

	if (g->v2) {
		if (quota < 0)
			snprintf(v, sizeof(v), "max %" PRIu64, period);
		else
			snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, quota, period);
		return write_file(g->dir, "cpu.max", v);
	}
	/* No cap first: a quota checked against the old period could be refused. */
	snprintf(v, sizeof(v), "%" PRIu64, period);
	ret = write_file(g->dir, "cpu.cfs_quota_us", "-1");
	ret = ret ?: write_file(g->dir, "cpu.cfs_period_us", v);
	snprintf(v, sizeof(v), "%" PRId64, quota);
	return ret ?: write_file(g->dir, "cpu.cfs_quota_us", v);
}

int vm_cgroup_set(struct vm_cgroup *g, const struct cpu_sched_spec *spec, char *err, size_t errlen)
{
	char sub[PATH_MAX];
	int ret = 0;

	if (spec->weight)
		ret = set_weight(g, g->dir, spec->weight);
	if (!ret && spec->max_period_us)
		ret = set_max(g, spec->max_quota_us, spec->max_period_us);
	if (ret) {
		snprintf(err, errlen, "cannot set the CPU weight or cap in the cgroup %s: %s", g->dir,
			 strerror(-ret));
		return ret;
	}
	for (int i = 0; i < g->nr_split; i++) {
		if (!spec->vcpu_weight[i])
			continue;
		sub_dir(g, i, sub, sizeof(sub));
		if ((ret = set_weight(g, sub, spec->vcpu_weight[i]))) {
			snprintf(err, errlen, "cannot set vCPU %d's weight in the cgroup %s: %s", i, sub,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int vm_cgroup_create(struct vm_cgroup *g, const struct cpu_sched_spec *spec, char *err,
		     size_t errlen)
{
	char pid[24];
	int ret;

	g->dir[0] = '\0';
	g->nr_split = 0;
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

/* rmdir, waiting a little while a thread that has just exited still counts as a member. */
static int rmdir_settled(const char *dir)
{
	const struct timespec ms = { .tv_nsec = 1000000 };

	for (int i = 0; i < 200; i++) {
		if (!rmdir(dir) || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		nanosleep(&ms, NULL);
	}
	return -errno;
}

/* Remove the sub-groups vcpu0..vcpu(nr-1) and vmm (after the process has left them). */
static void remove_split(struct vm_cgroup *g, int nr)
{
	char sub[PATH_MAX];
	int ret;

	for (int i = -1; i < nr; i++) {
		sub_dir(g, i, sub, sizeof(sub));
		if ((ret = rmdir_settled(sub)))
			pr_warn("cannot remove the cgroup %s: %s", sub, strerror(-ret));
	}
}

/* Make the sub-groups; on v2 each becomes threaded (the group a threaded domain). */
static int make_split(struct vm_cgroup *g, int nr, char *err, size_t errlen)
{
	char sub[PATH_MAX];
	int ret = 0;

	for (int i = -1; !ret && i < nr; i++) {
		sub_dir(g, i, sub, sizeof(sub));
		if (mkdir(sub, 0755) && errno != EEXIST)
			ret = -errno;
		else if (g->v2 && (ret = write_file(sub, "cgroup.type", "threaded")) == -ENOENT)
			snprintf(err, errlen, "per-vCPU weights need cgroup v2's threaded mode, which "
				 "this kernel lacks (no %s/cgroup.type)", sub);
	}
	if (ret && !err[0])
		snprintf(err, errlen, "cannot make the per-vCPU cgroup %s: %s", sub, strerror(-ret));
	return ret;
}

int vm_cgroup_split(struct vm_cgroup *g, int nr_vcpus, char *err, size_t errlen)
{
	char pid[24], vmm[PATH_MAX];
	int ret;

	err[0] = '\0';
	if (g->nr_split)
		return 0;
	ret = make_split(g, nr_vcpus, err, errlen);
	/* Every thread into vmm; the vCPU threads then go to their own (vm_cgroup_place). */
	snprintf(pid, sizeof(pid), "%d", getpid());
	sub_dir(g, -1, vmm, sizeof(vmm));
	if (!ret && (ret = write_file(vmm, "cgroup.procs", pid)))
		snprintf(err, errlen, "cannot move vmon into the cgroup %s: %s", vmm, strerror(-ret));
	/* v2: a threaded controller only once the domain itself has no threads left. */
	if (!ret && g->v2 && (ret = write_file(g->dir, "cgroup.subtree_control", "+cpu")))
		snprintf(err, errlen, "cannot enable the cpu controller below %s: %s", g->dir,
			 strerror(-ret));
	if (ret) {
		if (write_file(g->dir, "cgroup.procs", pid))
			pr_warn("cannot move vmon back to the cgroup %s", g->dir);
		remove_split(g, nr_vcpus);
		return ret;
	}
	g->nr_split = nr_vcpus;
	return 0;
}

int vm_cgroup_place(struct vm_cgroup *g, int vcpu, pid_t tid)
{
	char sub[PATH_MAX], v[24];

	if (vcpu < 0 || vcpu >= g->nr_split)
		return -EINVAL;
	sub_dir(g, vcpu, sub, sizeof(sub));
	snprintf(v, sizeof(v), "%d", (int)tid);
	return write_file(sub, g->v2 ? "cgroup.threads" : "tasks", v);
}

void vm_cgroup_destroy(struct vm_cgroup *g)
{
	char pid[24];
	int ret;

	if (!g->dir[0])
		return;
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_file(g->origin, "cgroup.procs", pid))
		pr_warn("cannot move vmon back to the cgroup %s", g->origin);
	if (g->nr_split)
		remove_split(g, g->nr_split);
	if ((ret = rmdir_settled(g->dir)))
		pr_warn("cannot remove the cgroup %s: %s", g->dir, strerror(-ret));
	g->dir[0] = '\0';
	g->nr_split = 0;
}
