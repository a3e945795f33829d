/* The VMM side of the Uffd memory backend: create and register the userfaultfd, hand it to the handler. */
#include "mem/uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "mem/uffd_table.h"

/*
 * What Firecracker asks for: REMOVE events, so that after a balloon's madvise(DONTNEED)
 * the handler knows to fill those pages with zeros, not with stale snapshot contents.
 */
#define UFFD_FEATURES ((uint64_t)UFFD_FEATURE_EVENT_REMOVE)

/*
 * O_NONBLOCK belongs to the open file the handler receives: the kernel answers poll()
 * on a blocking userfaultfd with POLLERR, so handlers need it set.
 */
#define UFFD_FLAGS (O_CLOEXEC | O_NONBLOCK)

static int __attribute__((format(printf, 4, 5)))
fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static int check_mem(const struct guest_mem *gm, char *err, size_t errlen)
{
	if (gm->fd >= 0)
		return fail(err, errlen, -EINVAL, "guest RAM is a shared memfd; the Uffd memory "
			    "backend needs it mapped anonymously");
	if (gm->nr_regions < 1 || gm->nr_regions > GM_MAX_REGIONS)
		return fail(err, errlen, -EINVAL, "guest RAM has no regions");
	for (int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (!r->host || r->size == 0 || (uintptr_t)r->host % UFFD_PAGE_SIZE ||
		    r->size % UFFD_PAGE_SIZE)
			return fail(err, errlen, -EINVAL, "guest RAM region %d is not mapped on "
				    "page boundaries", i);
	}
	return 0;
}

/* The sysctl's value for the error message, or '?' if it cannot be read. */
static char unprivileged_sysctl(void)
{
	char c = '?';
	int fd = open("/proc/sys/vm/unprivileged_userfaultfd", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '?';
		close(fd);
	}
	return c;
}

/* /dev/userfaultfd (Linux 6.1+) gives a full userfaultfd to whoever may open the node. */
static int uffd_create_dev(int *fd)
{
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	int e;

	if (dev < 0)
		return -errno;
	*fd = ioctl(dev, USERFAULTFD_IOC_NEW, UFFD_FLAGS);
	e = errno;
	close(dev);
	return *fd < 0 ? -e : 0;
}

/*
 * Never UFFD_USER_MODE_ONLY: KVM and read()/pread() touch guest RAM from kernel mode, and
 * a user-mode-only userfaultfd fails those faults. A full one needs CAP_SYS_PTRACE or
 * vm.unprivileged_userfaultfd=1, or else access to /dev/userfaultfd.
 */
static int uffd_create(int *fd, char *err, size_t errlen)
{
	int e, dev_ret;

	*fd = (int)syscall(SYS_userfaultfd, UFFD_FLAGS);
	if (*fd >= 0)
		return 0;
	e = errno;
	if (e == ENOSYS)
		return fail(err, errlen, -ENOSYS, "userfaultfd is not available: the kernel "
			    "was built without CONFIG_USERFAULTFD");
	if (e != EPERM)
		return fail(err, errlen, -e, "cannot create a userfaultfd: %s", strerror(e));
	dev_ret = uffd_create_dev(fd);
	if (dev_ret == 0)
		return 0;
	return fail(err, errlen, -EPERM, "userfaultfd is not permitted: "
		    "vm.unprivileged_userfaultfd=%c and no CAP_SYS_PTRACE, and /dev/userfaultfd: %s",
		    unprivileged_sysctl(), strerror(-dev_ret));
}

static int uffd_api(int fd, char *err, size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURES };

	if (ioctl(fd, UFFDIO_API, &api) < 0)
		return fail(err, errlen, -errno, "UFFDIO_API (features 0x%llx) failed: %s",
			    (unsigned long long)UFFD_FEATURES, strerror(errno));
	return 0;
}

static int uffd_register_region(int fd, const struct gm_region *r, char *err, size_t errlen)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)r->host, .len = r->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
		return fail(err, errlen, -errno, "UFFDIO_REGISTER of guest RAM at %p (%llu bytes) "
			    "failed: %s", (void *)r->host, (unsigned long long)r->size,
			    strerror(errno));
	/* Without UFFDIO_COPY on the range the handler could not fill a single page. */
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY)))
		return fail(err, errlen, -EOPNOTSUPP, "guest RAM at %p cannot be filled with "
			    "UFFDIO_COPY", (void *)r->host);
	return 0;
}

static int uffd_connect(const char *path, int *sock, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(err, errlen, -ENAMETOOLONG, "page-fault handler socket path '%s' is "
			    "longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	*sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*sock < 0)
		return fail(err, errlen, -errno, "cannot create a Unix socket: %s", strerror(errno));
	if (connect(*sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	e = errno;
	close(*sock);
	*sock = -1;
	if (e == ENOENT)
		return fail(err, errlen, -e, "no page-fault handler socket at '%s'", path);
	if (e == ECONNREFUSED)
		return fail(err, errlen, -e, "nothing listens on '%s': is the page-fault handler "
			    "running?", path);
	return fail(err, errlen, -e, "cannot connect to the page-fault handler at '%s': %s",
		    path, strerror(e));
}

/* The whole table in one sendmsg() with the userfaultfd, as Firecracker's handlers read it. */
static int uffd_send(int sock, const char *msg, int fd, char *err, size_t errlen)
{
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(err, errlen, -errno, "cannot send the userfaultfd to the page-fault "
			    "handler: %s", strerror(errno));
	if ((size_t)n != iov.iov_len)
		return fail(err, errlen, -EIO, "the page-fault handler took %zd of %zu bytes of "
			    "the region table", n, iov.iov_len);
	return 0;
}

static int uffd_handshake(struct uffd_backend *ub, const struct guest_mem *gm, char *err,
			  size_t errlen)
{
	struct uffd_region r[GM_MAX_REGIONS];
	char *msg;
	int ret;

	for (int i = 0; i < gm->nr_regions; i++)
		r[i] = (struct uffd_region){
			.base = (uintptr_t)gm->regions[i].host, .size = gm->regions[i].size,
			.offset = gm->regions[i].fd_offset, .page_size = UFFD_PAGE_SIZE,
		};
	msg = uffd_table_encode(r, gm->nr_regions);
	if (!msg)
		return fail(err, errlen, -ENOMEM, "out of memory for the region table");
	ret = uffd_send(ub->sock, msg, ub->uffd, err, errlen);
	free(msg);
	return ret;
}

int uffd_register(struct uffd_backend *ub, const struct guest_mem *gm, const char *sock_path,
		  char *err, size_t errlen)
{
	int ret;

	ub->uffd = ub->sock = -1;
	ret = check_mem(gm, err, errlen);
	ret = ret ?: uffd_create(&ub->uffd, err, errlen);
	if (ret) {
		ub->uffd = -1;
		return ret;
	}
	ret = uffd_api(ub->uffd, err, errlen);
	for (int i = 0; i < gm->nr_regions && !ret; i++)
		ret = uffd_register_region(ub->uffd, &gm->regions[i], err, errlen);
	ret = ret ?: uffd_connect(sock_path, &ub->sock, err, errlen);
	ret = ret ?: uffd_handshake(ub, gm, err, errlen);
	/* Closing the userfaultfd also drops every registration made with it. */
	if (ret)
		uffd_close(ub);
	return ret;
}

void uffd_close(struct uffd_backend *ub)
{
	if (ub->sock >= 0)
		close(ub->sock);
	if (ub->uffd >= 0)
		close(ub->uffd);
	ub->sock = ub->uffd = -1;
}
