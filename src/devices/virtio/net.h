/* virtio-net on a TAP device, with the vnet header and checksum/TSO offloads passed through. */
#ifndef VMON_VIRTIO_NET_H
#define VMON_VIRTIO_NET_H

#include "devices/virtio/virtio.h"
#include "vmm/eventloop.h"

struct virtio_net {
	struct virtio_device *dev;
	struct eventloop *loop;
	int tap_fd;
	char ifname[16];
	uint8_t mac[6];
	bool rx_paused;  /* no receive buffers: TAP not polled until the guest adds some */
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_dropped;
};

extern const struct virtio_device_ops virtio_net_ops;

/* Open (or create) TAP device `name`. 0, or -errno with a sentence in err. */
int virtio_net_open_tap(struct virtio_net *n, const char *name, char *err, size_t errlen) __must_check;
/* Start polling the TAP device on the I/O thread. */
int virtio_net_attach(struct virtio_net *n, struct virtio_device *dev, struct eventloop *loop) __must_check;
void virtio_net_close(struct virtio_net *n);

#endif
