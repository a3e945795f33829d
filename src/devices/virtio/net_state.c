/* virtio-net save/restore: the receive offloads its backend was told, told again. */
#include "devices/virtio/net.h"

#include <errno.h>
#include <linux/if_tun.h>

#include "snapshot/format.h"

/*
 * Version 1: u32 TUN_F_* offloads last given to the backend. The MAC and the MTU are
 * configuration; the backend's own state (a TAP's queue, slirp's connections) is the host's.
 * The offloads are the one thing a fresh backend does not know: net_activate() told the old
 * one when the driver set DRIVER_OK, and the restored driver will not set it again.
 */
#define NET_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)

int virtio_net_save(struct virtio_device *d, struct snap_buf *out)
{
	const struct virtio_net *n = d->priv;

	snap_put_u32(out, n->offloads);
	return 0;
}

int virtio_net_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version, bool apply)
{
	struct virtio_net *n = d->priv;
	uint32_t off;

	(void)version; /* only version 1 exists */
	off = snap_get_u32(in);
	if (in->error || (off & ~NET_OFFLOADS))
		return -EINVAL;
	if (off && !n->be->offloads)
		return virtio_state_refuse(d, "this network backend passes no offloads");
	if (apply) {
		n->offloads = off;
		n->be->set_offload(n->be, off);
	}
	return 0;
}
