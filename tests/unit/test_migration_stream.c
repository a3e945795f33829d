/* The migration stream: each message both ways, chunked feeding, every refusal, truncation. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "migration/stream.h"

static char err[256];

/* What a message said, copied out before the parser's buffer is reused. */
struct seen {
	enum mig_type type;
	uint16_t flags;
	uint64_t a;   /* ram_size, RAM offset, DONE pages, STATE more */
	uint64_t b;   /* HELLO flags, page count, passes */
	size_t len;   /* config, text or state bytes */
	uint32_t crc; /* of those bytes, or of the RAM pages as the iterator gives them */
};

static uint32_t ram_crc(const struct mig_msg *m)
{
	struct mig_ram_iter it;
	const uint8_t *page;
	uint64_t off;
	uint32_t crc = 0;

	mig_ram_iter_init(&it, m);
	while (mig_ram_next(&it, &off, &page)) {
		crc = (uint32_t)crc32(crc, (const uint8_t *)&off, sizeof(off));
		crc = page ? (uint32_t)crc32(crc, page, MIG_PAGE_SIZE) : crc + 1;
	}
	return crc;
}

static struct seen summarize(const struct mig_msg *m)
{
	struct seen s = { .type = m->type, .flags = m->flags };

	switch (m->type) {
	case MIG_HELLO:
		s.a = m->hello.ram_size, s.b = m->hello.flags, s.len = m->hello.config_len;
		s.crc = (uint32_t)crc32(0, m->hello.config, (uInt)s.len);
		break;
	case MIG_REFUSE:
	case MIG_ERROR:
		s.len = m->text.len;
		s.crc = (uint32_t)crc32(0, (const uint8_t *)m->text.text, (uInt)s.len);
		break;
	case MIG_RAM:
		s.a = m->ram.offset, s.b = m->ram.nr_pages, s.crc = ram_crc(m);
		break;
	case MIG_STATE:
		s.a = m->state.more, s.len = m->state.len;
		s.crc = (uint32_t)crc32(0, m->state.data, (uInt)s.len);
		break;
	case MIG_DONE:
		s.a = m->done.pages, s.b = m->done.passes;
		break;
	default:
		break;
	}
	return s;
}

/* Feed b in chunks of `chunk` bytes; the messages go to out. The last feed's result (0 or <0). */
static int parse(struct mig_parser *p, const uint8_t *b, size_t len, size_t chunk,
		 struct seen *out, int max, int *nr)
{
	struct mig_msg m;
	size_t off = 0;

	*nr = 0;
	while (off < len) {
		size_t n = MIN(chunk, len - off), used;
		int ret = mig_parser_feed(p, b + off, n, &used, &m, err, sizeof(err));

		if (ret < 0)
			return ret;
		off += used;
		if (ret == 1) {
			assert_true(*nr < max);
			out[(*nr)++] = summarize(&m);
		} else {
			assert_int_equal(used, n);
		}
	}
	return 0;
}

/* One stream of the source's side, to parse whole or in pieces. */
static uint8_t pages[10][MIG_PAGE_SIZE];

static void fill_pages(void)
{
	memset(pages, 0, sizeof(pages));
	for (int i = 0; i < 10; i++)
		if (i != 0 && i != 3 && i != 9)
			for (int j = 0; j < MIG_PAGE_SIZE; j++)
				pages[i][j] = (uint8_t)(i * 7 + j);
	pages[5][MIG_PAGE_SIZE - 1] = 0; /* still non-zero elsewhere */
	pages[8][0] = pages[8][1] = 0;
}

static void source_stream(struct snap_buf *b)
{
	fill_pages();
	snap_buf_init(b);
	assert_int_equal(mig_put_hello(b, 64 * MIG_PAGE_SIZE, 0, "cfg!", 4), 0);
	assert_int_equal(mig_put_ram(b, 0, pages, 10), 0);
	assert_int_equal(mig_put_ram(b, 54 * MIG_PAGE_SIZE, pages, 10), 0);
	assert_int_equal(mig_put_state(b, "dev-", 4, true), 0);
	assert_int_equal(mig_put_state(b, "state", 5, false), 0);
	assert_int_equal(mig_put_done(b, 20, 3), 0);
}

static void test_source_messages(void **state)
{
	struct mig_parser p;
	struct snap_buf b;
	struct seen s[8];
	int nr;
	(void)state;

	source_stream(&b);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data, b.len, b.len, s, 8, &nr), 0);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
	assert_int_equal(nr, 6);
	assert_int_equal(s[0].type, MIG_HELLO);
	assert_true(s[0].a == 64 * MIG_PAGE_SIZE);
	assert_int_equal(s[0].b, 0);
	assert_int_equal(s[0].len, 4);
	assert_int_equal(s[0].crc, (uint32_t)crc32(0, (const uint8_t *)"cfg!", 4));
	assert_int_equal(s[1].type, MIG_RAM);
	assert_int_equal(s[1].b, 10);
	assert_true(s[2].a == 54 * MIG_PAGE_SIZE);
	assert_int_equal(s[3].type, MIG_STATE);
	assert_int_equal(s[3].a, 1);
	assert_int_equal(s[3].flags, MIG_STATE_MORE);
	assert_int_equal(s[4].a, 0);
	assert_int_equal(s[4].len, 5);
	assert_int_equal(s[5].type, MIG_DONE);
	assert_int_equal(s[5].a, 20);
	assert_int_equal(s[5].b, 3);
	/* The wire bytes of HELLO, exactly. */
	assert_memory_equal(b.data, "VMIG\x01\0\0\0\x14\0\0\0", 12);
	assert_memory_equal(b.data + 16, "\x01\0\0\0\0\0\x04\0\0\0\0\0\0\0\0\0cfg!", 20);
	mig_parser_free(&p);
	snap_buf_free(&b);
}

/* A local migration's stream: HELLO with the memfd flag, the state, DONE; never a RAM frame. */
static void test_local_stream(void **state)
{
	struct mig_parser p;
	struct snap_buf b;
	struct seen s[4];
	int nr;
	(void)state;

	fill_pages();
	snap_buf_init(&b);
	assert_int_equal(mig_put_hello(&b, 64 * MIG_PAGE_SIZE, MIG_HELLO_LOCAL_MEMFD, "cfg", 3), 0);
	assert_int_equal(mig_put_state(&b, "state", 5, false), 0);
	assert_int_equal(mig_put_done(&b, 0, 0), 0);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data, b.len, 7, s, 4, &nr), 0);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
	assert_int_equal(nr, 3);
	assert_int_equal(s[0].b, MIG_HELLO_LOCAL_MEMFD);
	assert_int_equal(s[2].type, MIG_DONE);
	mig_parser_free(&p);

	/* Pages known to be zero: the bitmap only. */
	b.len = 0;
	assert_int_equal(mig_put_hello(&b, 2048 * MIG_PAGE_SIZE, 0, "cfg", 3), 0);
	size_t before = b.len;
	assert_int_equal(mig_put_ram(&b, 1024 * MIG_PAGE_SIZE, NULL, 1024), 0);
	assert_int_equal(b.len - before, MIG_HEADER_SIZE + MIG_RAM_HEADER_SIZE + 128);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data, b.len, b.len, s, 4, &nr), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(s[1].type, MIG_RAM);
	assert_int_equal(s[1].b, 1024);
	mig_parser_free(&p);

	/* A RAM frame after a local HELLO would write into the source's live RAM: refused. */
	b.len = 0;
	assert_int_equal(mig_put_hello(&b, 64 * MIG_PAGE_SIZE, MIG_HELLO_LOCAL_MEMFD, "cfg", 3), 0);
	assert_int_equal(mig_put_ram(&b, 0, pages, 1), 0);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data, b.len, b.len, s, 4, &nr), -EINVAL);
	assert_int_equal(nr, 1);
	assert_non_null(strstr(err, "a RAM message came in a local migration"));
	mig_parser_free(&p);
	snap_buf_free(&b);
}

static void test_ram_roundtrip(void **state)
{
	struct mig_parser p;
	struct mig_ram_iter it;
	struct mig_msg m;
	struct snap_buf b;
	const uint8_t *page;
	uint64_t off;
	size_t used, at;
	int i = 0;
	(void)state;

	source_stream(&b);
	/* HELLO is 36 bytes; the first RAM frame: header, 12, 2 bitmap bytes, 7 pages. */
	at = MIG_HEADER_SIZE + 20;
	assert_int_equal(get_le32(b.data + at + 8), 12 + 2 + 7 * MIG_PAGE_SIZE);
	assert_int_equal(b.data[at + MIG_HEADER_SIZE + 12], 0x09); /* pages 0 and 3 */
	assert_int_equal(b.data[at + MIG_HEADER_SIZE + 13], 0x02); /* page 9 */
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(mig_parser_feed(&p, b.data, b.len, &used, &m, err, sizeof(err)), 1);
	assert_int_equal(used, at);
	assert_int_equal(mig_parser_feed(&p, b.data + at, b.len - at, &used, &m, err, sizeof(err)), 1);
	assert_int_equal(m.type, MIG_RAM);
	mig_ram_iter_init(&it, &m);
	while (mig_ram_next(&it, &off, &page)) {
		assert_true(off == (uint64_t)i * MIG_PAGE_SIZE);
		if (i == 0 || i == 3 || i == 9)
			assert_null(page);
		else
			assert_memory_equal(page, pages[i], MIG_PAGE_SIZE);
		i++;
	}
	assert_int_equal(i, 10);
	mig_parser_free(&p);
	snap_buf_free(&b);
}

static void test_replies(void **state)
{
	struct mig_parser p;
	struct snap_buf b;
	struct seen s[4];
	int nr;
	(void)state;

	snap_buf_init(&b);
	assert_int_equal(mig_put_accept(&b), 0);
	assert_int_equal(mig_put_ack(&b), 0);
	assert_int_equal(b.len, 2 * MIG_HEADER_SIZE);
	mig_parser_init(&p, MIG_AT_SOURCE);
	assert_int_equal(parse(&p, b.data, b.len, 1, s, 4, &nr), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(s[0].type, MIG_ACCEPT);
	assert_int_equal(s[1].type, MIG_ACK);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
	mig_parser_free(&p);

	b.len = 0;
	assert_int_equal(mig_put_refuse(&b, "guest RAM size differs: 256 MiB ≠ 512 MiB"), 0);
	mig_parser_init(&p, MIG_AT_SOURCE);
	assert_int_equal(parse(&p, b.data, b.len, 3, s, 4, &nr), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(s[0].type, MIG_REFUSE);
	assert_int_equal(s[0].len, strlen("guest RAM size differs: 256 MiB ≠ 512 MiB"));
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
	mig_parser_free(&p);

	/* ERROR, after ACCEPT from the destination, or in place of HELLO from the source. */
	b.len = 0;
	assert_int_equal(mig_put_accept(&b), 0);
	assert_int_equal(mig_put_error(&b, "disk write failed"), 0);
	mig_parser_init(&p, MIG_AT_SOURCE);
	assert_int_equal(parse(&p, b.data, b.len, 5, s, 4, &nr), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(s[1].type, MIG_ERROR);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
	mig_parser_free(&p);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data + MIG_HEADER_SIZE, b.len - MIG_HEADER_SIZE, 64, s, 4,
			       &nr), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
	mig_parser_free(&p);
	snap_buf_free(&b);
}

/* 9 MiB of state: three frames, the first two with MORE; back together byte for byte. */
static void test_state_split(void **state)
{
	size_t len = 9 * MiB + 123, got = 0, used, off = 0;
	uint8_t *dev = malloc(len), *back = malloc(len);
	struct mig_parser p;
	struct snap_buf b;
	struct mig_msg m;
	int frames = 0, ret;
	(void)state;

	for (size_t i = 0; i < len; i++)
		dev[i] = (uint8_t)(i * 131 + (i >> 12));
	snap_buf_init(&b);
	assert_int_equal(mig_put_hello(&b, MiB, 0, NULL, 0), 0);
	assert_int_equal(mig_put_state_all(&b, dev, len), 0);
	assert_int_equal(mig_put_done(&b, 0, 0), 0);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	while (off < b.len) {
		ret = mig_parser_feed(&p, b.data + off, MIN(b.len - off, 65536), &used, &m, err,
				      sizeof(err));
		assert_true(ret >= 0);
		off += used;
		if (ret == 1 && m.type == MIG_STATE) {
			assert_true(got + m.state.len <= len);
			memcpy(back + got, m.state.data, m.state.len);
			got += m.state.len;
			frames++;
			assert_int_equal(m.state.more, got < len);
		}
	}
	assert_int_equal(frames, 3);
	assert_int_equal(got, len);
	assert_memory_equal(back, dev, len);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
	mig_parser_free(&p);
	snap_buf_free(&b);
	free(dev);
	free(back);
}

static void test_any_chunking_same_messages(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 15, 16, 17, 4095, 4097, 65536 };
	struct seen whole[8], part[8];
	struct mig_parser p;
	struct snap_buf b;
	int nr, nr2;
	(void)state;

	source_stream(&b);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data, b.len, b.len, whole, 8, &nr), 0);
	mig_parser_free(&p);
	for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
		mig_parser_init(&p, MIG_AT_DESTINATION);
		assert_int_equal(parse(&p, b.data, b.len, chunks[c], part, 8, &nr2), 0);
		assert_int_equal(nr2, nr);
		for (int i = 0; i < nr; i++) {
			assert_int_equal(part[i].type, whole[i].type);
			assert_int_equal(part[i].flags, whole[i].flags);
			assert_true(part[i].a == whole[i].a && part[i].b == whole[i].b);
			assert_int_equal(part[i].len, whole[i].len);
			assert_int_equal(part[i].crc, whole[i].crc);
		}
		assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
		mig_parser_free(&p);
	}
	snap_buf_free(&b);
}

/* Every prefix of a small stream: "need more" all along, then a truncation at the end. */
static void test_truncation(void **state)
{
	struct mig_parser p;
	struct snap_buf b;
	struct seen s[8];
	uint8_t page[2][MIG_PAGE_SIZE] = { { 0 }, { 1 } };
	int nr;
	(void)state;

	snap_buf_init(&b);
	assert_int_equal(mig_put_hello(&b, 8 * MIG_PAGE_SIZE, 0, "c", 1), 0);
	assert_int_equal(mig_put_ram(&b, 4096, page, 2), 0);
	assert_int_equal(mig_put_state(&b, "s", 1, false), 0);
	assert_int_equal(mig_put_done(&b, 2, 1), 0);
	for (size_t cut = 0; cut < b.len; cut++) {
		mig_parser_init(&p, MIG_AT_DESTINATION);
		assert_int_equal(parse(&p, b.data, cut, 1, s, 8, &nr), 0);
		assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "the migration stream ended"));
		mig_parser_free(&p);
	}
	/* Inside a frame, and between frames. */
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data, 20, 20, s, 8, &nr), 0);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the migration stream ended inside a frame, 20 of 33 bytes in");
	mig_parser_free(&p);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data, 33, 33, s, 8, &nr), 0);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the migration stream ended while waiting for RAM or STATE");
	mig_parser_free(&p);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(parse(&p, b.data, b.len, 1, s, 8, &nr), 0);
	assert_int_equal(nr, 4);
	assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), 0);
	mig_parser_free(&p);
	snap_buf_free(&b);
}

/* ---- refusals ------------------------------------------------------------------------ */

/* A frame of any content, with a right CRC unless told otherwise. */
static void raw_frame(struct snap_buf *b, uint32_t magic, uint16_t type, uint16_t flags,
		      const void *payload, uint32_t len, bool bad_crc)
{
	snap_put_u32(b, magic);
	snap_put_u16(b, type);
	snap_put_u16(b, flags);
	snap_put_u32(b, len);
	snap_put_u32(b, (uint32_t)crc32(0, payload, len) ^ (bad_crc ? 1 : 0));
	snap_put_bytes(b, payload, len);
}

/* What comes before the frame under test, so that the order lets it through. */
enum prefix { NOTHING, HELLO, HELLO_STATE };

/* The prefix (HELLO is for 16 pages), then `frame`: refused with a message holding `want`. */
static void expect_refused(enum mig_side side, enum prefix pre, const struct snap_buf *frame,
			   const char *want)
{
	struct mig_parser p;
	struct snap_buf b;
	struct seen s[4];
	size_t used;
	struct mig_msg m;
	int nr;

	snap_buf_init(&b);
	if (pre != NOTHING)
		assert_int_equal(mig_put_hello(&b, 16 * MIG_PAGE_SIZE, 0, NULL, 0), 0);
	if (pre == HELLO_STATE)
		assert_int_equal(mig_put_state(&b, "s", 1, false), 0);
	snap_put_bytes(&b, frame->data, frame->len);
	/* Whole and byte by byte: the same refusal. */
	for (size_t chunk = b.len; chunk; chunk = chunk == 1 ? 0 : 1) {
		err[0] = 0;
		mig_parser_init(&p, side);
		assert_int_equal(parse(&p, b.data, b.len, chunk, s, 4, &nr), -EINVAL);
		if (!strstr(err, want))
			fail_msg("refused with \"%s\", expected \"%s\"", err, want);
		assert_int_equal(mig_parser_feed(&p, b.data, 1, &used, &m, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, "the migration stream was already refused");
		assert_int_equal(mig_parser_finish(&p, err, sizeof(err)), -EINVAL);
		mig_parser_free(&p);
	}
	snap_buf_free(&b);
}

static void refused_raw(uint32_t magic, uint16_t type, uint16_t flags, const void *payload,
			uint32_t len, bool bad_crc, const char *want)
{
	struct snap_buf f;

	snap_buf_init(&f);
	raw_frame(&f, magic, type, flags, payload, len, bad_crc);
	if (type == MIG_ACCEPT || type == MIG_ACK || type == MIG_REFUSE)
		expect_refused(MIG_AT_SOURCE, NOTHING, &f, want);
	else
		expect_refused(MIG_AT_DESTINATION, type == MIG_DONE ? HELLO_STATE : HELLO, &f, want);
	snap_buf_free(&f);
}

static void test_refuse_frame(void **state)
{
	uint8_t done[12] = { 0 };
	struct snap_buf f;
	(void)state;

	refused_raw(0x47494d57, MIG_DONE, 0, done, 12, false,
		    "not a vmon migration frame (magic 0x47494d57)");
	refused_raw(MIG_MAGIC, 9, 0, done, 12, false, "unknown migration message type 9");
	refused_raw(MIG_MAGIC, 0, 0, done, 0, false, "unknown migration message type 0");
	refused_raw(MIG_MAGIC, MIG_DONE, 1, done, 12, false,
		    "the DONE frame has reserved flags 0x1 set");
	refused_raw(MIG_MAGIC, MIG_STATE, 3, done, 12, false,
		    "the STATE frame has reserved flags 0x3 set");
	refused_raw(MIG_MAGIC, MIG_DONE, 0, done, 12, true,
		    "the DONE frame's CRC does not match its payload");
	/* Only the header is sent: the length is refused before any payload is waited for. */
	snap_buf_init(&f);
	snap_put_u32(&f, MIG_MAGIC);
	snap_put_u16(&f, MIG_STATE);
	snap_put_u16(&f, 0);
	snap_put_u32(&f, (uint32_t)MIG_MAX_PAYLOAD + 1);
	snap_put_u32(&f, 0);
	expect_refused(MIG_AT_DESTINATION, HELLO, &f,
		       "the STATE frame's payload of 4259841 bytes is over the limit of 4259840");
	snap_buf_free(&f);
}

static void refused_ram(uint64_t offset, uint32_t n, const void *rest, size_t rest_len,
			const char *want)
{
	struct snap_buf pl;

	snap_buf_init(&pl);
	snap_put_u64(&pl, offset);
	snap_put_u32(&pl, n);
	snap_put_bytes(&pl, rest, rest_len);
	refused_raw(MIG_MAGIC, MIG_RAM, 0, pl.data, (uint32_t)pl.len, false, want);
	snap_buf_free(&pl);
}

static void test_refuse_ram(void **state)
{
	static uint8_t body[2 + 2 * MIG_PAGE_SIZE];
	(void)state;

	refused_raw(MIG_MAGIC, MIG_RAM, 0, body, 11, false,
		    "the RAM message is 11 bytes, shorter than its header");
	refused_ram(0, 0, NULL, 0, "a RAM message with 0 pages is outside 1..1024");
	refused_ram(0, 1025, NULL, 0, "a RAM message with 1025 pages is outside 1..1024");
	refused_ram(100, 1, "\x01", 1, "the RAM offset 0x64 is not page-aligned");
	refused_ram(15 * MIG_PAGE_SIZE, 2, "\x03", 1,
		    "2 pages at RAM offset 0xf000 run past the guest RAM size of 0x10000");
	refused_ram(0xfffffffffffff000ULL, 2, "\x03", 1,
		    "2 pages at RAM offset 0xfffffffffffff000 run past");
	refused_ram(0, 9, "\xff", 1, "the RAM message is too short for its zero-page bitmap");
	refused_ram(0, 3, "\x0f", 1, "the RAM message's bitmap marks pages past its count");
	body[0] = 0x01; /* page 0 zero, page 1 has data: 12 + 1 + 4096 bytes */
	refused_ram(0, 2, body, 1, "the RAM message is 13 bytes, but its 2 pages (1 zero) make 4109");
	refused_ram(0, 2, body, 1 + 2 * MIG_PAGE_SIZE,
		    "the RAM message is 8205 bytes, but its 2 pages (1 zero) make 4109");
	refused_ram(0, 9, "\xff\x01\x00", 3, "the RAM message is 15 bytes, but its 9 pages");
}

static void test_refuse_payload(void **state)
{
	char text[MIG_MAX_TEXT + 1];
	(void)state;

	memset(text, 'x', sizeof(text));
	refused_raw(MIG_MAGIC, MIG_REFUSE, 0, text, MIG_MAX_TEXT + 1, false,
		    "the REFUSE text is 1025 bytes, outside 1..1024");
	refused_raw(MIG_MAGIC, MIG_ERROR, 0, text, 0, false,
		    "the ERROR text is 0 bytes, outside 1..1024");
	refused_raw(MIG_MAGIC, MIG_ERROR, 0, "a\0b", 3, false,
		    "the ERROR text is not UTF-8 without NULs");
	refused_raw(MIG_MAGIC, MIG_REFUSE, 0, "\xc0\xaf", 2, false,
		    "the REFUSE text is not UTF-8 without NULs");
	refused_raw(MIG_MAGIC, MIG_REFUSE, 0, "\xed\xa0\x80", 3, false, "not UTF-8");
	refused_raw(MIG_MAGIC, MIG_REFUSE, 0, "ok \xe2\x89", 5, false, "not UTF-8");
	refused_raw(MIG_MAGIC, MIG_ACCEPT, 0, "x", 1, false, "the ACCEPT message is 1 bytes, not 0");
	refused_raw(MIG_MAGIC, MIG_DONE, 0, text, 11, false, "the DONE message is 11 bytes, not 12");
	refused_raw(MIG_MAGIC, MIG_DONE, 0, "\x01\0\0\0\0\0\0\0\0\0\0\0", 12, false,
		    "DONE counts 1 pages, but the RAM messages held 0");
}

/* HELLO on its own: nothing comes before it. */
static void refused_hello(const void *payload, uint32_t len, const char *want)
{
	struct snap_buf f;

	snap_buf_init(&f);
	raw_frame(&f, MIG_MAGIC, MIG_HELLO, 0, payload, len, false);
	expect_refused(MIG_AT_DESTINATION, NOTHING, &f, want);
	snap_buf_free(&f);
}

static void test_refuse_hello(void **state)
{
	(void)state;
	refused_hello("\x01\0\0\0", 4, "the HELLO message is 4 bytes, shorter than its 16 fixed");
	refused_hello("\x02\0\0\0\0\0\x01\0\0\0\0\0\0\0\0\0", 16,
		      "the source speaks migration protocol version 2, not 1");
	refused_hello("\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16,
		      "the guest RAM size 0 in HELLO is not a non-zero multiple of 4096");
	refused_hello("\x01\0\0\0\x01\x10\0\0\0\0\0\0\0\0\0\0", 16,
		      "the guest RAM size 4097 in HELLO");
	refused_hello("\x01\0\0\0\0\x10\0\0\0\0\0\0\x02\0\0\0", 16, "HELLO has unknown flags 0x2");
}

static void test_refuse_order(void **state)
{
	struct snap_buf f;
	uint8_t page[MIG_PAGE_SIZE] = { 0 };
	(void)state;

	snap_buf_init(&f);
	/* After HELLO (expect_refused sends it) ... */
	assert_int_equal(mig_put_hello(&f, MiB, 0, NULL, 0), 0);
	expect_refused(MIG_AT_DESTINATION, HELLO, &f,
		       "a HELLO message came where the protocol allows RAM or STATE");
	f.len = 0;
	assert_int_equal(mig_put_done(&f, 0, 0), 0);
	expect_refused(MIG_AT_DESTINATION, HELLO, &f,
		       "a DONE message came where the protocol allows RAM or STATE");
	f.len = 0;
	assert_int_equal(mig_put_state(&f, "a", 1, true), 0);
	assert_int_equal(mig_put_ram(&f, 0, page, 1), 0);
	expect_refused(MIG_AT_DESTINATION, HELLO, &f,
		       "a RAM message came where the protocol allows the next STATE piece");
	f.len = 0;
	assert_int_equal(mig_put_state(&f, "a", 1, false), 0);
	assert_int_equal(mig_put_state(&f, "b", 1, false), 0);
	expect_refused(MIG_AT_DESTINATION, HELLO, &f, "a STATE message came where the protocol allows DONE");
	f.len = 0;
	assert_int_equal(mig_put_state(&f, "a", 1, false), 0);
	assert_int_equal(mig_put_done(&f, 0, 0), 0);
	assert_int_equal(mig_put_error(&f, "late"), 0);
	expect_refused(MIG_AT_DESTINATION, HELLO, &f,
		       "an ERROR message came where the protocol allows nothing more");
	f.len = 0;
	assert_int_equal(mig_put_accept(&f), 0);
	expect_refused(MIG_AT_DESTINATION, HELLO, &f, "allows RAM or STATE");
	/* ... and on the source's side. */
	f.len = 0;
	assert_int_equal(mig_put_ack(&f), 0);
	expect_refused(MIG_AT_SOURCE, NOTHING, &f, "an ACK message came where the protocol allows ACCEPT or REFUSE");
	f.len = 0;
	assert_int_equal(mig_put_accept(&f), 0);
	assert_int_equal(mig_put_accept(&f), 0);
	expect_refused(MIG_AT_SOURCE, NOTHING, &f, "an ACCEPT message came where the protocol allows ACK");
	f.len = 0;
	assert_int_equal(mig_put_refuse(&f, "no"), 0);
	assert_int_equal(mig_put_accept(&f), 0);
	expect_refused(MIG_AT_SOURCE, NOTHING, &f, "allows nothing more");
	f.len = 0;
	assert_int_equal(mig_put_hello(&f, MiB, 0, NULL, 0), 0);
	expect_refused(MIG_AT_SOURCE, NOTHING, &f, "a HELLO message came where the protocol allows ACCEPT");
	snap_buf_free(&f);
}

/* 16 full STATE pieces pass 64 MiB: the 16th is refused from its header. */
static void test_refuse_state_total(void **state)
{
	struct mig_parser p;
	struct snap_buf b;
	struct mig_msg m;
	size_t used;
	uint8_t *big = calloc(1, MIG_MAX_PAYLOAD);
	(void)state;

	snap_buf_init(&b);
	assert_int_equal(mig_put_hello(&b, MiB, 0, NULL, 0), 0);
	mig_parser_init(&p, MIG_AT_DESTINATION);
	assert_int_equal(mig_parser_feed(&p, b.data, b.len, &used, &m, err, sizeof(err)), 1);
	b.len = 0;
	assert_int_equal(mig_put_state(&b, big, MIG_MAX_PAYLOAD, true), 0);
	for (int i = 0; i < 15; i++)
		assert_int_equal(mig_parser_feed(&p, b.data, b.len, &used, &m, err, sizeof(err)), 1);
	assert_int_equal(mig_parser_feed(&p, b.data, b.len, &used, &m, err, sizeof(err)), -EINVAL);
	assert_int_equal(used, MIG_HEADER_SIZE);
	assert_string_equal(err, "the device state is over the limit of 67108864 bytes");
	mig_parser_free(&p);
	snap_buf_free(&b);
	free(big);
}

/* ---- the rest ------------------------------------------------------------------------- */

static void test_encoder_refuses(void **state)
{
	static uint8_t page[2][MIG_PAGE_SIZE];
	char text[MIG_MAX_TEXT + 2];
	struct snap_buf b;
	(void)state;

	memset(text, 'y', sizeof(text));
	text[MIG_MAX_TEXT + 1] = 0;
	snap_buf_init(&b);
	assert_int_equal(mig_put_ram(&b, 0, page, 0), -EINVAL);
	assert_int_equal(mig_put_ram(&b, 0, page, MIG_MAX_PAGES + 1), -EINVAL);
	assert_int_equal(mig_put_ram(&b, 512, page, 1), -EINVAL);
	assert_int_equal(mig_put_ram(&b, 0xfffffffffffff000ULL, page, 2), -EINVAL);
	assert_int_equal(mig_put_hello(&b, 0, 0, NULL, 0), -EINVAL);
	assert_int_equal(mig_put_hello(&b, 4097, 0, NULL, 0), -EINVAL);
	assert_int_equal(mig_put_hello(&b, 4096, 2, NULL, 0), -EINVAL);
	assert_int_equal(mig_put_hello(&b, 4096, 0, NULL, MIG_MAX_PAYLOAD), -EINVAL);
	assert_int_equal(mig_put_refuse(&b, ""), -EINVAL);
	assert_int_equal(mig_put_refuse(&b, text), -EINVAL);
	assert_int_equal(mig_put_error(&b, "\xff"), -EINVAL);
	assert_int_equal(mig_put_state(&b, NULL, MIG_MAX_PAYLOAD + 1, false), -EINVAL);
	assert_int_equal(mig_put_state_all(&b, NULL, MIG_MAX_STATE + 1), -EINVAL);
	assert_int_equal(b.len, 0);
	text[MIG_MAX_TEXT] = 0;
	assert_int_equal(mig_put_error(&b, text), 0);
	assert_int_equal(b.len, MIG_HEADER_SIZE + MIG_MAX_TEXT);
	snap_buf_free(&b);
}

static void test_page_is_zero(void **state)
{
	static uint8_t page[MIG_PAGE_SIZE + 8];
	(void)state;

	assert_true(mig_page_is_zero(page, MIG_PAGE_SIZE));
	assert_true(mig_page_is_zero(page + 3, MIG_PAGE_SIZE)); /* unaligned */
	page[MIG_PAGE_SIZE - 1] = 1;
	assert_false(mig_page_is_zero(page, MIG_PAGE_SIZE));
	assert_true(mig_page_is_zero(page, MIG_PAGE_SIZE - 8));
	page[MIG_PAGE_SIZE - 1] = 0;
	page[0] = 0x80;
	assert_false(mig_page_is_zero(page, MIG_PAGE_SIZE));
	assert_true(mig_page_is_zero(page + 1, 72));
}

static void test_legal_table(void **state)
{
	(void)state;
	assert_int_equal(mig_first_phase(MIG_AT_DESTINATION), MIG_WANT_HELLO);
	assert_int_equal(mig_first_phase(MIG_AT_SOURCE), MIG_WANT_REPLY);
	for (uint32_t t = 0; t <= 9; t++) {
		assert_int_equal(mig_legal(MIG_WANT_HELLO, t), t == MIG_HELLO || t == MIG_ERROR);
		assert_int_equal(mig_legal(MIG_WANT_RAM, t),
				 t == MIG_RAM || t == MIG_STATE || t == MIG_ERROR);
		assert_int_equal(mig_legal(MIG_WANT_STATE_MORE, t), t == MIG_STATE || t == MIG_ERROR);
		assert_int_equal(mig_legal(MIG_WANT_DONE, t), t == MIG_DONE || t == MIG_ERROR);
		assert_int_equal(mig_legal(MIG_WANT_REPLY, t),
				 t == MIG_ACCEPT || t == MIG_REFUSE || t == MIG_ERROR);
		assert_int_equal(mig_legal(MIG_WANT_ACK, t), t == MIG_ACK || t == MIG_ERROR);
		assert_false(mig_legal(MIG_FINISHED, t));
	}
	assert_string_equal(mig_type_name(MIG_STATE), "STATE");
	assert_string_equal(mig_type_name(0), "unknown");
	assert_string_equal(mig_type_name(99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_messages),
		cmocka_unit_test(test_local_stream),
		cmocka_unit_test(test_ram_roundtrip),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_state_split),
		cmocka_unit_test(test_any_chunking_same_messages),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_refuse_frame),
		cmocka_unit_test(test_refuse_ram),
		cmocka_unit_test(test_refuse_payload),
		cmocka_unit_test(test_refuse_hello),
		cmocka_unit_test(test_refuse_order),
		cmocka_unit_test(test_refuse_state_total),
		cmocka_unit_test(test_encoder_refuses),
		cmocka_unit_test(test_page_is_zero),
		cmocka_unit_test(test_legal_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
