/* The jailer: directory, cgroup, namespaces, pivot_root, device nodes, drop to uid/gid, exec. */
#include "security/jail.h"

#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define JAIL_MAX_FILES 16
#define JAIL_MAX_CGROUP 8

struct jail {
	const char *id, *base, *exec_file, *netns;
	bool new_netns;
	uid_t uid;
	gid_t gid;
	const char *files[JAIL_MAX_FILES];
	int nr_files;
	const char *cgroup[JAIL_MAX_CGROUP]; /* "cpu.max=50000 100000", "memory.max=512M" */
	int nr_cgroup;
	char root[PATH_MAX];
};

static void jail_usage(FILE *f)
{
	fprintf(f,
		"usage: vmon jail --id ID --uid UID --gid GID [options] -- VMON-ARGUMENTS...\n"
		"\n"
		"Run vmon in new mount, PID and IPC namespaces, inside BASE/vmon/ID/root (which holds\n"
		"only vmon, /dev/kvm, /dev/net/tun and the --file's), as UID:GID without capabilities.\n"
		"Paths in VMON-ARGUMENTS are then relative to that root: a --file /a/b is at /b.\n"
		"\n"
		"  --id ID               the VM's name: letters, digits and '-', up to 64\n"
		"  --uid UID, --gid GID  who vmon runs as (not 0)\n"
		"  --chroot-base DIR     where jails are made (default /srv/vmon)\n"
		"  --file PATH           make PATH visible in the jail as /NAME (bind mount; repeat)\n"
		"  --exec-file PATH      the vmon binary to copy in (default: this one)\n"
		"  --new-netns           a new, empty network namespace\n"
		"  --netns PATH          join this network namespace (e.g. /var/run/netns/NAME)\n"
		"  --cgroup KEY=VALUE    cgroup limit in v2 names: cpu.max=\"QUOTA PERIOD\", memory.max=BYTES\n"
		"                        (written to the v1 equivalents on a v1 host; repeat)\n");
}

static int fail(const char *what, const char *arg)
{
	fprintf(stderr, "vmon jail: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
	return 1;
}

static int write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, value, strlen(value));
	int e = errno;

	if (fd >= 0)
		close(fd);
	errno = e;
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) && errno != EEXIST ? -1 : 0;
}

/* One limit into cgroup v2 (unified, with controllers) or the v1 hierarchy. */
static int jail_cgroup(const struct jail *j)
{
	char dir[PATH_MAX], file[PATH_MAX + 64], pid[32];
	bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (int i = 0; i < j->nr_cgroup; i++) {
		const char *eq = strchr(j->cgroup[i], '=');
		char key[64], value[128], v1[128];
		const char *ctrl, *v1file = NULL;

		if (!eq || eq - j->cgroup[i] >= (int)sizeof(key)) {
			fprintf(stderr, "vmon jail: --cgroup %s: use KEY=VALUE\n", j->cgroup[i]);
			return 2;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - j->cgroup[i]), j->cgroup[i]);
		snprintf(value, sizeof(value), "%s", eq + 1);
		snprintf(v1, sizeof(v1), "%s", value);
		if (!strcmp(key, "cpu.max")) {
			ctrl = "cpu";
			long quota = 0, period = 100000;
			if (sscanf(value, "%ld %ld", &quota, &period) < 1) {
				fprintf(stderr, "vmon jail: cpu.max: use \"QUOTA PERIOD\" in µs\n");
				return 2;
			}
			v1file = "cpu.cfs_quota_us";
			snprintf(v1, sizeof(v1), "%ld", quota);
			if (!v2) {
				snprintf(file, sizeof(file), "/sys/fs/cgroup/cpu/vmon/%s/cpu.cfs_period_us", j->id);
				snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpu/vmon/%s", j->id);
				char per[32];
				snprintf(per, sizeof(per), "%ld", period);
				if (mkdir_p(dir, 0755) || write_file(file, per))
					return fail("cannot set", file);
			}
		} else if (!strcmp(key, "memory.max")) {
			ctrl = "memory";
			v1file = "memory.limit_in_bytes";
		} else {
			fprintf(stderr, "vmon jail: --cgroup %s: vmon knows cpu.max and memory.max\n", key);
			return 2;
		}
		if (v2)
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/vmon/%s", j->id);
		else
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s/vmon/%s", ctrl, j->id);
		if (mkdir_p(dir, 0755))
			return fail("cannot create the cgroup", dir);
		if (v2) {
			write_file("/sys/fs/cgroup/vmon/cgroup.subtree_control", "+cpu +memory");
			snprintf(file, sizeof(file), "%s/%s", dir, key);
		} else {
			snprintf(file, sizeof(file), "%s/%s", dir, v1file);
		}
		if (write_file(file, v2 ? value : v1))
			return fail("cannot set", file);
		snprintf(file, sizeof(file), "%s/%s", dir, v2 ? "cgroup.procs" : "tasks");
		if (write_file(file, pid))
			return fail("cannot join", file);
	}
	return 0;
}

/* Inside the new namespaces: build the root, pivot into it, drop privileges, exec. */
static int jail_child(const struct jail *j, char **vmon_argv)
{
	char path[PATH_MAX + 64];

	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL))
		return fail("cannot make mounts private", NULL);
	if (mount(j->root, j->root, NULL, MS_BIND | MS_REC, NULL))
		return fail("cannot bind the jail root", j->root);
	snprintf(path, sizeof(path), "%s/dev/net", j->root);
	if (mkdir_p(path, 0755))
		return fail("cannot create", path);
	const struct { const char *name; unsigned maj, min; } nodes[] = {
		{ "dev/kvm", 10, 232 }, { "dev/net/tun", 10, 200 }, { "dev/null", 1, 3 },
	};
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", j->root, nodes[i].name);
		unlink(path);
		if (mknod(path, S_IFCHR | 0600, makedev(nodes[i].maj, nodes[i].min)) ||
		    chown(path, j->uid, j->gid) || (nodes[i].maj == 1 && chmod(path, 0666)))
			return fail("cannot create", path);
	}
	for (int i = 0; i < j->nr_files; i++) {
		const char *name = strrchr(j->files[i], '/') ? strrchr(j->files[i], '/') + 1 : j->files[i];
		snprintf(path, sizeof(path), "%s/%s", j->root, name);
		int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			return fail("cannot create", path);
		close(fd);
		if (mount(j->files[i], path, NULL, MS_BIND, NULL))
			return fail("cannot bind", j->files[i]);
	}
	snprintf(path, sizeof(path), "%s/proc", j->root);
	if (mkdir_p(path, 0555) || mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		return fail("cannot mount /proc in", j->root);
	snprintf(path, sizeof(path), "%s/old-root", j->root);
	if (mkdir_p(path, 0700) || syscall(SYS_pivot_root, j->root, path) || chdir("/"))
		return fail("cannot pivot_root into", j->root);
	if (umount2("/old-root", MNT_DETACH) || rmdir("/old-root"))
		return fail("cannot detach the old root", NULL);
	/* No capabilities left to regain: empty the bounding set, then leave uid 0. */
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
			return fail("cannot drop capabilities", NULL);
	if (setgroups(0, NULL) || setresgid(j->gid, j->gid, j->gid) || setresuid(j->uid, j->uid, j->uid))
		return fail("cannot drop to the unprivileged uid/gid", NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return fail("cannot set no_new_privs", NULL);
	execv("/vmon", vmon_argv);
	return fail("cannot exec /vmon in", j->root);
}

static int copy_exec(const char *from, const char *to, uid_t uid, gid_t gid)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	unlink(to);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in < 0 || out < 0) {
		if (in >= 0)
			close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	int ret = n < 0 || fchown(out, uid, gid) ? -1 : 0;
	close(out);
	return ret;
}

/*
 * vmon is linked dynamically: copy the loader and every shared library this very process
 * loaded, under the names the loader found them by (/lib64/ld-linux-x86-64.so.2,
 * /lib/x86_64-linux-gnu/libc.so.6, ...), to the same paths under the jail root.
 */
static int copy_library(struct dl_phdr_info *info, size_t size, void *arg)
{
	const struct jail *j = arg;
	char dst[PATH_MAX * 2];
	(void)size;

	if (info->dlpi_name[0] != '/')
		return 0; /* the program itself, the vDSO */
	snprintf(dst, sizeof(dst), "%s%s", j->root, info->dlpi_name);
	*strrchr(dst, '/') = '\0';
	if (mkdir_p(dst, 0755))
		return -1;
	snprintf(dst, sizeof(dst), "%s%s", j->root, info->dlpi_name);
	return copy_exec(info->dlpi_name, dst, 0, 0);
}

static int copy_libraries(const struct jail *j)
{
	return dl_iterate_phdr(copy_library, (void *)j);
}

static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > 64)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

enum { J_ID = 256, J_UID, J_GID, J_BASE, J_FILE, J_EXEC, J_NEWNET, J_NETNS, J_CGROUP, J_HELP };

static const struct option opts[] = {
	{ "id", required_argument, NULL, J_ID },
	{ "uid", required_argument, NULL, J_UID },
	{ "gid", required_argument, NULL, J_GID },
	{ "chroot-base", required_argument, NULL, J_BASE },
	{ "file", required_argument, NULL, J_FILE },
	{ "exec-file", required_argument, NULL, J_EXEC },
	{ "new-netns", no_argument, NULL, J_NEWNET },
	{ "netns", required_argument, NULL, J_NETNS },
	{ "cgroup", required_argument, NULL, J_CGROUP },
	{ "help", no_argument, NULL, J_HELP },
	{ 0 },
};

static int jail_parse(struct jail *j, int argc, char **argv)
{
	long uid = -1, gid = -1;
	int opt;

	*j = (struct jail){ .base = "/srv/vmon", .exec_file = "/proc/self/exe" };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case J_ID: j->id = optarg; break;
		case J_UID: uid = strtol(optarg, NULL, 10); break;
		case J_GID: gid = strtol(optarg, NULL, 10); break;
		case J_BASE: j->base = optarg; break;
		case J_EXEC: j->exec_file = optarg; break;
		case J_NEWNET: j->new_netns = true; break;
		case J_NETNS: j->netns = optarg; break;
		case J_FILE:
			if (j->nr_files == JAIL_MAX_FILES || optarg[0] != '/') {
				fprintf(stderr, "vmon jail: --file: up to %d absolute paths\n", JAIL_MAX_FILES);
				return 2;
			}
			j->files[j->nr_files++] = optarg;
			break;
		case J_CGROUP:
			if (j->nr_cgroup == JAIL_MAX_CGROUP)
				return 2;
			j->cgroup[j->nr_cgroup++] = optarg;
			break;
		case J_HELP: jail_usage(stdout); return -1;
		default:
			fprintf(stderr, "vmon jail: unknown or incomplete option '%s'\n", argv[optind - 1]);
			return 2;
		}
	}
	if (!j->id || !id_ok(j->id) || uid <= 0 || gid <= 0 || uid > 0xfffffffe || gid > 0xfffffffe ||
	    optind >= argc || (j->netns && j->new_netns)) {
		jail_usage(stderr);
		return 2;
	}
	j->uid = (uid_t)uid;
	j->gid = (gid_t)gid;
	return 0;
}

int jail_main(int argc, char **argv)
{
	struct jail j;
	char exec_path[PATH_MAX + 8];
	int ret = jail_parse(&j, argc, argv);

	if (ret)
		return ret < 0 ? 0 : ret;
	char **vmon_argv = argv + optind - 1; /* "--" or the last option becomes argv[0] */
	vmon_argv[0] = (char *)"vmon";
	if (geteuid() != 0) {
		fprintf(stderr, "vmon jail: must run as root (it builds the jail, then drops to %u:%u)\n",
			(unsigned)j.uid, (unsigned)j.gid);
		return 1;
	}
	snprintf(j.root, sizeof(j.root), "%s/vmon/%s/root", j.base, j.id);
	if (mkdir_p(j.root, 0755) || chown(j.root, j.uid, j.gid))
		return fail("cannot create the jail", j.root);
	snprintf(exec_path, sizeof(exec_path), "%s/vmon", j.root);
	if (copy_exec(j.exec_file, exec_path, j.uid, j.gid))
		return fail("cannot copy vmon into", exec_path);
	if (copy_libraries(&j))
		return fail("cannot copy vmon's shared libraries into", j.root);
	if ((ret = jail_cgroup(&j)))
		return ret;
	/* /sys stays outside: tell vmon which KVM the host has (its guest command-line quirks). */
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		setenv("VMON_HOST_KVM", "pvm", 1);
	if (j.netns) {
		int fd = open(j.netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET))
			return fail("cannot join the network namespace", j.netns);
		close(fd);
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | (j.new_netns ? CLONE_NEWNET : 0)))
		return fail("cannot create namespaces", NULL);
	pid_t pid = fork();
	if (pid < 0)
		return fail("cannot fork", NULL);
	if (pid == 0)
		_exit(jail_child(&j, vmon_argv));
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
