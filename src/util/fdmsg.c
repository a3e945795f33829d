/* 8-byte messages with one passed descriptor over a Unix stream socket. */
#include "util/fdmsg.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int fdmsg_send(int sock, int64_t value, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = &value, .iov_len = sizeof(value) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* 8 bytes to a stream socket's empty-enough buffer go whole; a short write is an error. */
	return n == sizeof(value) ? 0 : -EIO;
}

/* The fds that came with one recvmsg: the first kept in *fd, the others closed. */
static void take_fds(struct msghdr *mh, int *fd)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int nr = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < nr; i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = got;
			else
				close(got);
		}
	}
}

int fdmsg_recv(int sock, int64_t *value, int *fd, int timeout_ms)
{
	uint8_t buf[8];
	size_t have = 0;

	*fd = -1;
	while (have < sizeof(buf)) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(4 * sizeof(int))];
		} ctl;
		struct iovec iov = { .iov_base = buf + have, .iov_len = sizeof(buf) - have };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | (have ? MSG_DONTWAIT : 0));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && have) {
			struct pollfd p = { .fd = sock, .events = POLLIN };
			int r = poll(&p, 1, timeout_ms);
			if (r <= 0)
				goto short_msg;
			continue;
		}
		if (n < 0) {
			int e = errno;
			if (*fd >= 0)
				close(*fd);
			*fd = -1;
			return -e;
		}
		take_fds(&mh, fd);
		if (n == 0) {
			if (!have && *fd < 0)
				return 0;
			goto short_msg;
		}
		have += (size_t)n;
	}
	memcpy(value, buf, sizeof(*value));
	return 1;
short_msg:
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return -EPIPE;
}
