/*
 * The GDB Remote Serial Protocol's framing, pure: an incremental receiver that turns any
 * split of a byte stream into events ($packet#xx, Ctrl-C, acks), the reply encoder, and
 * the hex helpers. The peer is hostile: every length and every digit is checked.
 */
#ifndef VMON_GDB_PROTO_H
#define VMON_GDB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

/* Largest packet payload taken in (after escapes and run lengths) or sent (before escapes). */
#define GDB_PACKET_MAX 16384
/* A framed reply at its worst: '$', every payload byte escaped, '#', two checksum digits. */
#define GDB_FRAME_MAX (2 * GDB_PACKET_MAX + 4)

enum gdb_event {
	GDB_EV_NONE,        /* the bytes given were consumed without completing anything */
	GDB_EV_PACKET,      /* a packet with a good checksum: rx->buf, rx->len */
	GDB_EV_BAD_PACKET,  /* a bad checksum: the peer is owed a '-' and will resend */
	GDB_EV_MALFORMED,   /* a good checksum but over GDB_PACKET_MAX, or a run length with
			       nothing to repeat: dropped, resending would not help */
	GDB_EV_INTERRUPT,   /* 0x03 between packets: Ctrl-C */
	GDB_EV_ACK,         /* '+' */
	GDB_EV_NAK,         /* '-': the peer asks for our last packet again */
};

struct gdb_rx {
	enum { RX_IDLE, RX_DATA, RX_ESCAPE, RX_RUN, RX_SUM1, RX_SUM2 } state;
	uint8_t sum;            /* running checksum of the raw bytes between '$' and '#' */
	uint8_t want;           /* the checksum the peer sent */
	bool oversize, broken, bad_digit;
	size_t len;
	char buf[GDB_PACKET_MAX + 1]; /* the decoded payload, NUL-terminated (may hold NULs) */
};

void gdb_rx_init(struct gdb_rx *rx);

/*
 * Consume bytes until one event completes or the input runs out; returns how many were
 * consumed (all of them with GDB_EV_NONE). A GDB_EV_PACKET's payload is valid until the
 * next call. A '$' inside a packet starts a new one: the peer resynchronises that way.
 */
size_t gdb_rx_feed(struct gdb_rx *rx, const uint8_t *data, size_t len, enum gdb_event *ev);

/* What a stub sends; the caller drains `data` (gdb_out_consume() after a partial write). */
#define GDB_OUT_SIZE (2 * GDB_FRAME_MAX + 512)

struct gdb_out {
	size_t len;
	uint8_t data[GDB_OUT_SIZE];
};

static inline size_t gdb_out_room(const struct gdb_out *o)
{
	return GDB_OUT_SIZE - o->len;
}

/* Append one raw byte ('+', '-'). -ENOSPC if full. */
int gdb_out_byte(struct gdb_out *o, char c) __must_check;

/*
 * Frame `payload` ($, escaped payload, #, checksum) and append it whole, or append nothing
 * and return -ENOSPC (also for a payload over GDB_PACKET_MAX). '$', '#', '}' and '*' are
 * escaped; replies are never run-length encoded.
 */
int gdb_out_packet(struct gdb_out *o, const void *payload, size_t len) __must_check;

/* Drop the first n bytes (sent), keeping the rest in order. */
void gdb_out_consume(struct gdb_out *o, size_t n);

/* A hex digit's value, or -1. */
int gdb_hex_digit(int c);

/* Write 2 * n lower-case hex digits for n bytes (no NUL); returns 2 * n. */
size_t gdb_hex_encode(char *dst, const void *src, size_t n);

/* Decode exactly 2 * n hex digits into n bytes. 0, or -EINVAL on a non-hex digit. */
int gdb_hex_decode(void *dst, const char *src, size_t n) __must_check;

/*
 * Parse a hex number of 1 to 16 digits at *p (not past end) and advance *p past it.
 * 0, or -EINVAL (no digit, or more than 64 bits).
 */
int gdb_hex_u64(const char **p, const char *end, uint64_t *v) __must_check;

#endif
