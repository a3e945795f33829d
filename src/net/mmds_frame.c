/* Which guest frames are MMDS's, and the checksum a diverted frame left to the host. Pure. */
#include "net/mmds_stack.h"

#include <string.h>

bool mmds_frame_match(const uint8_t *f, size_t len, uint32_t ipv4)
{
	uint8_t ip[4] = { (uint8_t)(ipv4 >> 24), (uint8_t)(ipv4 >> 16), (uint8_t)(ipv4 >> 8),
			  (uint8_t)ipv4 };
	uint16_t type;

	if (len < 14)
		return false;
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == 0x0806) /* ARP for IPv4 over Ethernet: its target protocol address */
		return len >= 14 + 28 && f[14] == 0 && f[15] == 1 && f[16] == 8 && f[17] == 0 &&
		       f[18] == 6 && f[19] == 4 && !memcmp(f + 14 + 24, ip, 4);
	if (type == 0x0800) /* IPv4 (version 4, a whole header): its destination */
		return len >= 14 + 20 && f[14] >> 4 == 4 && (f[14] & 15) >= 5 && !memcmp(f + 14 + 16, ip, 4);
	return false;
}

/*
 * struct virtio_net_hdr_v1: flags (NEEDS_CSUM 1), gso_type, hdr_len, gso_size, csum_start,
 * csum_offset (little-endian). With NEEDS_CSUM the guest left the sum over csum_start..end
 * (seeded with the pseudo-header) for the host to fold in at csum_start + csum_offset.
 */
int mmds_frame_finish(uint8_t *hdr_frame, size_t len)
{
	uint8_t *h = hdr_frame;
	uint32_t sum = 0;

	if (len < NET_VNET_HDR_LEN)
		return -1;
	size_t start = (size_t)(h[6] | h[7] << 8), off = (size_t)(h[8] | h[9] << 8);
	if (h[1] != 0) /* GSO: a segment train the MMDS stack has no use for */
		return -1;
	if (!(h[0] & 1))
		return 0;
	uint8_t *f = hdr_frame + NET_VNET_HDR_LEN;
	size_t flen = len - NET_VNET_HDR_LEN;
	if (start >= flen || off + 2 > flen - start)
		return -1;
	for (size_t i = start; i < flen; i += 2)
		sum += (uint32_t)(f[i] << 8 | (i + 1 < flen ? f[i + 1] : 0));
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	/* The field held the pseudo-header sum, which the loop has already added. */
	uint16_t c = (uint16_t)~sum;
	f[start + off] = (uint8_t)(c >> 8);
	f[start + off + 1] = (uint8_t)c;
	h[0] &= (uint8_t)~1;
	return 0;
}
