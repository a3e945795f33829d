/*
 * The self-announcement after a migration, as QEMU's announce: a RARP request from the
 * guest's MAC to the broadcast address, so switches and bridges learn the guest's new port.
 * The VMM does not know the guest's IP addresses; RARP needs none. Pure code.
 */
#ifndef VMON_NET_ANNOUNCE_H
#define VMON_NET_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>

#define NET_ANNOUNCE_FRAME_LEN 60 /* the Ethernet minimum, without the FCS */
#define NET_ANNOUNCE_ROUNDS 5
#define NET_ANNOUNCE_INITIAL_MS 50
#define NET_ANNOUNCE_STEP_MS 100 /* each round waits this much longer than the last */

/* Write the frame (NET_ANNOUNCE_FRAME_LEN bytes) for `mac` into buf. */
void net_announce_frame(uint8_t buf[NET_ANNOUNCE_FRAME_LEN], const uint8_t mac[6]);

/* Milliseconds to wait before round `round` (0-based). */
unsigned net_announce_delay_ms(unsigned round);

#endif
