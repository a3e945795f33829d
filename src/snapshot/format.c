/* The state-file format: little-endian writer and checked reader, container build and parse. */
#include "snapshot/format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Section framing around the id and payload: id length, version, payload length, CRC. */
#define SECTION_OVERHEAD (4 + 4 + 8 + 4)

/* ---- writer -------------------------------------------------------------------------- */

void snap_buf_init(struct snap_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void snap_buf_free(struct snap_buf *b)
{
	free(b->data);
	snap_buf_init(b);
}

int snap_buf_error(const struct snap_buf *b)
{
	return b->failed ? -ENOMEM : 0;
}

/* Room for n more bytes, or false (and the buffer marked failed). */
static bool snap_buf_reserve(struct snap_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	uint8_t *p;

	if (b->failed)
		return false;
	if (n <= b->cap - b->len)
		return true;
	if (n > SIZE_MAX / 2 - b->len)
		goto fail;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return true;
fail:
	b->failed = true;
	return false;
}

void snap_put_bytes(struct snap_buf *b, const void *p, size_t n)
{
	if (!n || !snap_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Little-endian whatever the host is, so a file moves between machines. */
static void snap_put_le(struct snap_buf *b, uint64_t v, int bytes)
{
	uint8_t le[8];

	for (int i = 0; i < bytes; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	snap_put_bytes(b, le, (size_t)bytes);
}

void snap_put_u8(struct snap_buf *b, uint8_t v) { snap_put_le(b, v, 1); }
void snap_put_u16(struct snap_buf *b, uint16_t v) { snap_put_le(b, v, 2); }
void snap_put_u32(struct snap_buf *b, uint32_t v) { snap_put_le(b, v, 4); }
void snap_put_u64(struct snap_buf *b, uint64_t v) { snap_put_le(b, v, 8); }

void snap_put_str(struct snap_buf *b, const char *s)
{
	size_t n = strlen(s);

	/* A string too long for its u32 length cannot be written faithfully: fail the buffer. */
	if (n > UINT32_MAX) {
		b->failed = true;
		return;
	}
	snap_put_u32(b, (uint32_t)n);
	snap_put_bytes(b, s, n);
}

/* ---- reader -------------------------------------------------------------------------- */

void snap_rd_init(struct snap_rd *r, const void *p, size_t len)
{
	static const uint8_t empty;

	/* Never NULL, so that taking zero bytes is plain pointer arithmetic. */
	r->p = p ? p : &empty;
	r->len = p ? len : 0;
	r->pos = 0;
	r->error = false;
}

size_t snap_rd_left(const struct snap_rd *r)
{
	return r->error ? 0 : r->len - r->pos;
}

int snap_rd_end(const struct snap_rd *r)
{
	return r->error || r->pos != r->len ? -EINVAL : 0;
}

/* The next n bytes, or NULL (and the error set) if fewer are left. */
static const uint8_t *snap_rd_take(struct snap_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->error || n > r->len - r->pos) {
		r->error = true;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

void snap_get_bytes(struct snap_rd *r, void *out, size_t n)
{
	const uint8_t *p = snap_rd_take(r, n);

	if (p)
		memcpy(out, p, n);
	else if (n)
		memset(out, 0, n);
}

static uint64_t snap_get_le(struct snap_rd *r, int bytes)
{
	const uint8_t *p = snap_rd_take(r, (size_t)bytes);
	uint64_t v = 0;

	for (int i = 0; p && i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t snap_get_u8(struct snap_rd *r) { return (uint8_t)snap_get_le(r, 1); }
uint16_t snap_get_u16(struct snap_rd *r) { return (uint16_t)snap_get_le(r, 2); }
uint32_t snap_get_u32(struct snap_rd *r) { return (uint32_t)snap_get_le(r, 4); }
uint64_t snap_get_u64(struct snap_rd *r) { return snap_get_le(r, 8); }

bool snap_get_bool(struct snap_rd *r)
{
	uint8_t v = snap_get_u8(r);

	if (v > 1)
		r->error = true;
	return v == 1;
}

void snap_get_str(struct snap_rd *r, char *out, size_t size)
{
	uint32_t n = snap_get_u32(r);
	const uint8_t *p;

	if (size)
		out[0] = '\0';
	if (!r->error && (size_t)n >= size) {
		r->error = true;
		return;
	}
	p = snap_rd_take(r, n);
	if (!p)
		return;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* ---- container: building ------------------------------------------------------------- */

bool snap_id_valid(const char *id)
{
	size_t n = strnlen(id, SNAP_ID_MAX + 1);

	if (n == 0 || n > SNAP_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] < 0x21 || id[i] > 0x7e)
			return false;
	return true;
}

/* The first index j < i whose id equals secs[i]'s, or -1. */
static int snap_find_dup(const struct snap_section *secs, unsigned int i)
{
	for (unsigned int j = 0; j < i; j++)
		if (!strcmp(secs[j].id, secs[i].id))
			return (int)j;
	return -1;
}

/* Check what the parser would refuse and size the file. */
static int snap_build_check(const struct snap_section *secs, unsigned int nr, uint64_t *total,
			    char *err, size_t errlen)
{
	if (nr > SNAP_MAX_SECTIONS) {
		snprintf(err, errlen, "%u snapshot sections are more than the limit of %d", nr,
			 SNAP_MAX_SECTIONS);
		return -EINVAL;
	}
	*total = SNAP_HEADER_SIZE;
	for (unsigned int i = 0; i < nr; i++) {
		if (!snap_id_valid(secs[i].id)) {
			snprintf(err, errlen, "snapshot section %u has an invalid id", i);
			return -EINVAL;
		}
		if (snap_find_dup(secs, i) >= 0) {
			snprintf(err, errlen, "snapshot section \"%s\" is given twice", secs[i].id);
			return -EINVAL;
		}
		if (secs[i].len > SNAP_MAX_FILE || (secs[i].len && !secs[i].payload)) {
			snprintf(err, errlen, "snapshot section \"%s\" is too large", secs[i].id);
			return -EFBIG;
		}
		*total += SECTION_OVERHEAD + strlen(secs[i].id) + secs[i].len;
	}
	if (*total > SNAP_MAX_FILE) {
		snprintf(err, errlen, "the snapshot would be %llu bytes, over the limit of %llu",
			 (unsigned long long)*total, (unsigned long long)SNAP_MAX_FILE);
		return -EFBIG;
	}
	return 0;
}

int snap_file_build(struct snap_buf *out, const struct snap_section *secs, unsigned int nr,
		    char *err, size_t errlen)
{
	uint64_t total;
	int ret = snap_build_check(secs, nr, &total, err, errlen);

	if (ret)
		return ret;
	snap_put_bytes(out, SNAP_MAGIC, SNAP_MAGIC_LEN);
	snap_put_u16(out, SNAP_FORMAT_MAJOR);
	snap_put_u16(out, SNAP_FORMAT_MINOR);
	snap_put_u32(out, nr);
	snap_put_u64(out, total);
	for (unsigned int i = 0; i < nr; i++) {
		const struct snap_section *s = &secs[i];

		snap_put_str(out, s->id);
		snap_put_u32(out, s->version);
		snap_put_u64(out, s->len);
		snap_put_u32(out, (uint32_t)crc32(0, s->payload, (uInt)s->len));
		snap_put_bytes(out, s->payload, s->len);
	}
	if (snap_buf_error(out)) {
		snprintf(err, errlen, "out of memory while writing the snapshot");
		return -ENOMEM;
	}
	return 0;
}

/* ---- container: parsing -------------------------------------------------------------- */

/* Magic, version, limits and total length; leaves r at the first section. */
static int snap_parse_header(struct snap_file *f, struct snap_rd *r, size_t len, char *err,
			     size_t errlen)
{
	uint8_t magic[SNAP_MAGIC_LEN];

	if (!len) {
		snprintf(err, errlen, "the snapshot is empty");
		return -EINVAL;
	}
	/* A short prefix of the magic is a truncated snapshot, anything else is not one. */
	if (memcmp(r->p, SNAP_MAGIC, MIN(len, (size_t)SNAP_MAGIC_LEN))) {
		snprintf(err, errlen, "not a vmon snapshot");
		return -EINVAL;
	}
	if (len < SNAP_HEADER_SIZE) {
		snprintf(err, errlen, "the snapshot is truncated: %zu bytes, less than its header",
			 len);
		return -EINVAL;
	}
	snap_get_bytes(r, magic, sizeof(magic));
	f->major = snap_get_u16(r);
	f->minor = snap_get_u16(r);
	f->nr = snap_get_u32(r);
	uint64_t total = snap_get_u64(r);

	if (f->major != SNAP_FORMAT_MAJOR) {
		snprintf(err, errlen, "snapshot format %u.%u is %s this vmon reads (%d.x)", f->major,
			 f->minor, f->major > SNAP_FORMAT_MAJOR ? "newer than what" : "not what",
			 SNAP_FORMAT_MAJOR);
		return -EINVAL;
	}
	if (f->nr > SNAP_MAX_SECTIONS) {
		snprintf(err, errlen, "the snapshot has %u sections, more than the limit of %d",
			 f->nr, SNAP_MAX_SECTIONS);
		return -EINVAL;
	}
	if (total > SNAP_MAX_FILE) {
		snprintf(err, errlen, "the snapshot claims %llu bytes, more than the limit of %llu",
			 (unsigned long long)total, (unsigned long long)SNAP_MAX_FILE);
		return -EINVAL;
	}
	if (total > len) {
		snprintf(err, errlen, "the snapshot is truncated: %zu of its %llu bytes are there",
			 len, (unsigned long long)total);
		return -EINVAL;
	}
	if (total < len) {
		snprintf(err, errlen, "the snapshot has %llu bytes after its end",
			 (unsigned long long)(len - total));
		return -EINVAL;
	}
	return 0;
}

/* Section i's id: read into s->id, checked to be a valid id. */
static int snap_parse_id(struct snap_section *s, struct snap_rd *r, unsigned int i, char *err,
			 size_t errlen)
{
	uint32_t n = snap_get_u32(r);

	if (r->error) {
		snprintf(err, errlen, "the snapshot is truncated in the header of section %u", i);
		return -EINVAL;
	}
	if (n == 0 || n > SNAP_ID_MAX) {
		snprintf(err, errlen, "snapshot section %u has an id of %u bytes (1 to %d allowed)",
			 i, n, SNAP_ID_MAX);
		return -EINVAL;
	}
	snap_get_bytes(r, s->id, n);
	s->id[n] = '\0';
	if (r->error) {
		snprintf(err, errlen, "the snapshot is truncated in the header of section %u", i);
		return -EINVAL;
	}
	/* Catches a NUL inside the id too: strlen would then disagree with n. */
	if (strlen(s->id) != n || !snap_id_valid(s->id)) {
		snprintf(err, errlen, "snapshot section %u has an id that is not printable ASCII", i);
		return -EINVAL;
	}
	return 0;
}

static int snap_parse_section(struct snap_file *f, struct snap_rd *r, unsigned int i, char *err,
			      size_t errlen)
{
	struct snap_section *s = &f->sections[i];
	int ret = snap_parse_id(s, r, i, err, errlen);

	if (ret)
		return ret;
	s->version = snap_get_u32(r);
	uint64_t len = snap_get_u64(r);
	uint32_t crc = snap_get_u32(r);
	if (r->error) {
		snprintf(err, errlen, "the snapshot is truncated in the header of section \"%s\"",
			 s->id);
		return -EINVAL;
	}
	if (len > snap_rd_left(r)) {
		snprintf(err, errlen, "snapshot section \"%s\" runs past the end of the file", s->id);
		return -EINVAL;
	}
	s->len = (size_t)len;
	s->payload = r->p + r->pos;
	r->pos += s->len;
	if ((uint32_t)crc32(0, s->payload, (uInt)s->len) != crc) {
		snprintf(err, errlen, "snapshot section \"%s\" is corrupt (CRC mismatch)", s->id);
		return -EINVAL;
	}
	for (unsigned int j = 0; j < i; j++)
		if (!strcmp(f->sections[j].id, s->id)) {
			snprintf(err, errlen, "snapshot section \"%s\" appears twice", s->id);
			return -EINVAL;
		}
	return 0;
}

int snap_file_parse(struct snap_file *f, const void *data, size_t len, char *err,
		    size_t errlen)
{
	struct snap_rd r;
	int ret;

	snap_rd_init(&r, data, len);
	ret = snap_parse_header(f, &r, r.len, err, errlen);
	for (unsigned int i = 0; !ret && i < f->nr; i++)
		ret = snap_parse_section(f, &r, i, err, errlen);
	if (!ret && snap_rd_left(&r)) {
		snprintf(err, errlen, "the snapshot has %zu bytes after its last section",
			 snap_rd_left(&r));
		ret = -EINVAL;
	}
	if (ret)
		f->nr = 0;
	return ret;
}

const struct snap_section *snap_file_find(const struct snap_file *f, const char *id)
{
	for (unsigned int i = 0; i < f->nr; i++)
		if (!strcmp(f->sections[i].id, id))
			return &f->sections[i];
	return NULL;
}
