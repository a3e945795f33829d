/* Per-thread seccomp allowlists and the SIGSYS report. */
#include "security/seccomp.h"

#include <errno.h>
#include <linux/sched.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"
#include "util/exit_status.h"

/*
 * Off in sanitizer builds: LeakSanitizer stops the process with a ptrace()ing helper at
 * exit and AddressSanitizer manages its own signal stacks; make test checks the filters
 * with the regular build.
 */
#ifdef __SANITIZE_ADDRESS__
bool seccomp_enabled = false;
#else
bool seccomp_enabled = true;
#endif

static const char *const kind_names[] = { "main", "vcpu", "io", "net", "api", "metrics", "gdb", "profile" };

const char *seccomp_kind_name(enum seccomp_kind kind)
{
	return kind_names[kind];
}

/* What every thread does: memory, locks, time, its fds, signals, logging, exit. */
static const char *const common[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "close",
	"futex", "rt_sigreturn", "rt_sigprocmask", "exit", "exit_group", "madvise", "mmap",
	"munmap", "mprotect", "brk", "mremap", "clock_gettime", "clock_nanosleep", "nanosleep",
	"gettid", "getpid", "tgkill", "sched_yield", "restart_syscall", "getrandom", "fstat",
	"newfstatat", "lseek", "fcntl", "epoll_wait", "epoll_pwait", "poll", "ppoll",
	"set_robust_list", "rseq", "timerfd_settime", "sched_getaffinity", "dup", "sigaltstack", NULL,
};
/* Host sockets: the API's clients, libslirp's connections, the console socket. */
static const char *const sockets[] = {
	"connect", "bind", "listen", "accept", "accept4", "getsockname", "getpeername",
	"setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
	"recvmmsg", "shutdown", NULL,
};
static const char *const io_uring[] = { "io_uring_enter", NULL };
static const char *const disk[] = { "fsync", "fdatasync", "fallocate", NULL };
static const char *const epoll_ctl[] = { "epoll_ctl", NULL };
static const char *const files[] = { "openat", "open", "statx", "unlink", NULL };
static const char *const api_extra[] = { "eventfd2", "pipe2", NULL };
/* The VM's own cgroup (--cpu-weight, --cpu-max): made at build, removed at teardown. */
static const char *const cgroup_dirs[] = { "mkdir", "mkdirat", "rmdir", NULL };
/* PUT /snapshot/create: files written to a temporary name, synced, renamed into place. */
static const char *const snapshot_files[] = {
	"ftruncate", "rename", "renameat", "renameat2", "unlinkat", "copy_file_range", NULL,
};

static int allow(scmp_filter_ctx ctx, const char *const *names)
{
	for (; *names; names++) {
		int nr = seccomp_syscall_resolve_name(*names);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (ret)
			return ret;
	}
	return 0;
}

/* ioctls by type byte: KVM's (0xAE), the terminal's and TAP's ('T' = 0x54). */
static int allow_ioctls(scmp_filter_ctx ctx, bool kvm, bool tty_tap)
{
	int ret = 0;

	if (kvm)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, 0xae00));
	if (!ret && tty_tap)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, 0x5400));
	return ret;
}

/* New sockets of the internet and Unix families only. */
static int allow_socket(scmp_filter_ctx ctx)
{
	int ret = 0;
	const int families[] = { AF_UNIX, AF_INET, AF_INET6 };

	for (size_t i = 0; !ret && i < sizeof(families) / sizeof(families[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
	return ret;
}

/*
 * Threads, but nothing else clone can make. clone3 takes its flags in memory a filter
 * cannot read: it fails with ENOSYS, and glibc falls back to clone.
 */
static int allow_threads(scmp_filter_ctx ctx)
{
	int ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);

	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	return ret;
}

static int build(scmp_filter_ctx ctx, enum seccomp_kind kind)
{
	int ret = allow(ctx, common);

	/* Thread names (pthread_setname_np on itself; the SIGSYS report reads it back). */
	ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));

	switch (kind) {
	case SECCOMP_VCPU:
		/* Exits reach every device model: ring work without ioeventfd, slirp sends. */
		ret = ret ?: allow_ioctls(ctx, true, true);
		ret = ret ?: allow(ctx, io_uring);
		ret = ret ?: allow(ctx, disk);
		ret = ret ?: allow(ctx, sockets);
		ret = ret ?: allow_socket(ctx);
		ret = ret ?: allow(ctx, epoll_ctl);
		break;
	case SECCOMP_IO:
		ret = ret ?: allow_ioctls(ctx, true, true);
		ret = ret ?: allow(ctx, io_uring);
		ret = ret ?: allow(ctx, disk);
		ret = ret ?: allow(ctx, sockets);
		ret = ret ?: allow_socket(ctx);
		ret = ret ?: allow(ctx, epoll_ctl);
		break;
	case SECCOMP_NET:
		ret = ret ?: allow_ioctls(ctx, false, true);
		ret = ret ?: allow(ctx, sockets);
		ret = ret ?: allow_socket(ctx);
		break;
	case SECCOMP_API:
		/* Requests check files, write snapshots, pause the vCPUs (kvmclock) and read their
		 * state, swap a disk's file (io_uring drain), start the metrics thread. */
		ret = ret ?: allow_ioctls(ctx, true, true);
		ret = ret ?: allow(ctx, sockets);
		ret = ret ?: allow_socket(ctx); /* migration: connect to, or listen for, a peer */
		ret = ret ?: allow(ctx, files);
		ret = ret ?: allow(ctx, io_uring);
		ret = ret ?: allow(ctx, epoll_ctl);
		ret = ret ?: allow(ctx, api_extra);
		ret = ret ?: allow(ctx, cgroup_dirs);
		ret = ret ?: allow(ctx, disk);
		ret = ret ?: allow(ctx, snapshot_files);
		ret = ret ?: allow_threads(ctx);
		/* The vCPU and I/O threads it starts inherit this filter and pin themselves
		 * (sched_setaffinity(0, ...)) before they add their own: on itself only. */
		ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sched_setaffinity), 1,
					      SCMP_A0(SCMP_CMP_EQ, 0));
		/* The metrics thread it may start adds its own filter (only ever narrower). */
		ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
					      SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
		ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 1,
					      SCMP_A0(SCMP_CMP_EQ, 1 /* SECCOMP_SET_MODE_FILTER */));
		break;
	case SECCOMP_METRICS:
		ret = ret ?: allow(ctx, files);
		break;
	case SECCOMP_GDB:
		/* Accepts on a socket made before the thread; registers and debug state through
		 * KVM's vCPU ioctls (and the log's isatty()); no files, no new sockets. */
		ret = ret ?: allow_ioctls(ctx, true, true);
		ret = ret ?: allow(ctx, sockets);
		break;
	case SECCOMP_PROFILE:
		/* Sleeps to the next tick and kicks the vCPUs (tgkill): the common list has both. */
		break;
	case SECCOMP_MAIN:
		ret = ret ?: allow_ioctls(ctx, true, true);
		ret = ret ?: allow(ctx, cgroup_dirs);
		ret = ret ?: allow(ctx, sockets);
		ret = ret ?: allow(ctx, files);
		ret = ret ?: allow(ctx, io_uring);
		ret = ret ?: allow(ctx, epoll_ctl);
		break;
	case SECCOMP__MAX:
		break;
	}
	return ret;
}

static __thread char thread_label[24];

/* System call names, looked up before any filter: libseccomp's lookup allocates. */
#define NAMES_MAX 512
static char *syscall_names[NAMES_MAX];

/* SIGSYS: say who broke the rules and stop. Only async-signal-safe calls below. */
static void sigsys_handler(int sig, siginfo_t *si, void *uc)
{
	char msg[256];
	(void)sig, (void)uc;

	if (!thread_label[0]) /* a thread that inherited its filter */
		prctl(PR_GET_NAME, thread_label);
	const char *name = si->si_syscall >= 0 && si->si_syscall < NAMES_MAX ? syscall_names[si->si_syscall] : NULL;
	int n = snprintf(msg, sizeof(msg),
			 "vmon: error: seccomp: thread '%s' made a forbidden system call: %s (%d); stopping\n",
			 thread_label, name ? name : "?", si->si_syscall);
	if (write(STDERR_FILENO, msg, (size_t)n) < 0)
		_exit(VMON_EXIT_SECCOMP);
	_exit(VMON_EXIT_SECCOMP);
}

static void seccomp_handler_once(void)
{
	struct sigaction sa = { .sa_sigaction = sigsys_handler, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
	for (int nr = 0; nr < NAMES_MAX; nr++)
		syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

int seccomp_install(enum seccomp_kind kind)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	char name[16] = "";
	int ret;

	if (!seccomp_enabled)
		return 0;
	pthread_once(&once, seccomp_handler_once);
	pthread_getname_np(pthread_self(), name, sizeof(name));
	snprintf(thread_label, sizeof(thread_label), "%s", name[0] ? name : kind_names[kind]);
	const char *selftest = getenv("VMON_SECCOMP_SELFTEST");

	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	ret = build(ctx, kind);
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret) {
		pr_err("seccomp: cannot load the %s filter: %s", kind_names[kind], strerror(-ret));
		return ret;
	}
	pr_debug("seccomp: %s filter on thread %s", kind_names[kind], thread_label);
	if (selftest && !strcmp(selftest, kind_names[kind]))
		syscall(SYS_ptrace, 0, 0, 0, 0); /* PTRACE_TRACEME: on no allowlist */
	return 0;
}

void seccomp_thread_start(enum seccomp_kind kind, const char *name)
{
	if (name)
		pthread_setname_np(pthread_self(), name);
	if (seccomp_install(kind)) {
		pr_err("seccomp: thread %s cannot run unconfined; stopping (--no-seccomp to debug)",
		       name ? name : kind_names[kind]);
		_exit(VMON_EXIT_SETUP);
	}
}
