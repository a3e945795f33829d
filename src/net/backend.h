/*
 * Host-side network backends for virtio-net: frames travel with the 12-byte virtio-net
 * header in front (struct virtio_net_hdr_v1), in both directions.
 *   tap.c    a TAP device (root, or an existing device the user may open), offloads through
 *   slirp.c  user-mode networking with libslirp: NAT to the host, DHCP, port forwarding
 */
#ifndef VMON_NET_BACKEND_H
#define VMON_NET_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "util/util.h"

#define NET_VNET_HDR_LEN 12

struct snap_buf;
struct snap_rd;

struct net_backend {
	const char *kind;
	int rx_fd;          /* readable when frames may be waiting for the guest */
	bool offloads;      /* passes checksum/TSO offloads (else the guest must do them) */
	/* Next frame for the guest into iov (header included): its length, or -EAGAIN. */
	ssize_t (*recv)(struct net_backend *be, const struct iovec *iov, int n);
	/* A frame from the guest (header included). */
	ssize_t (*send)(struct net_backend *be, const struct iovec *iov, int n);
	/* TUN_F_* offloads the guest accepts on received frames. */
	void (*set_offload)(struct net_backend *be, unsigned tun_flags);
	void (*close)(struct net_backend *be);

	/*
	 * Optional, for snapshots: the guest-visible state the backend itself keeps. NULL
	 * for a backend that keeps none (TAP: what the guest sees lives in the host's kernel
	 * and network). Frames in flight are not state: a snapshot drops them like a wire.
	 *
	 * Either may be called from any thread while the backend's own thread (slirp) runs:
	 * the backend serializes them with that thread and with send/recv under its lock.
	 * Call them with the virtio-net device quiesced, so no frame crosses mid-snapshot.
	 *
	 * save() appends the state to out: 0, or -errno if it cannot be saved (a failed put
	 * is left for the caller's snap_buf_error()).
	 * restore() loads what save() wrote into a backend opened with the same options,
	 * before the guest runs. The bytes are hostile: 0, or -EINVAL with the backend left
	 * as it was (or -ENOMEM). Bytes after the state stay unread: the caller checks
	 * snap_rd_end().
	 */
	int (*save)(struct net_backend *be, struct snap_buf *out) __must_check;
	int (*restore)(struct net_backend *be, struct snap_rd *in) __must_check;
};

/* TAP device `name` (created if missing). NULL and a sentence in err on failure. */
struct net_backend *net_tap_open(const char *name, char *err, size_t errlen);

#define NET_MAX_HOSTFWD 8
struct net_hostfwd {
	bool udp;
	uint32_t host_addr;  /* network order; 0 = any */
	uint16_t host_port;
	uint32_t guest_addr; /* network order; 0 = the guest's DHCP address */
	uint16_t guest_port;
};

/* User-mode network 10.0.2.0/24 (gateway .2, DNS .3, guest .15), as QEMU's. */
struct net_backend *net_slirp_open(const struct net_hostfwd *fwd, int nr_fwd, char *err,
				   size_t errlen);

/*
 * A private, restricted libslirp (nothing reaches the host's network) that answers as
 * fwd_addr (host order) in its /16 and hands each TCP connection to fwd_addr:fwd_port to
 * a new connection on the Unix socket unix_path (which must be listening). For MMDS
 * (net/mmds_stack.c); no snapshot state.
 */
struct net_backend *net_slirp_open_private(uint32_t fwd_addr, uint16_t fwd_port,
					   const char *unix_path, char *err, size_t errlen);

/* Parse "tcp:[ADDR]:PORT-[ADDR]:PORT" (QEMU's hostfwd syntax). 0 or -EINVAL. */
int net_parse_hostfwd(const char *s, struct net_hostfwd *f) __must_check;

#endif
