/* The migration stream's wire format: frame encoder, payload decoder, order rules, parser. */
#include "migration/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *const type_names[] = {
	[MIG_HELLO] = "HELLO", [MIG_ACCEPT] = "ACCEPT", [MIG_REFUSE] = "REFUSE",
	[MIG_RAM] = "RAM",     [MIG_STATE] = "STATE",   [MIG_DONE] = "DONE",
	[MIG_ACK] = "ACK",     [MIG_ERROR] = "ERROR",
};

const char *mig_type_name(uint32_t type)
{
	return type < ARRAY_SIZE(type_names) && type_names[type] ? type_names[type] : "unknown";
}

static bool type_known(uint32_t type)
{
	return type >= MIG_HELLO && type <= MIG_ERROR;
}

/* ---- encoder ------------------------------------------------------------------------- */

static void put_le32_at(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The header with length and CRC left 0: frame_end() fills them in. */
static size_t frame_begin(struct snap_buf *out, enum mig_type type, uint16_t flags)
{
	size_t start = out->len;

	snap_put_u32(out, MIG_MAGIC);
	snap_put_u16(out, (uint16_t)type);
	snap_put_u16(out, flags);
	snap_put_u32(out, 0);
	snap_put_u32(out, 0);
	return start;
}

static int frame_end(struct snap_buf *out, size_t start)
{
	size_t len;

	if (snap_buf_error(out))
		return -ENOMEM;
	len = out->len - start - MIG_HEADER_SIZE;
	put_le32_at(out->data + start + 8, (uint32_t)len);
	put_le32_at(out->data + start + 12,
		    (uint32_t)crc32(0, out->data + start + MIG_HEADER_SIZE, (uInt)len));
	return 0;
}

int mig_put_hello(struct snap_buf *out, uint64_t ram_size, uint32_t flags, const void *config,
		  size_t config_len)
{
	size_t start;

	if (!ram_size || ram_size % MIG_PAGE_SIZE || flags & ~MIG_HELLO_LOCAL_MEMFD ||
	    config_len > MIG_MAX_PAYLOAD - MIG_HELLO_SIZE)
		return -EINVAL;
	start = frame_begin(out, MIG_HELLO, 0);
	snap_put_u32(out, MIG_PROTOCOL_VERSION);
	snap_put_u64(out, ram_size);
	snap_put_u32(out, flags);
	snap_put_bytes(out, config, config_len);
	return frame_end(out, start);
}

static int put_empty(struct snap_buf *out, enum mig_type type)
{
	return frame_end(out, frame_begin(out, type, 0));
}

int mig_put_accept(struct snap_buf *out)
{
	return put_empty(out, MIG_ACCEPT);
}

int mig_put_ack(struct snap_buf *out)
{
	return put_empty(out, MIG_ACK);
}

/*
 * Well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF, and no NUL
 * (the text ends up in log lines and C strings).
 */
static bool text_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp, min;
		int k;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		if (len - i <= (size_t)k)
			return false;
		for (int j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += (size_t)k + 1;
	}
	return true;
}

static int put_text(struct snap_buf *out, enum mig_type type, const char *text)
{
	size_t len = strlen(text);

	if (!len || len > MIG_MAX_TEXT || !text_valid((const uint8_t *)text, len))
		return -EINVAL;
	size_t start = frame_begin(out, type, 0);
	snap_put_bytes(out, text, len);
	return frame_end(out, start);
}

int mig_put_refuse(struct snap_buf *out, const char *text)
{
	return put_text(out, MIG_REFUSE, text);
}

int mig_put_error(struct snap_buf *out, const char *text)
{
	return put_text(out, MIG_ERROR, text);
}

/* Eight words at a time with one branch: most pages of a fresh guest are zero or not early. */
bool mig_page_is_zero(const void *page, size_t n)
{
	const uint8_t *p = page;
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		uint64_t w[8], acc = 0;

		memcpy(w, p + i, sizeof(w));
		for (int j = 0; j < 8; j++)
			acc |= w[j];
		if (acc)
			return false;
	}
	for (; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool ram_range_ok(uint64_t offset, uint32_t n, uint64_t ram_size)
{
	return offset % MIG_PAGE_SIZE == 0 &&
	       range_fits(offset, (uint64_t)n * MIG_PAGE_SIZE, ram_size);
}

int mig_put_ram(struct snap_buf *out, uint64_t offset, const void *pages, uint32_t n)
{
	const uint8_t *p = pages;
	uint8_t bitmap[MIG_MAX_PAGES / 8] = { 0 };
	size_t start;

	if (!n || n > MIG_MAX_PAGES || !ram_range_ok(offset, n, UINT64_MAX & ~(uint64_t)4095))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!p || mig_page_is_zero(p + (size_t)i * MIG_PAGE_SIZE, MIG_PAGE_SIZE))
			bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
	start = frame_begin(out, MIG_RAM, 0);
	snap_put_u64(out, offset);
	snap_put_u32(out, n);
	snap_put_bytes(out, bitmap, (n + 7) / 8);
	for (uint32_t i = 0; i < n; i++)
		if (!(bitmap[i / 8] & (1u << (i % 8))))
			snap_put_bytes(out, p + (size_t)i * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
	return frame_end(out, start);
}

int mig_put_state(struct snap_buf *out, const void *data, size_t len, bool more)
{
	size_t start;

	if (len > MIG_MAX_PAYLOAD)
		return -EINVAL;
	start = frame_begin(out, MIG_STATE, more ? MIG_STATE_MORE : 0);
	snap_put_bytes(out, data, len);
	return frame_end(out, start);
}

int mig_put_state_all(struct snap_buf *out, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t off = 0;
	int ret;

	if (len > MIG_MAX_STATE)
		return -EINVAL;
	do {
		size_t n = MIN(len - off, (size_t)MIG_MAX_PAYLOAD);

		ret = mig_put_state(out, p + off, n, off + n < len);
		off += n;
	} while (!ret && off < len);
	return ret;
}

int mig_put_done(struct snap_buf *out, uint64_t pages, uint32_t passes)
{
	size_t start = frame_begin(out, MIG_DONE, 0);

	snap_put_u64(out, pages);
	snap_put_u32(out, passes);
	return frame_end(out, start);
}

/* ---- decoder ------------------------------------------------------------------------- */

static uint64_t get_le64(const uint8_t *p)
{
	return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static int decode_hello(struct mig_msg *m, const uint8_t *p, size_t len, char *err,
			size_t errlen)
{
	if (len < MIG_HELLO_SIZE) {
		snprintf(err, errlen, "the HELLO message is %zu bytes, shorter than its %d fixed "
			 "bytes", len, MIG_HELLO_SIZE);
		return -EINVAL;
	}
	m->hello.version = get_le32(p);
	m->hello.ram_size = get_le64(p + 4);
	m->hello.flags = get_le32(p + 12);
	m->hello.config = p + MIG_HELLO_SIZE;
	m->hello.config_len = len - MIG_HELLO_SIZE;
	if (m->hello.version != MIG_PROTOCOL_VERSION)
		snprintf(err, errlen, "the source speaks migration protocol version %u, not %d",
			 m->hello.version, MIG_PROTOCOL_VERSION);
	else if (!m->hello.ram_size || m->hello.ram_size % MIG_PAGE_SIZE)
		snprintf(err, errlen, "the guest RAM size %llu in HELLO is not a non-zero multiple "
			 "of %d", (unsigned long long)m->hello.ram_size, MIG_PAGE_SIZE);
	else if (m->hello.flags & ~MIG_HELLO_LOCAL_MEMFD)
		snprintf(err, errlen, "HELLO has unknown flags 0x%x", m->hello.flags);
	else
		return 0;
	return -EINVAL;
}

static int decode_ram(struct mig_msg *m, const uint8_t *p, size_t len, uint64_t ram_size,
		      char *err, size_t errlen)
{
	size_t bm, zero = 0, want;

	if (len < MIG_RAM_HEADER_SIZE) {
		snprintf(err, errlen, "the RAM message is %zu bytes, shorter than its header", len);
		return -EINVAL;
	}
	m->ram.offset = get_le64(p);
	m->ram.nr_pages = get_le32(p + 8);
	if (!m->ram.nr_pages || m->ram.nr_pages > MIG_MAX_PAGES) {
		snprintf(err, errlen, "a RAM message with %u pages is outside 1..%d",
			 m->ram.nr_pages, MIG_MAX_PAGES);
		return -EINVAL;
	}
	if (m->ram.offset % MIG_PAGE_SIZE) {
		snprintf(err, errlen, "the RAM offset 0x%llx is not page-aligned",
			 (unsigned long long)m->ram.offset);
		return -EINVAL;
	}
	if (!ram_range_ok(m->ram.offset, m->ram.nr_pages, ram_size)) {
		snprintf(err, errlen, "%u pages at RAM offset 0x%llx run past the guest RAM size "
			 "of 0x%llx", m->ram.nr_pages, (unsigned long long)m->ram.offset,
			 (unsigned long long)ram_size);
		return -EINVAL;
	}
	bm = (m->ram.nr_pages + 7) / 8;
	if (len - MIG_RAM_HEADER_SIZE < bm) {
		snprintf(err, errlen, "the RAM message is too short for its zero-page bitmap");
		return -EINVAL;
	}
	m->ram.zero_bitmap = p + MIG_RAM_HEADER_SIZE;
	m->ram.data = m->ram.zero_bitmap + bm;
	if (m->ram.nr_pages % 8 && m->ram.zero_bitmap[bm - 1] >> (m->ram.nr_pages % 8)) {
		snprintf(err, errlen, "the RAM message's bitmap marks pages past its count");
		return -EINVAL;
	}
	for (size_t i = 0; i < bm; i++)
		zero += (size_t)__builtin_popcount(m->ram.zero_bitmap[i]);
	want = MIG_RAM_HEADER_SIZE + bm + (m->ram.nr_pages - zero) * MIG_PAGE_SIZE;
	if (len != want) {
		snprintf(err, errlen, "the RAM message is %zu bytes, but its %u pages (%zu zero) "
			 "make %zu", len, m->ram.nr_pages, zero, want);
		return -EINVAL;
	}
	return 0;
}

static int decode_text(struct mig_msg *m, const uint8_t *p, size_t len, char *err,
		       size_t errlen)
{
	m->text.text = (const char *)p;
	m->text.len = len;
	if (!len || len > MIG_MAX_TEXT) {
		snprintf(err, errlen, "the %s text is %zu bytes, outside 1..%d",
			 mig_type_name(m->type), len, MIG_MAX_TEXT);
		return -EINVAL;
	}
	if (!text_valid(p, len)) {
		snprintf(err, errlen, "the %s text is not UTF-8 without NULs",
			 mig_type_name(m->type));
		return -EINVAL;
	}
	return 0;
}

static int decode_fixed(struct mig_msg *m, const uint8_t *p, size_t len, size_t want,
			char *err, size_t errlen)
{
	if (len != want) {
		snprintf(err, errlen, "the %s message is %zu bytes, not %zu",
			 mig_type_name(m->type), len, want);
		return -EINVAL;
	}
	if (m->type == MIG_DONE) {
		m->done.pages = get_le64(p);
		m->done.passes = get_le32(p + 8);
	}
	return 0;
}

int mig_decode(struct mig_msg *m, uint16_t type, uint16_t flags, const uint8_t *payload,
	       size_t len, uint64_t ram_size, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->flags = flags;
	switch (type) {
	case MIG_HELLO:
		return decode_hello(m, payload, len, err, errlen);
	case MIG_ACCEPT:
	case MIG_ACK:
		return decode_fixed(m, payload, len, 0, err, errlen);
	case MIG_DONE:
		return decode_fixed(m, payload, len, MIG_DONE_SIZE, err, errlen);
	case MIG_REFUSE:
	case MIG_ERROR:
		return decode_text(m, payload, len, err, errlen);
	case MIG_RAM:
		return decode_ram(m, payload, len, ram_size, err, errlen);
	case MIG_STATE:
		m->state.data = payload;
		m->state.len = len;
		m->state.more = flags & MIG_STATE_MORE;
		return 0;
	}
	snprintf(err, errlen, "unknown migration message type %u", type);
	return -EINVAL;
}

void mig_ram_iter_init(struct mig_ram_iter *it, const struct mig_msg *m)
{
	it->m = m;
	it->i = 0;
	it->data = m->ram.data;
}

bool mig_ram_next(struct mig_ram_iter *it, uint64_t *offset, const uint8_t **page)
{
	uint32_t i = it->i;

	if (i >= it->m->ram.nr_pages)
		return false;
	*offset = it->m->ram.offset + (uint64_t)i * MIG_PAGE_SIZE;
	if (it->m->ram.zero_bitmap[i / 8] & (1u << (i % 8))) {
		*page = NULL;
	} else {
		*page = it->data;
		it->data += MIG_PAGE_SIZE;
	}
	it->i++;
	return true;
}

/* ---- order ----------------------------------------------------------------------------- */

enum mig_phase mig_first_phase(enum mig_side side)
{
	return side == MIG_AT_DESTINATION ? MIG_WANT_HELLO : MIG_WANT_REPLY;
}

bool mig_legal(enum mig_phase phase, uint32_t type)
{
	if (type == MIG_ERROR)
		return phase != MIG_FINISHED;
	switch (phase) {
	case MIG_WANT_HELLO:
		return type == MIG_HELLO;
	case MIG_WANT_RAM:
		return type == MIG_RAM || type == MIG_STATE;
	case MIG_WANT_STATE_MORE:
		return type == MIG_STATE;
	case MIG_WANT_DONE:
		return type == MIG_DONE;
	case MIG_WANT_REPLY:
		return type == MIG_ACCEPT || type == MIG_REFUSE;
	case MIG_WANT_ACK:
		return type == MIG_ACK;
	case MIG_FINISHED:
		break;
	}
	return false;
}

enum mig_phase mig_next_phase(enum mig_phase phase, const struct mig_msg *m)
{
	switch (m->type) {
	case MIG_HELLO:
	case MIG_RAM:
		return MIG_WANT_RAM;
	case MIG_STATE:
		return m->state.more ? MIG_WANT_STATE_MORE : MIG_WANT_DONE;
	case MIG_ACCEPT:
		return MIG_WANT_ACK;
	default:
		return MIG_FINISHED;
	}
}

static const char *const phase_wants[] = {
	[MIG_WANT_HELLO] = "HELLO",
	[MIG_WANT_RAM] = "RAM or STATE",
	[MIG_WANT_STATE_MORE] = "the next STATE piece",
	[MIG_WANT_DONE] = "DONE",
	[MIG_WANT_REPLY] = "ACCEPT or REFUSE",
	[MIG_WANT_ACK] = "ACK",
	[MIG_FINISHED] = "nothing more",
};

/* ---- parser ---------------------------------------------------------------------------- */

void mig_parser_init(struct mig_parser *p, enum mig_side side)
{
	memset(p, 0, sizeof(*p));
	p->phase = mig_first_phase(side);
	p->need = MIG_HEADER_SIZE;
}

void mig_parser_free(struct mig_parser *p)
{
	free(p->buf);
	p->buf = NULL;
	p->cap = 0;
}

/* The header on its own, before any payload byte is buffered: refuse as early as possible. */
static int check_header(const struct mig_parser *p, const uint8_t *h, char *err,
			size_t errlen)
{
	uint32_t magic = get_le32(h), len = get_le32(h + 8);
	uint16_t type = get_le16(h + 4), flags = get_le16(h + 6);

	if (magic != MIG_MAGIC)
		snprintf(err, errlen, "not a vmon migration frame (magic 0x%08x)", magic);
	else if (!type_known(type))
		snprintf(err, errlen, "unknown migration message type %u", type);
	else if (flags & ~(type == MIG_STATE ? MIG_STATE_MORE : 0))
		snprintf(err, errlen, "the %s frame has reserved flags 0x%x set",
			 mig_type_name(type), flags);
	else if (len > MIG_MAX_PAYLOAD)
		snprintf(err, errlen, "the %s frame's payload of %u bytes is over the limit of %llu",
			 mig_type_name(type), len, MIG_MAX_PAYLOAD);
	else if (!mig_legal(p->phase, type))
		snprintf(err, errlen, "%s %s message came where the protocol allows %s",
			 strchr("AE", mig_type_name(type)[0]) ? "an" : "a", mig_type_name(type),
			 phase_wants[p->phase]);
	else if (type == MIG_RAM && p->local)
		snprintf(err, errlen, "a RAM message came in a local migration (RAM is the memfd passed "
			 "with HELLO)");
	else if (type == MIG_STATE && p->state_len + len > MIG_MAX_STATE)
		snprintf(err, errlen, "the device state is over the limit of %llu bytes",
			 MIG_MAX_STATE);
	else
		return 0;
	return -EINVAL;
}

/* A whole frame is in p->buf: its CRC, its payload, and what it says about the stream. */
static int take_frame(struct mig_parser *p, struct mig_msg *m, char *err, size_t errlen)
{
	const uint8_t *payload = p->buf + MIG_HEADER_SIZE;
	size_t len = p->need - MIG_HEADER_SIZE;
	uint32_t crc = get_le32(p->buf + 12);

	if ((uint32_t)crc32(0, payload, (uInt)len) != crc) {
		snprintf(err, errlen, "the %s frame's CRC does not match its payload",
			 mig_type_name(get_le16(p->buf + 4)));
		return -EINVAL;
	}
	if (mig_decode(m, get_le16(p->buf + 4), get_le16(p->buf + 6), payload, len, p->ram_size,
		       err, errlen))
		return -EINVAL;
	if (m->type == MIG_DONE && m->done.pages != p->pages) {
		snprintf(err, errlen, "DONE counts %llu pages, but the RAM messages held %llu",
			 (unsigned long long)m->done.pages, (unsigned long long)p->pages);
		return -EINVAL;
	}
	if (m->type == MIG_HELLO) {
		p->ram_size = m->hello.ram_size;
		p->local = m->hello.flags & MIG_HELLO_LOCAL_MEMFD;
	}
	else if (m->type == MIG_RAM)
		p->pages += m->ram.nr_pages;
	else if (m->type == MIG_STATE)
		p->state_len += m->state.len;
	p->phase = mig_next_phase(p->phase, m);
	return 0;
}

static int reserve(struct mig_parser *p, size_t n)
{
	uint8_t *b;

	if (p->cap >= n)
		return 0;
	b = realloc(p->buf, n);
	if (!b)
		return -ENOMEM;
	p->buf = b;
	p->cap = n;
	return 0;
}

static int refuse(struct mig_parser *p, int ret)
{
	p->failed = true;
	return ret;
}

int mig_parser_feed(struct mig_parser *p, const void *buf, size_t len, size_t *used,
		    struct mig_msg *m, char *err, size_t errlen)
{
	const uint8_t *in = buf;
	int ret;

	*used = 0;
	if (p->failed) {
		snprintf(err, errlen, "the migration stream was already refused");
		return -EINVAL;
	}
	if (reserve(p, p->need)) {
		snprintf(err, errlen, "out of memory for a migration frame");
		return refuse(p, -ENOMEM);
	}
	while (*used < len) {
		size_t n = MIN(len - *used, p->need - p->have);

		memcpy(p->buf + p->have, in + *used, n);
		p->have += n;
		*used += n;
		if (p->have < p->need)
			break;
		if (!p->header_ok) {
			if (check_header(p, p->buf, err, errlen))
				return refuse(p, -EINVAL);
			p->header_ok = true;
			p->need = MIG_HEADER_SIZE + (size_t)get_le32(p->buf + 8);
			if (reserve(p, p->need)) {
				snprintf(err, errlen, "out of memory for a migration frame");
				return refuse(p, -ENOMEM);
			}
			if (p->have < p->need)
				continue;
		}
		ret = take_frame(p, m, err, errlen);
		p->have = 0;
		p->need = MIG_HEADER_SIZE;
		p->header_ok = false;
		return ret ? refuse(p, ret) : 1;
	}
	return 0;
}

int mig_parser_finish(const struct mig_parser *p, char *err, size_t errlen)
{
	if (p->failed) {
		snprintf(err, errlen, "the migration stream was refused");
		return -EINVAL;
	}
	if (p->have) {
		snprintf(err, errlen, "the migration stream ended inside a frame, %zu of %zu bytes "
			 "in", p->have, p->need);
		return -EINVAL;
	}
	if (p->phase != MIG_FINISHED) {
		snprintf(err, errlen, "the migration stream ended while waiting for %s",
			 phase_wants[p->phase]);
		return -EINVAL;
	}
	return 0;
}
