/* virtio-vsock save/restore: the guest CID only; connections are the host's and stay behind. */
#include "devices/virtio/vsock.h"

#include <errno.h>

#include "snapshot/format.h"

/*
 * Version 1: u64 guest_cid, checked against the configured device's. As in Firecracker the
 * connections are not saved: the restored device owes the guest a transport reset event,
 * sent on the event queue at the first kick after the restore, and the guest drops them.
 */

int virtio_vsock_save(struct virtio_device *d, struct snap_buf *out)
{
	const struct virtio_vsock *v = d->priv;

	snap_put_u64(out, v->guest_cid);
	return 0;
}

int virtio_vsock_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version, bool apply)
{
	struct virtio_vsock *v = d->priv;
	uint64_t cid;

	(void)version; /* only version 1 exists */
	cid = snap_get_u64(in);
	if (in->error || cid != v->guest_cid)
		return -EINVAL;
	if (apply)
		v->reset_pending = true;
	return 0;
}
