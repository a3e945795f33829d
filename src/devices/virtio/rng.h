/* virtio-rng: entropy for the guest from the host's getrandom(), optionally rate-limited. */
#ifndef VMON_VIRTIO_RNG_H
#define VMON_VIRTIO_RNG_H

#include "devices/virtio/throttle.h"
#include "devices/virtio/virtio.h"

struct virtio_rng {
	struct throttle throttle;
};

extern const struct virtio_device_ops virtio_rng_ops;

/* The device's state behind d (d->priv = rng) and its limiter (NULL: none). */
int virtio_rng_init(struct virtio_rng *rng, struct virtio_device *d, struct eventloop *loop,
		    const struct rate_limiter_spec *rl) __must_check;

#endif
