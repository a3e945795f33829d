/*
 * The live-migration stream: frames, their messages, an encoder and an incremental,
 * bounds-checked parser with the protocol's order rules. Pure code: no sockets, no threads;
 * the migration engine moves the bytes.
 *
 * Frame, every integer little-endian:
 *   u32 magic "VMIG" (0x47494d56), u16 type, u16 flags, u32 payload length (at most
 *   MIG_MAX_PAYLOAD), u32 CRC-32 (zlib) of the payload, payload
 * Flags are 0, except MIG_STATE_MORE on a STATE frame.
 *
 * Payloads:
 *   HELLO   u32 protocol version (MIG_PROTOCOL_VERSION), u64 guest RAM size (a non-zero
 *           multiple of MIG_PAGE_SIZE), u32 flags (MIG_HELLO_*), then the source's VM
 *           configuration section: the rest of the payload, opaque
 *   ACCEPT  empty
 *   REFUSE  UTF-8 text, 1..MIG_MAX_TEXT bytes, no NUL (also ERROR)
 *   RAM     u64 offset of the first page in RAM file order (a multiple of MIG_PAGE_SIZE),
 *           u32 page count n (1..MIG_MAX_PAGES), a bitmap of ceil(n/8) bytes (bit i of
 *           byte i/8 set: page i is all zeros and has no data; unused high bits 0), then
 *           MIG_PAGE_SIZE bytes for each page whose bit is clear, in order.
 *           offset + n * MIG_PAGE_SIZE must not pass the RAM size from HELLO.
 *   STATE   a piece of the device state file, opaque; MIG_STATE_MORE set on every piece
 *           but the last; the pieces together at most MIG_MAX_STATE bytes
 *   DONE    u64 pages sent in all RAM frames (zero pages included), u32 pre-copy passes
 *   ACK     empty: the guest runs on the destination
 *   ERROR   as REFUSE; either side, at any time, ends the migration
 *
 * Local migration (MIG_HELLO_LOCAL_MEMFD, Unix sockets only): the memfd holding guest RAM
 * travels with HELLO's bytes as SCM_RIGHTS ancillary data; no RAM frame may follow, and
 * DONE counts 0 pages.
 *
 * Order. What the source sends: HELLO, RAM*, STATE+ (the last without MORE), DONE.
 * What the destination sends: ACCEPT or REFUSE, and after ACCEPT: ACK. ERROR may replace
 * any message. Each parser reads one direction and knows which one (enum mig_side).
 */
#ifndef VMON_MIGRATION_STREAM_H
#define VMON_MIGRATION_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "snapshot/format.h"
#include "util/util.h"

#define MIG_MAGIC 0x47494d56u /* "VMIG" as a little-endian u32 */
#define MIG_PROTOCOL_VERSION 1
#define MIG_HEADER_SIZE 16
#define MIG_MAX_PAYLOAD (4 * MiB + 64 * KiB)
#define MIG_PAGE_SIZE 4096
#define MIG_MAX_PAGES 1024
#define MIG_MAX_TEXT 1024
#define MIG_MAX_STATE (64 * MiB)
#define MIG_HELLO_SIZE 16 /* HELLO's fixed part, before the configuration */
#define MIG_RAM_HEADER_SIZE 12
#define MIG_DONE_SIZE 12

#define MIG_HELLO_LOCAL_MEMFD (1u << 0) /* HELLO flags: guest RAM travels as a memfd */
#define MIG_STATE_MORE (1u << 0)        /* STATE frame flags: another piece follows */

enum mig_type {
	MIG_HELLO = 1,
	MIG_ACCEPT = 2,
	MIG_REFUSE = 3,
	MIG_RAM = 4,
	MIG_STATE = 5,
	MIG_DONE = 6,
	MIG_ACK = 7,
	MIG_ERROR = 8,
};

/* A decoded message. Pointers lead into the parser's buffer (or the decoded payload). */
struct mig_msg {
	enum mig_type type;
	uint16_t flags; /* the frame's flags */
	union {
		struct {
			uint32_t version;
			uint64_t ram_size;
			uint32_t flags;
			const uint8_t *config;
			size_t config_len;
		} hello;
		struct {
			const char *text; /* not NUL-terminated: print with "%.*s" */
			size_t len;
		} text; /* REFUSE, ERROR */
		struct {
			uint64_t offset;
			uint32_t nr_pages;
			const uint8_t *zero_bitmap;
			const uint8_t *data; /* the non-zero pages, back to back */
		} ram;
		struct {
			const uint8_t *data;
			size_t len;
			bool more;
		} state;
		struct {
			uint64_t pages;
			uint32_t passes;
		} done;
	};
};

/* "HELLO", ..., or "unknown" for a type outside the protocol. */
const char *mig_type_name(uint32_t type);

/* ---- encoder ------------------------------------------------------------------------- */

/*
 * Each appends one frame to out (reuse it: set out->len = 0). Refuses with -EINVAL what the
 * parser would refuse (a text too long or not UTF-8, a page count out of range, ...);
 * -ENOMEM if out could not grow (out is then failed, see snap_buf_error()).
 */
int mig_put_hello(struct snap_buf *out, uint64_t ram_size, uint32_t flags, const void *config,
		  size_t config_len) __must_check;
int mig_put_accept(struct snap_buf *out) __must_check;
int mig_put_refuse(struct snap_buf *out, const char *text) __must_check;
int mig_put_error(struct snap_buf *out, const char *text) __must_check;
/*
 * n pages (1..MIG_MAX_PAGES) read from `pages`, the first at `offset` in guest RAM order.
 * All-zero pages become a bit in the bitmap and no data; pages NULL: all n are known zero
 * (a hole in the RAM file), nothing is read.
 */
int mig_put_ram(struct snap_buf *out, uint64_t offset, const void *pages,
		uint32_t n) __must_check;
/* One STATE frame (len <= MIG_MAX_PAYLOAD). */
int mig_put_state(struct snap_buf *out, const void *data, size_t len, bool more) __must_check;
/* The whole device state file (len <= MIG_MAX_STATE), split into STATE frames. */
int mig_put_state_all(struct snap_buf *out, const void *data, size_t len) __must_check;
int mig_put_done(struct snap_buf *out, uint64_t pages, uint32_t passes) __must_check;
int mig_put_ack(struct snap_buf *out) __must_check;

/* True if the n bytes (a multiple of 8) are all zero. */
bool mig_page_is_zero(const void *page, size_t n);

/* ---- decoder ------------------------------------------------------------------------- */

/*
 * Decode one frame's payload whose header has been checked (magic, a known type, flags,
 * length, CRC). ram_size bounds RAM offsets (0 before a HELLO: every RAM frame is refused).
 * 0, or -EINVAL and one sentence in err. Never reads outside payload[0, len).
 */
int mig_decode(struct mig_msg *m, uint16_t type, uint16_t flags, const uint8_t *payload,
	       size_t len, uint64_t ram_size, char *err, size_t errlen) __must_check;

/* The pages of a decoded RAM message, in order. */
struct mig_ram_iter {
	const struct mig_msg *m;
	uint32_t i;
	const uint8_t *data;
};

void mig_ram_iter_init(struct mig_ram_iter *it, const struct mig_msg *m);
/* The next page: its offset, and its bytes or NULL for an all-zero page. False at the end. */
bool mig_ram_next(struct mig_ram_iter *it, uint64_t *offset, const uint8_t **page);

/* ---- order ----------------------------------------------------------------------------- */

enum mig_side {
	MIG_AT_DESTINATION, /* the parser reads what the source sends */
	MIG_AT_SOURCE,      /* the parser reads the destination's replies */
};

enum mig_phase {
	MIG_WANT_HELLO,      /* destination: nothing read yet */
	MIG_WANT_RAM,        /* RAM or the first STATE */
	MIG_WANT_STATE_MORE, /* a STATE with MORE was read: only STATE */
	MIG_WANT_DONE,       /* the last STATE was read */
	MIG_WANT_REPLY,      /* source: ACCEPT or REFUSE */
	MIG_WANT_ACK,        /* source: accepted, waiting for ACK */
	MIG_FINISHED,        /* DONE, REFUSE, ACK or ERROR read: nothing may follow */
};

enum mig_phase mig_first_phase(enum mig_side side);
/* Whether a frame of this type (and flags) may come now. */
bool mig_legal(enum mig_phase phase, uint32_t type);
/* The phase after a legal message m. */
enum mig_phase mig_next_phase(enum mig_phase phase, const struct mig_msg *m);

/* ---- parser ---------------------------------------------------------------------------- */

/*
 * Takes the bytes of one direction in chunks of any size. Its buffer grows to a frame's
 * length only after that length has been checked against MIG_MAX_PAYLOAD and the order.
 */
struct mig_parser {
	enum mig_phase phase;
	uint64_t ram_size;    /* from HELLO */
	uint64_t pages;       /* in RAM frames so far */
	uint64_t state_len;   /* STATE bytes so far */
	uint8_t *buf;         /* the frame being read: header, then payload */
	size_t cap;
	size_t have;          /* bytes of it read */
	size_t need;          /* its whole size, once the header is in (else the header's) */
	bool header_ok;       /* the header is in and was checked */
	bool failed;
	bool local;           /* HELLO had MIG_HELLO_LOCAL_MEMFD: no RAM frames may follow */
};

void mig_parser_init(struct mig_parser *p, enum mig_side side);
void mig_parser_free(struct mig_parser *p);

/*
 * Read from buf[0, len) up to the end of one frame; *used says how many bytes were taken.
 *   1        a message: *m is valid until the next call
 *   0        all len bytes were taken and no frame is complete yet ("need more")
 *   -EINVAL  the stream is refused (one sentence in err); so is every later call
 *   -ENOMEM  the frame's buffer could not be allocated
 * Call again with the bytes after *used until it returns 0.
 */
int mig_parser_feed(struct mig_parser *p, const void *buf, size_t len, size_t *used,
		    struct mig_msg *m, char *err, size_t errlen) __must_check;

/*
 * At the end of the stream: 0 if it ended after a whole frame and in MIG_FINISHED;
 * -EINVAL with one sentence if it ended inside a frame or before the protocol's end.
 */
int mig_parser_finish(const struct mig_parser *p, char *err, size_t errlen) __must_check;

#endif
