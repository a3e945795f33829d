/* RARP self-announcement frames (net/announce.h). */
#include "net/announce.h"

#include <string.h>

#define ETH_P_RARP 0x8035
#define ARPOP_RREQUEST 3

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void net_announce_frame(uint8_t buf[NET_ANNOUNCE_FRAME_LEN], const uint8_t mac[6])
{
	uint8_t *arp = buf + 14;

	memset(buf, 0, NET_ANNOUNCE_FRAME_LEN);
	memset(buf, 0xff, 6);          /* to everyone */
	memcpy(buf + 6, mac, 6);       /* from the guest */
	put_be16(buf + 12, ETH_P_RARP);
	put_be16(arp, 1);              /* hardware: Ethernet */
	put_be16(arp + 2, 0x0800);     /* protocol: IPv4 */
	arp[4] = 6;
	arp[5] = 4;
	put_be16(arp + 6, ARPOP_RREQUEST);
	memcpy(arp + 8, mac, 6);       /* sender hardware address; sender IP 0 */
	memcpy(arp + 18, mac, 6);      /* target hardware address; target IP 0 */
}

unsigned net_announce_delay_ms(unsigned round)
{
	return NET_ANNOUNCE_INITIAL_MS + round * NET_ANNOUNCE_STEP_MS;
}
