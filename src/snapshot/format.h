/*
 * The snapshot state file: a byte writer and a bounds-checked reader for section payloads,
 * and the container that holds one section per saved object. Pure code: no threads, no
 * ioctls, so it is unit-tested and fuzzed on any machine.
 *
 * Guest RAM is not in this file (it goes to its own file, mapped back at restore); the
 * state file holds device and vCPU registers, so it is small and has a fixed size limit.
 *
 * Layout, every integer little-endian and fixed-width:
 *
 *   header   magic "VMONSNAP" (8 bytes), u16 major, u16 minor, u32 section count,
 *            u64 total length (the whole file, header included)
 *   section  u32 id length, id bytes (1..SNAP_ID_MAX printable ASCII, no NUL),
 *            u32 version, u64 payload length, u32 CRC32 (zlib) of the payload, payload
 *
 * A reader refuses a major version newer than its own; a newer minor version only adds
 * what an older reader may ignore. Section versions belong to whoever wrote the section.
 */
#ifndef VMON_SNAPSHOT_FORMAT_H
#define VMON_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

#define SNAP_MAGIC "VMONSNAP"
#define SNAP_MAGIC_LEN 8
#define SNAP_FORMAT_MAJOR 1
#define SNAP_FORMAT_MINOR 0
#define SNAP_HEADER_SIZE 24
#define SNAP_ID_MAX 31
#define SNAP_MAX_SECTIONS 256
#define SNAP_MAX_FILE (64 * MiB)

/* ---- writer -------------------------------------------------------------------------- */

/*
 * A growable byte buffer. The put functions cannot fail: the first allocation failure
 * is remembered, later puts are dropped, and snap_buf_error() reports it once at the end,
 * so a save function is a straight list of puts.
 */
struct snap_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;
};

void snap_buf_init(struct snap_buf *b);
/* Frees the bytes and leaves an empty buffer (init again to reuse it). */
void snap_buf_free(struct snap_buf *b);
/* 0, or -ENOMEM if any put since init was dropped. */
int snap_buf_error(const struct snap_buf *b) __must_check;

void snap_put_u8(struct snap_buf *b, uint8_t v);
void snap_put_u16(struct snap_buf *b, uint16_t v);
void snap_put_u32(struct snap_buf *b, uint32_t v);
void snap_put_u64(struct snap_buf *b, uint64_t v);
void snap_put_bytes(struct snap_buf *b, const void *p, size_t n);
/* A u32 length, then the bytes of s without its NUL. */
void snap_put_str(struct snap_buf *b, const char *s);

/* ---- reader -------------------------------------------------------------------------- */

/*
 * A cursor over bytes that may be hostile. No get ever reads past the end: an underflow
 * sets the sticky `error`, returns zeros (an empty string) and makes every later get do
 * the same, so a restore function reads everything, then validates, then checks once.
 */
struct snap_rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	bool error;
};

void snap_rd_init(struct snap_rd *r, const void *p, size_t len);

uint8_t snap_get_u8(struct snap_rd *r);
uint16_t snap_get_u16(struct snap_rd *r);
uint32_t snap_get_u32(struct snap_rd *r);
uint64_t snap_get_u64(struct snap_rd *r);
/* Copies n bytes into out, or zero-fills out and sets the error. */
void snap_get_bytes(struct snap_rd *r, void *out, size_t n);
/*
 * A string written by snap_put_str into out[size], NUL-terminated. A length that does not
 * fit (>= size) or runs past the end sets the error and leaves out empty.
 */
void snap_get_str(struct snap_rd *r, char *out, size_t size);
/* A u8 that must be 0 or 1 (anything else sets the error, returns false). */
bool snap_get_bool(struct snap_rd *r);

/* Bytes not yet read (0 after an error). */
size_t snap_rd_left(const struct snap_rd *r);
/* 0 only if no get failed and every byte was consumed; -EINVAL otherwise. */
int snap_rd_end(const struct snap_rd *r) __must_check;

/* ---- container ----------------------------------------------------------------------- */

struct snap_section {
	char id[SNAP_ID_MAX + 1];
	uint32_t version;
	const uint8_t *payload; /* parsed: points into the bytes given to snap_file_parse() */
	size_t len;
};

struct snap_file {
	uint16_t major;
	uint16_t minor;
	unsigned int nr;
	struct snap_section sections[SNAP_MAX_SECTIONS];
};

/* 1..SNAP_ID_MAX printable ASCII characters: safe to put in a file name or a message. */
bool snap_id_valid(const char *id);

/*
 * Append a whole state file holding `nr` sections, in order, to out. Refuses (-EINVAL or
 * -EFBIG, one sentence in err) what snap_file_parse() would refuse: a bad or duplicate
 * id, too many sections, a file over SNAP_MAX_FILE. -ENOMEM if out could not grow.
 */
int snap_file_build(struct snap_buf *out, const struct snap_section *secs, unsigned int nr,
		    char *err, size_t errlen) __must_check;

/*
 * Parse and check a state file: magic, version, limits, every section's bounds and CRC,
 * unique ids, no bytes after the last section. Never reads outside [data, data + len).
 * On success f->sections point into data, which must outlive f. On failure -EINVAL and
 * one sentence in err; f is then unspecified.
 */
int snap_file_parse(struct snap_file *f, const void *data, size_t len, char *err,
		    size_t errlen) __must_check;

/* The section named id, or NULL. */
const struct snap_section *snap_file_find(const struct snap_file *f, const char *id);

#endif
