/* virtio-rng: fill each device-writable chain with getrandom() bytes. */
#include "devices/virtio/rng.h"

#include <errno.h>
#include <sys/random.h>

/* Per request at most this much: a greedy guest cannot make vmon spin in getrandom(). */
#define RNG_MAX_REQUEST 65536

static void rng_notify(struct virtio_device *d, int qi)
{
	struct virtq *q = &d->vq[qi];
	struct virtq_chain c;
	uint8_t buf[4096];
	int ret;

	while ((ret = virtq_pop(q, &c)) == 0) {
		size_t want = MIN((size_t)c.in_len, (size_t)RNG_MAX_REQUEST), done = 0;

		while (done < want) {
			ssize_t n = getrandom(buf, MIN(sizeof(buf), want - done), 0);
			if (n <= 0)
				break;
			done += virtq_chain_write(q, &c, done, buf, (size_t)n);
		}
		if (virtq_push(q, c.head, (uint32_t)done))
			break;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	virtio_notify_used(d, qi);
}

const struct virtio_device_ops virtio_rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.nr_queues = 1,
	.queue_max = 256,
	.queue_notify = rng_notify,
};
