/* virtio-rng: entropy for the guest from the host's getrandom(). */
#ifndef VMON_VIRTIO_RNG_H
#define VMON_VIRTIO_RNG_H

#include "devices/virtio/virtio.h"

extern const struct virtio_device_ops virtio_rng_ops;

#endif
