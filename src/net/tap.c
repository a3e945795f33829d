/* TAP backend: the vnet header goes straight to and from the kernel's TAP device. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/backend.h"
#include "util/log.h"

struct tap {
	struct net_backend be;
	char name[IFNAMSIZ];
};

static ssize_t tap_recv(struct net_backend *be, const struct iovec *iov, int n)
{
	ssize_t r = readv(be->rx_fd, iov, n);
	return r < 0 ? -errno : r;
}

static ssize_t tap_send(struct net_backend *be, const struct iovec *iov, int n)
{
	ssize_t r = writev(be->rx_fd, iov, n);
	return r < 0 ? -errno : r;
}

static void tap_set_offload(struct net_backend *be, unsigned flags)
{
	if (ioctl(be->rx_fd, TUNSETOFFLOAD, flags) < 0)
		pr_warn("TAP: TUNSETOFFLOAD 0x%x: %s", flags, strerror(errno));
}

static void tap_close(struct net_backend *be)
{
	close(be->rx_fd);
	free(be);
}

struct net_backend *net_tap_open(const char *name, char *err, size_t errlen)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr = NET_VNET_HDR_LEN;
	struct tap *t = calloc(1, sizeof(*t));
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (!t || fd < 0) {
		snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(t ? errno : ENOMEM));
		goto fail;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	/*
	 * Multi-queue when vmon creates the device, so that a second vmon (a local migration's
	 * destination) can attach while the source still holds it; an existing single-queue
	 * device refuses the flag with EINVAL and is opened as it is.
	 */
	ifr.ifr_flags |= IFF_MULTI_QUEUE;
	int ret = ioctl(fd, TUNSETIFF, &ifr);
	if (ret < 0 && errno == EINVAL) {
		ifr.ifr_flags &= ~IFF_MULTI_QUEUE;
		ret = ioctl(fd, TUNSETIFF, &ifr);
	}
	if (ret < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		snprintf(err, errlen, "TAP device '%s': %s", name, strerror(errno));
		goto fail;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->be = (struct net_backend){ .kind = "tap", .rx_fd = fd, .offloads = true, .recv = tap_recv,
				      .send = tap_send, .set_offload = tap_set_offload,
				      .close = tap_close };
	return &t->be;
fail:
	if (fd >= 0)
		close(fd);
	free(t);
	return NULL;
}
