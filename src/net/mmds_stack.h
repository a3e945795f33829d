/*
 * The MMDS network path. Frames the guest sends to the MMDS address (ARP for it, IPv4 to
 * it) are taken out of virtio-net's transmit path by mmds_frame_match() and go to a private
 * libslirp instance instead of the interface's backend, whatever that is (TAP or user-mode);
 * its frames are injected into the guest's receive queue. That libslirp is restricted (no
 * way out to the host) and forwards TCP port 80 of the MMDS address (slirp_add_unix) to a
 * Unix socket that an in-process HTTP thread serves from the VMM's data store.
 */
#ifndef VMON_NET_MMDS_STACK_H
#define VMON_NET_MMDS_STACK_H

#include <pthread.h>
#include "mmds/mmds.h"
#include "net/backend.h"

/* The VMM's MMDS: the data store, tokens and settings, and the lock every user takes. */
struct mmds_shared {
	pthread_mutex_t lock;
	struct mmds m;
};

struct mmds_shared *mmds_shared_new(size_t limit, const char *instance_id);
void mmds_shared_free(struct mmds_shared *s);
/* Firecracker's --metadata: the JSON file as the whole document. 0 or -1 with err set. */
int mmds_shared_load(struct mmds_shared *s, const char *path, char *err, size_t errlen) __must_check;

/*
 * The frame (Ethernet, no vnet header) is ARP asking for ipv4 or an IPv4 packet to ipv4
 * (host order). Pure; any bytes.
 */
bool mmds_frame_match(const uint8_t *frame, size_t len, uint32_t ipv4);

/*
 * A diverted frame with its vnet header, linear: complete the checksum the guest left to
 * the host (VIRTIO_NET_HDR_F_NEEDS_CSUM, with offloads on a TAP interface) and clear the
 * flag. 0, or -1 for a frame to drop (GSO, or csum_start/offset outside it). Pure.
 */
int mmds_frame_finish(uint8_t *hdr_frame, size_t len);

/*
 * A backend answering as the MMDS at ipv4 (host order): send() takes the diverted frames
 * (vnet header first), recv() gives its replies, rx_fd signals them. NULL and err on failure.
 */
struct net_backend *mmds_stack_open(struct mmds_shared *s, uint32_t ipv4, char *err, size_t errlen);

#endif
