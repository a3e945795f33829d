/* virtio-console save/restore: the console input still waiting for the guest's receive buffers. */
#include "devices/virtio/console.h"

#include <errno.h>
#include <string.h>

#include "snapshot/format.h"

/*
 * Version 1: u32 count, then the count bytes of input not yet delivered, oldest first.
 * The transmit side keeps nothing: each chain goes to the backend as soon as it is popped.
 */

int virtio_console_save(struct virtio_device *d, struct snap_buf *out)
{
	const struct virtio_console *con = d->priv;

	snap_put_u32(out, (uint32_t)con->nr_pending);
	snap_put_bytes(out, con->pending, con->nr_pending);
	return 0;
}

int virtio_console_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version,
			   bool apply)
{
	struct virtio_console *con = d->priv;
	uint8_t bytes[VIRTIO_CONSOLE_PENDING];
	uint32_t n;

	(void)version; /* only version 1 exists */
	n = snap_get_u32(in);
	if (n > VIRTIO_CONSOLE_PENDING)
		return -EINVAL;
	snap_get_bytes(in, bytes, n);
	if (in->error)
		return -EINVAL;
	/*
	 * Only the bytes: they reach the guest when it next offers a receive buffer (its
	 * notification), or with the kick each ready queue gets after a restore.
	 */
	if (apply) {
		memcpy(con->pending, bytes, n);
		con->nr_pending = n;
	}
	return 0;
}
