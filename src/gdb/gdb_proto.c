/* GDB remote protocol framing: the byte-stream receiver, the reply encoder, hex. */
#include "gdb/gdb_proto.h"

#include <errno.h>
#include <string.h>

void gdb_rx_init(struct gdb_rx *rx)
{
	rx->state = RX_IDLE;
	rx->len = 0;
	rx->buf[0] = 0;
}

static void rx_put(struct gdb_rx *rx, char c)
{
	if (rx->len < GDB_PACKET_MAX)
		rx->buf[rx->len++] = c;
	else
		rx->oversize = true; /* keep reading to the '#': the stream stays in step */
}

/* One byte of a run length: "X*n" stands for X followed by n - 29 more of it. */
static void rx_run(struct gdb_rx *rx, uint8_t c)
{
	if (c < 29 || c > 126 || (rx->len == 0 && !rx->oversize)) {
		rx->broken = true;
		return;
	}
	char prev = rx->len ? rx->buf[rx->len - 1] : 0;
	for (int i = 0; i < c - 29 && !rx->oversize; i++)
		rx_put(rx, prev);
}

static enum gdb_event rx_end(struct gdb_rx *rx)
{
	rx->state = RX_IDLE;
	rx->buf[rx->len] = 0;
	if (rx->bad_digit || rx->want != rx->sum)
		return GDB_EV_BAD_PACKET;
	return rx->oversize || rx->broken ? GDB_EV_MALFORMED : GDB_EV_PACKET;
}

static enum gdb_event rx_byte(struct gdb_rx *rx, uint8_t c)
{
	int d;

	/* '$' always starts a packet, as in gdb's own reader, except as a checksum digit. */
	if (c == '$' && rx->state != RX_SUM1 && rx->state != RX_SUM2) {
		rx->state = RX_DATA;
		rx->sum = 0;
		rx->len = 0;
		rx->oversize = rx->broken = rx->bad_digit = false;
		return GDB_EV_NONE;
	}
	switch (rx->state) {
	case RX_IDLE:
		if (c == 0x03)
			return GDB_EV_INTERRUPT;
		if (c == '+')
			return GDB_EV_ACK;
		return c == '-' ? GDB_EV_NAK : GDB_EV_NONE; /* noise between packets */
	case RX_DATA:
		if (c == '#') {
			rx->state = RX_SUM1;
			return GDB_EV_NONE;
		}
		rx->sum += c;
		if (c == '}')
			rx->state = RX_ESCAPE;
		else if (c == '*')
			rx->state = RX_RUN;
		else
			rx_put(rx, (char)c);
		return GDB_EV_NONE;
	case RX_ESCAPE:
		rx->sum += c;
		rx_put(rx, (char)(c ^ 0x20));
		rx->state = RX_DATA;
		return GDB_EV_NONE;
	case RX_RUN:
		rx->sum += c;
		rx_run(rx, c);
		rx->state = RX_DATA;
		return GDB_EV_NONE;
	case RX_SUM1:
	case RX_SUM2:
		d = gdb_hex_digit(c);
		rx->bad_digit |= d < 0;
		rx->want = (uint8_t)(rx->want << 4 | (d & 15));
		if (rx->state == RX_SUM1) {
			rx->state = RX_SUM2;
			return GDB_EV_NONE;
		}
		return rx_end(rx);
	}
	return GDB_EV_NONE;
}

size_t gdb_rx_feed(struct gdb_rx *rx, const uint8_t *data, size_t len, enum gdb_event *ev)
{
	for (size_t i = 0; i < len; i++) {
		*ev = rx_byte(rx, data[i]);
		if (*ev != GDB_EV_NONE)
			return i + 1;
	}
	*ev = GDB_EV_NONE;
	return len;
}

int gdb_out_byte(struct gdb_out *o, char c)
{
	if (!gdb_out_room(o))
		return -ENOSPC;
	o->data[o->len++] = (uint8_t)c;
	return 0;
}

static bool needs_escape(uint8_t c)
{
	return c == '$' || c == '#' || c == '}' || c == '*';
}

int gdb_out_packet(struct gdb_out *o, const void *payload, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = payload;
	size_t need = len + 4;
	uint8_t sum = 0;

	if (len > GDB_PACKET_MAX)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++)
		need += needs_escape(p[i]);
	if (need > gdb_out_room(o))
		return -ENOSPC;
	uint8_t *w = o->data + o->len;
	*w++ = '$';
	for (size_t i = 0; i < len; i++) {
		if (needs_escape(p[i])) {
			*w++ = '}';
			sum += '}';
			*w++ = p[i] ^ 0x20;
			sum += p[i] ^ 0x20;
		} else {
			*w++ = p[i];
			sum += p[i];
		}
	}
	*w++ = '#';
	*w++ = digits[sum >> 4];
	*w++ = digits[sum & 15];
	o->len += need;
	return 0;
}

void gdb_out_consume(struct gdb_out *o, size_t n)
{
	if (n >= o->len) {
		o->len = 0;
		return;
	}
	memmove(o->data, o->data + n, o->len - n);
	o->len -= n;
}

int gdb_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t gdb_hex_encode(char *dst, const void *src, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *s = src;

	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = digits[s[i] >> 4];
		dst[2 * i + 1] = digits[s[i] & 15];
	}
	return 2 * n;
}

int gdb_hex_decode(void *dst, const char *src, size_t n)
{
	uint8_t *d = dst;

	for (size_t i = 0; i < n; i++) {
		int hi = gdb_hex_digit(src[2 * i]), lo = gdb_hex_digit(src[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		d[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int gdb_hex_u64(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int d, n = 0;

	while (s < end && (d = gdb_hex_digit(*s)) >= 0) {
		if (++n > 16)
			return -EINVAL;
		x = x << 4 | (uint64_t)d;
		s++;
	}
	if (!n)
		return -EINVAL;
	*p = s;
	*v = x;
	return 0;
}
