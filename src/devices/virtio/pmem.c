/* virtio-pmem: the config space (start, size) and the flush queue. */
#include "devices/virtio/pmem.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

uint32_t pmem_request(struct virtio_pmem *p, const uint8_t *req, size_t len)
{
	uint32_t type;

	if (len < sizeof(type))
		return 1;
	memcpy(&type, req, sizeof(type));
	if (le32toh(type) != VIRTIO_PMEM_REQ_TYPE_FLUSH || p->read_only)
		return 1;
	if (p->sync(p))
		return 1;
	p->flushes++;
	return 0;
}

int pmem_layout(uint64_t ram_top, uint64_t limit, const uint64_t *sizes, int n,
		uint64_t *starts)
{
	const uint64_t gib = 1ULL << 30;
	uint64_t at = ram_top < 4 * gib ? 4 * gib : ram_top;

	if (at > UINT64_MAX - gib)
		return -EINVAL;
	at = (at + gib - 1) & ~(gib - 1);
	for (int i = 0; i < n; i++) {
		if (!sizes[i] || sizes[i] % PMEM_ALIGN || sizes[i] > limit || at > limit - sizes[i])
			return -EINVAL;
		starts[i] = at;
		at += sizes[i];
	}
	return 0;
}

static int pmem_fsync(struct virtio_pmem *p)
{
	return fsync(p->fd) ? -errno : 0;
}

void virtio_pmem_init(struct virtio_pmem *p, struct virtio_device *d, int fd, void *host,
		      uint64_t start, uint64_t size, bool read_only)
{
	p->fd = fd;
	p->host = host;
	p->start = start;
	p->size = size;
	p->read_only = read_only;
	p->flushes = 0;
	p->sync = pmem_fsync;
	d->priv = p;
}

static void pmem_config_read(struct virtio_device *d, uint32_t off, void *data, uint32_t len)
{
	const struct virtio_pmem *p = d->priv;
	uint64_t cfg[2] = { htole64(p->start), htole64(p->size) };

	/* the transport keeps off + len within config_size */
	memcpy(data, (const uint8_t *)cfg + off, len);
}

static void pmem_notify(struct virtio_device *d, int qi)
{
	struct virtio_pmem *p = d->priv;
	struct virtq *q = &d->vq[qi];
	struct virtq_chain c;
	uint8_t req[4];
	int ret;

	while ((ret = virtq_pop(q, &c)) == 0) {
		size_t n = virtq_chain_read(q, &c, 0, req, sizeof(req));
		uint32_t status = htole32(pmem_request(p, req, n));

		if (c.in_len < sizeof(status)) {
			virtio_device_fail(d, "pmem request without room for its status");
			return;
		}
		if (status)
			d->stats.errors++;
		d->stats.requests++;
		if (virtq_chain_write(q, &c, 0, &status, sizeof(status)) != sizeof(status) ||
		    virtq_push(q, c.head, sizeof(status)))
			break;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	virtio_notify_used(d, qi);
}

static void pmem_destroy(struct virtio_device *d)
{
	struct virtio_pmem *p = d->priv;

	if (p->host)
		munmap(p->host, p->size);
	if (p->fd >= 0)
		close(p->fd);
	p->host = NULL;
	p->fd = -1;
}

const struct virtio_device_ops virtio_pmem_ops = {
	.name = "virtio-pmem",
	.device_id = VIRTIO_ID_PMEM,
	.nr_queues = 1,
	.queue_max = 256,
	.config_size = 16,
	.config_read = pmem_config_read,
	.queue_notify = pmem_notify,
	.destroy = pmem_destroy,
	.state_version = VIRTIO_PMEM_STATE_VERSION,
	.save = virtio_pmem_save,
	.restore = virtio_pmem_restore,
};
