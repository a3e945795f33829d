/*
 * The Uffd memory backend without a VM: anonymous guest RAM laid out like a 3 GiB + 8 MiB
 * machine (two regions around the PCI hole), registered with uffd_register() against the
 * real vmon-uffd-handler serving a sparse memory file, read by this process, by the
 * kernel on its behalf (read(), write(), pread(), as KVM does), and bad set-ups.
 */
#include "unit.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem/guest_mem.h"
#include "mem/uffd.h"

#define RAM_SIZE (3 * GiB + 8 * MiB)
#define PAGE 4096ULL

static char handler_path[4096];

struct fixture {
	char dir[64], sock[96], memfile[96];
	pid_t handler;
	int out;                /* the handler's stdout and stderr */
	struct guest_mem gm;
	struct uffd_backend ub;
};

/* ---- the memory file: a pattern in some pages, holes elsewhere ---------------------- */

static uint64_t pattern(uint64_t file_off)
{
	return (file_off * 0x9E3779B97F4A7C15ULL) | 1;
}

/* File offsets of pages that hold the pattern; every other page is a hole. */
static const uint64_t data_pages[] = {
	0, PAGE, 2 * PAGE, 1 * GiB, 3 * GiB - PAGE, 3 * GiB, 3 * GiB + 5 * PAGE, RAM_SIZE - PAGE,
};

static bool is_data_page(uint64_t file_off)
{
	for (size_t i = 0; i < ARRAY_SIZE(data_pages); i++)
		if (data_pages[i] == ALIGN_DOWN(file_off, PAGE))
			return true;
	return false;
}

static void fill_page(uint64_t *buf, uint64_t file_off)
{
	for (uint64_t i = 0; i < PAGE / 8; i++)
		buf[i] = is_data_page(file_off) ? pattern(file_off + i * 8) : 0;
}

static void write_memfile(const char *path)
{
	uint64_t buf[PAGE / 8];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)RAM_SIZE), 0);
	for (size_t i = 0; i < ARRAY_SIZE(data_pages); i++) {
		fill_page(buf, data_pages[i]);
		assert_int_equal(pwrite(fd, buf, PAGE, (off_t)data_pages[i]), (ssize_t)PAGE);
	}
	close(fd);
}

/* ---- guest RAM: what gm_create_anon() maps, with the layout gm_create() uses --------- */

static void anon_guest_mem(struct guest_mem *gm, uint64_t size)
{
	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
	gm->base = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(gm->base != MAP_FAILED);
	gm_layout(gm, size);
	for (int i = 0; i < gm->nr_regions; i++)
		gm->regions[i].host = gm->base + gm->regions[i].fd_offset;
}

/* ---- the handler process ------------------------------------------------------------ */

/* Next line of the handler's output containing want, within 5 s; false if none. */
static bool expect_line(struct fixture *f, const char *want, char *line, size_t len)
{
	size_t n = 0;
	struct pollfd p = { .fd = f->out, .events = POLLIN };

	while (poll(&p, 1, 5000) == 1) {
		char c;

		if (read(f->out, &c, 1) != 1)
			return false;
		if (c != '\n') {
			if (n < len - 1)
				line[n++] = c;
			continue;
		}
		line[n] = '\0';
		fprintf(stderr, "  handler> %s\n", line);
		if (strstr(line, want))
			return true;
		n = 0;
	}
	return false;
}

static void start_handler(struct fixture *f)
{
	int p[2];
	char line[256];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f->handler = fork();
	assert_true(f->handler >= 0);
	if (f->handler == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(handler_path, handler_path, f->sock, f->memfile, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f->out = p[0];
	assert_true(expect_line(f, "listening on", line, sizeof(line)));
}

/* The handler's exit status, waiting up to 5 s; -1 if it had to be killed. */
static int wait_handler(struct fixture *f)
{
	int status;

	for (int i = 0; i < 500; i++) {
		if (waitpid(f->handler, &status, WNOHANG) == f->handler) {
			f->handler = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	kill(f->handler, SIGKILL);
	waitpid(f->handler, &status, 0);
	f->handler = 0;
	return -1;
}

/* "served N pages (C copied, Z zero-filled), E already present" */
static void expect_counts(struct fixture *f, int copied, int zeroed)
{
	char line[256];
	int n, c, z, e;

	assert_true(expect_line(f, "served", line, sizeof(line)));
	assert_int_equal(sscanf(strstr(line, "served"), "served %d pages (%d copied, %d "
				"zero-filled), %d already present", &n, &c, &z, &e), 4);
	assert_int_equal(c, copied);
	assert_int_equal(z, zeroed);
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->ub.uffd = f->ub.sock = -1;
	f->out = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/vmon-uffd-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->sock, sizeof(f->sock), "%s/uffd.sock", f->dir);
	snprintf(f->memfile, sizeof(f->memfile), "%s/mem", f->dir);
	write_memfile(f->memfile);
	f->gm.fd = -1;
	/* A handler bug must fail the test, not hang the suite. */
	alarm(60);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uffd_close(&f->ub);
	if (f->gm.base)
		munmap(f->gm.base, f->gm.size);
	/* A test that skipped or failed early leaves the handler waiting for a VMM. */
	if (f->handler > 0) {
		kill(f->handler, SIGTERM);
		wait_handler(f);
	}
	if (f->out >= 0)
		close(f->out);
	unlink(f->sock);
	unlink(f->memfile);
	rmdir(f->dir);
	alarm(0);
	free(f);
	return 0;
}

/* Register the fixture's RAM with a running handler; skip if this host allows no userfaultfd. */
static void start_session(struct fixture *f)
{
	char err[256], line[256];
	int ret;

	start_handler(f);
	anon_guest_mem(&f->gm, RAM_SIZE);
	ret = uffd_register(&f->ub, &f->gm, f->sock, err, sizeof(err));
	if (ret == -EPERM || ret == -ENOSYS) {
		printf("SKIP: %s\n", err);
		skip();
	}
	if (ret)
		fail_msg("uffd_register: %s", err);
	assert_true(expect_line(f, "session: VMM pid", line, sizeof(line)));
	assert_non_null(strstr(line, "2 regions"));
}

/* Where the page at memory-file offset file_off is mapped: regions sit at base + fd_offset. */
static uint8_t *host_of(struct fixture *f, uint64_t file_off)
{
	return f->gm.base + file_off;
}

static void expect_file_page(uint64_t file_off, const uint8_t *mem)
{
	uint64_t want[PAGE / 8];

	fill_page(want, file_off);
	assert_memory_equal(mem, want, PAGE);
}

/* ---- tests -------------------------------------------------------------------------- */

/* The process itself reads RAM: every page comes from the file, holes as zeros. */
static void test_serves_file_pages(void **state)
{
	struct fixture *f = *state;
	int copied = 0, zeroed = 0;

	start_session(f);
	for (size_t i = 0; i < ARRAY_SIZE(data_pages); i++) {
		expect_file_page(data_pages[i], host_of(f, data_pages[i]));
		copied++;
	}
	expect_file_page(10 * PAGE, host_of(f, 10 * PAGE));
	expect_file_page(3 * GiB + 4 * PAGE, host_of(f, 3 * GiB + 4 * PAGE));
	zeroed += 2;
	/* A zero page written to is copied on write by the kernel, with no second fault. */
	*(volatile uint64_t *)host_of(f, 10 * PAGE) = 42;
	assert_int_equal(*(volatile uint64_t *)host_of(f, 10 * PAGE), 42);
	/* The second region is the file's second part: GPA 4 GiB is file offset 3 GiB. */
	assert_ptr_equal(gm_translate(&f->gm, 4 * GiB, 8), host_of(f, 3 * GiB));
	munmap(f->gm.base, f->gm.size);
	f->gm.base = NULL;
	uffd_close(&f->ub);
	expect_counts(f, copied, zeroed);
	assert_int_equal(wait_handler(f), 0);
}

/*
 * KVM fills guest RAM from kernel mode (get_user_pages), and so do read() into it and
 * write() out of it: each of those faults must reach the handler too.
 */
static void test_kernel_access(void **state)
{
	struct fixture *f = *state;
	uint64_t want[PAGE / 8];
	uint8_t buf[PAGE];
	int p[2], fd;

	start_session(f);
	assert_int_equal(pipe(p), 0);
	/* read() into the middle of an untouched page: the rest of it must be the file's. */
	assert_int_equal(write(p[1], "sixteen bytes!!", 16), 16);
	assert_int_equal(read(p[0], host_of(f, PAGE) + 100, 16), 16);
	fill_page(want, PAGE);
	memcpy((uint8_t *)want + 100, "sixteen bytes!!", 16);
	assert_memory_equal(host_of(f, PAGE), want, PAGE);
	/* write() out of an untouched page: the kernel reads it, the handler filled it. */
	assert_int_equal(write(p[1], host_of(f, 3 * GiB + 5 * PAGE), PAGE), (ssize_t)PAGE);
	assert_int_equal(read(p[0], buf, PAGE), (ssize_t)PAGE);
	expect_file_page(3 * GiB + 5 * PAGE, buf);
	/* pread() of the file straight into a page of the high region. */
	fd = open(f->memfile, O_RDONLY | O_CLOEXEC);
	assert_int_equal(pread(fd, host_of(f, 3 * GiB), PAGE, 3 * GiB), (ssize_t)PAGE);
	expect_file_page(3 * GiB, host_of(f, 3 * GiB));
	close(fd);
	close(p[0]);
	close(p[1]);
	uffd_close(&f->ub);
	expect_counts(f, 3, 0);
	assert_int_equal(wait_handler(f), 0);
}

#define TOUCHERS 4
#define HOLE_PAGES 64

struct toucher {
	struct fixture *f;
	int seed;
	bool ok;
};

/* Every data page and HOLE_PAGES hole pages after 16 MiB, each thread in its own order. */
static void *touch_all(void *arg)
{
	struct toucher *t = arg;
	int n = (int)ARRAY_SIZE(data_pages) + HOLE_PAGES;
	uint64_t want[PAGE / 8];

	t->ok = true;
	for (int k = 0; k < n; k++) {
		int i = (k * 7 + t->seed * 13) % n;
		uint64_t off = i < (int)ARRAY_SIZE(data_pages) ? data_pages[i] :
			       16 * MiB + (uint64_t)(i - (int)ARRAY_SIZE(data_pages)) * PAGE;

		fill_page(want, off);
		t->ok &= memcmp(host_of(t->f, off), want, PAGE) == 0;
	}
	return NULL;
}

/* Threads racing for the same pages: each page is filled once, the losers just woken. */
static void test_concurrent_faults(void **state)
{
	struct fixture *f = *state;
	struct toucher t[TOUCHERS];
	pthread_t th[TOUCHERS];

	start_session(f);
	for (int i = 0; i < TOUCHERS; i++) {
		t[i] = (struct toucher){ .f = f, .seed = i };
		assert_int_equal(pthread_create(&th[i], NULL, touch_all, &t[i]), 0);
	}
	for (int i = 0; i < TOUCHERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(t[i].ok);
	}
	uffd_close(&f->ub);
	expect_counts(f, (int)ARRAY_SIZE(data_pages), HOLE_PAGES);
	assert_int_equal(wait_handler(f), 0);
}

/* A balloon's madvise(DONTNEED): the page comes back as zeros, not as the file's contents. */
static void test_removed_page_reads_zero(void **state)
{
	struct fixture *f = *state;
	uint8_t zeros[PAGE] = { 0 };

	start_session(f);
	expect_file_page(2 * PAGE, host_of(f, 2 * PAGE));
	assert_int_equal(madvise(host_of(f, 2 * PAGE), PAGE, MADV_DONTNEED), 0);
	assert_memory_equal(host_of(f, 2 * PAGE), zeros, PAGE);
	uffd_close(&f->ub);
	expect_counts(f, 1, 1);
	assert_int_equal(wait_handler(f), 0);
}

static void test_sigterm(void **state)
{
	struct fixture *f = *state;

	start_session(f);
	expect_file_page(0, host_of(f, 0));
	kill(f->handler, SIGTERM);
	expect_counts(f, 1, 0);
	assert_int_equal(wait_handler(f), 0);
}

static void expect_register_fails(struct fixture *f, int want_ret, const char *want_err)
{
	char err[256] = "";

	if (!f->gm.base)
		anon_guest_mem(&f->gm, RAM_SIZE);
	assert_int_equal(uffd_register(&f->ub, &f->gm, f->sock, err, sizeof(err)), want_ret);
	if (!strstr(err, want_err))
		fail_msg("error '%s' does not say '%s'", err, want_err);
	assert_int_equal(f->ub.uffd, -1);
	assert_int_equal(f->ub.sock, -1);
	/* Nothing stayed registered: a page reads as plain zeros at once. */
	assert_int_equal(*(volatile uint64_t *)host_of(f, 0), 0);
}

static void skip_without_userfaultfd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: userfaultfd: %s\n", strerror(errno));
		skip();
	}
	close(fd);
}

static void test_missing_socket(void **state)
{
	skip_without_userfaultfd();
	expect_register_fails(*state, -ENOENT, "no page-fault handler socket at");
}

/* A socket file nobody listens on: a handler that bound but died, or never listened. */
static void test_handler_not_listening(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	skip_without_userfaultfd();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	expect_register_fails(f, -ECONNREFUSED, "nothing listens on");
	close(s);
	expect_register_fails(f, -ECONNREFUSED, "nothing listens on");
}

static void test_rejects_memfd_ram(void **state)
{
	struct fixture *f = *state;
	struct guest_mem gm;
	char err[256];

	assert_int_equal(gm_create(&gm, 2 * MiB, false), 0);
	assert_int_equal(uffd_register(&f->ub, &gm, f->sock, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "anonymously"));
	gm_destroy(&gm);
}

/* As an unprivileged user (sysctl 0, no CAP_SYS_PTRACE, no access to /dev/userfaultfd). */
static void test_not_permitted(void **state)
{
	struct fixture *f = *state;
	char c = '0';
	int fd = open("/proc/sys/vm/unprivileged_userfaultfd", O_RDONLY);
	int status;
	pid_t pid;

	if (fd >= 0) {
		assert_int_equal(read(fd, &c, 1), 1);
		close(fd);
	}
	if (getuid() != 0 || c != '0') {
		printf("SKIP: needs root to drop to nobody, and vm.unprivileged_userfaultfd=0\n");
		skip();
	}
	anon_guest_mem(&f->gm, RAM_SIZE);
	pid = fork();
	if (pid == 0) {
		char err[256] = "";

		if (setgid(65534) || setuid(65534))
			_exit(2);
		int ret = uffd_register(&f->ub, &f->gm, f->sock, err, sizeof(err));

		fprintf(stderr, "  as nobody: %s\n", err);
		_exit(ret == -EPERM && strstr(err, "userfaultfd is not permitted: "
					     "vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the handler against a VMM that lies: a raw handshake ----------------------------- */

static int raw_uffd(uint64_t flags, void *mem, uint64_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)mem, .len = len }, .mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | flags);

	if (fd < 0) {
		printf("SKIP: userfaultfd: %s\n", strerror(errno));
		skip();
	}
	assert_int_equal(ioctl(fd, UFFDIO_API, &api), 0);
	assert_int_equal(ioctl(fd, UFFDIO_REGISTER, &reg), 0);
	return fd;
}

static int raw_handshake(struct fixture *f, const char *table, int uffd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl = { 0 };
	struct iovec iov = { .iov_base = (void *)table, .iov_len = strlen(table) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &uffd, sizeof(int));
	assert_int_equal(sendmsg(s, &mh, 0), (ssize_t)iov.iov_len);
	return s;
}

/*
 * Two pages registered, one described: a fault on the other makes the handler stop
 * without copying anything. This process gave up its own copy of the userfaultfd, so
 * once the handler exits the registration is gone and the fault reads a zero page.
 */
static void test_fault_outside_regions(void **state)
{
	struct fixture *f = *state;
	char table[256], line[256];
	uint8_t *mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	int uffd = raw_uffd(0, mem, 2 * PAGE), s;

	start_handler(f);
	snprintf(table, sizeof(table), "[{\"base_host_virt_addr\":%llu,\"size\":4096,\"offset\":0,"
		 "\"page_size\":4096}]", (unsigned long long)(uintptr_t)mem);
	s = raw_handshake(f, table, uffd);
	close(uffd);
	assert_true(expect_line(f, "session", line, sizeof(line)));
	assert_int_equal(*(volatile uint64_t *)(mem + PAGE), 0);
	assert_true(expect_line(f, "outside every region", line, sizeof(line)));
	assert_int_equal(wait_handler(f), 1);
	close(s);
	munmap(mem, 2 * PAGE);
}

/* A region past the end of the memory file is refused before any fault is served. */
static void test_region_beyond_file(void **state)
{
	struct fixture *f = *state;
	char table[256], line[256];
	uint8_t *mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = raw_uffd(0, mem, PAGE), s;

	start_handler(f);
	snprintf(table, sizeof(table), "[{\"base_host_virt_addr\":%llu,\"size\":4096,\"offset\":%llu,"
		 "\"page_size\":4096}]", (unsigned long long)(uintptr_t)mem,
		 (unsigned long long)RAM_SIZE);
	s = raw_handshake(f, table, uffd);
	close(uffd);
	assert_true(expect_line(f, "beyond the end of the memory file", line, sizeof(line)));
	assert_int_equal(wait_handler(f), 1);
	close(s);
	munmap(mem, PAGE);
}

/* Why vmon never asks for UFFD_USER_MODE_ONLY: the kernel's own accesses then fail. */
static void test_user_mode_only_fails_kernel_access(void **state)
{
	uint8_t *mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = raw_uffd(UFFD_USER_MODE_ONLY, mem, PAGE), p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(read(p[0], mem, 1), -1);
	assert_int_equal(errno, EFAULT);
	close(p[0]);
	close(p[1]);
	close(uffd);
	munmap(mem, PAGE);
}

static void find_handler(const char *argv0)
{
	const char *env = getenv("VMON_UFFD_HANDLER");
	const char *slash = strrchr(argv0, '/');

	if (env)
		snprintf(handler_path, sizeof(handler_path), "%s", env);
	else	/* build/tests/unit/test_uffd -> build/vmon-uffd-handler */
		snprintf(handler_path, sizeof(handler_path), "%.*s/../../vmon-uffd-handler",
			 slash ? (int)(slash - argv0) : 1, slash ? argv0 : ".");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_serves_file_pages),
		T(test_kernel_access),
		T(test_concurrent_faults),
		T(test_removed_page_reads_zero),
		T(test_sigterm),
		T(test_missing_socket),
		T(test_handler_not_listening),
		T(test_rejects_memfd_ram),
		T(test_not_permitted),
		T(test_fault_outside_regions),
		T(test_region_beyond_file),
		T(test_user_mode_only_fails_kernel_access),
	};
	(void)argc;
	find_handler(argv[0]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
