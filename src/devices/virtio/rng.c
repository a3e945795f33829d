/* virtio-rng: fill each device-writable chain with getrandom() bytes. */
#include "devices/virtio/rng.h"

#include <errno.h>
#include <sys/random.h>

/* Per request at most this much: a greedy guest cannot make vmon spin in getrandom(). */
#define RNG_MAX_REQUEST 65536

static void rng_notify(struct virtio_device *d, int qi)
{
	struct virtio_rng *rng = d->priv;
	struct virtq *q = &d->vq[qi];
	struct virtq_chain c;
	uint8_t buf[4096];
	int ret;

	while ((ret = virtq_pop(q, &c)) == 0) {
		size_t want = MIN((size_t)c.in_len, (size_t)RNG_MAX_REQUEST), done = 0;

		if (!throttle_allow(&rng->throttle, want)) {
			virtq_unpop(q); /* the throttle's timer comes back for it */
			break;
		}
		while (done < want) {
			ssize_t n = getrandom(buf, MIN(sizeof(buf), want - done), 0);
			if (n <= 0)
				break;
			done += virtq_chain_write(q, &c, done, buf, (size_t)n);
		}
		d->stats.requests++;
		d->stats.bytes_to_guest += done;
		if (virtq_push(q, c.head, (uint32_t)done))
			break;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	virtio_notify_used(d, qi);
}

static void rng_resume(void *opaque)
{
	struct virtio_device *d = opaque;

	if (virtio_device_live(d))
		rng_notify(d, 0);
}

int virtio_rng_init(struct virtio_rng *rng, struct virtio_device *d, struct eventloop *loop,
		    const struct rate_limiter_spec *rl)
{
	int ret = throttle_init(&rng->throttle, loop, &d->lock, rng_resume, d);

	if (!ret)
		throttle_set(&rng->throttle, rl);
	return ret;
}

static void rng_destroy(struct virtio_device *d)
{
	struct virtio_rng *r = d->priv;

	throttle_close(&r->throttle);
}

const struct virtio_device_ops virtio_rng_ops = {
	.destroy = rng_destroy,
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.nr_queues = 1,
	.queue_max = 256,
	.queue_notify = rng_notify,
};
