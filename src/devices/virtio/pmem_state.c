/* virtio-pmem save/restore: where the file is mapped, so a restore can check it is the same. */
#include "devices/virtio/pmem.h"

#include <errno.h>

#include "snapshot/format.h"

/*
 * Version 1: u64 start, u64 size, u8 read_only. The file's contents are the file's (a
 * snapshot keeps its path in the configuration); the restored VM maps it again from the
 * configuration, and this part only checks that it landed where the guest knows it.
 */

int virtio_pmem_save(struct virtio_device *d, struct snap_buf *out)
{
	const struct virtio_pmem *p = d->priv;

	snap_put_u64(out, p->start);
	snap_put_u64(out, p->size);
	snap_put_u8(out, p->read_only);
	return 0;
}

int virtio_pmem_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version,
			bool apply)
{
	const struct virtio_pmem *p = d->priv;
	uint64_t start, size;
	uint8_t ro;

	(void)version; /* only version 1 exists */
	(void)apply;   /* nothing to load: the builder already placed the file */
	start = snap_get_u64(in);
	size = snap_get_u64(in);
	ro = snap_get_u8(in);
	if (in->error || start != p->start || size != p->size || ro != p->read_only)
		return -EINVAL;
	return 0;
}
