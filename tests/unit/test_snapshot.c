/* The snapshot format: writer/reader round trips and underflow, container build and parse. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/format.h"

static char err[256];

static void test_put_get_roundtrip(void **state)
{
	struct snap_buf b;
	struct snap_rd r;
	uint8_t raw[3];
	char s[16];
	(void)state;

	snap_buf_init(&b);
	snap_put_u8(&b, 0xa5);
	snap_put_u16(&b, 0x1234);
	snap_put_u32(&b, 0xdeadbeef);
	snap_put_u64(&b, 0x0102030405060708ULL);
	snap_put_bytes(&b, "xyz", 3);
	snap_put_str(&b, "com1");
	snap_put_str(&b, "");
	snap_put_u8(&b, 1);
	assert_int_equal(snap_buf_error(&b), 0);
	assert_int_equal(b.len, 1 + 2 + 4 + 8 + 3 + 8 + 4 + 1);
	/* Little-endian on the wire, whatever the host. */
	assert_memory_equal(b.data, "\xa5\x34\x12\xef\xbe\xad\xde\x08\x07", 9);
	assert_memory_equal(b.data + 18, "\x04\0\0\0com1", 8);

	snap_rd_init(&r, b.data, b.len);
	assert_int_equal(snap_get_u8(&r), 0xa5);
	assert_int_equal(snap_get_u16(&r), 0x1234);
	assert_int_equal(snap_get_u32(&r), 0xdeadbeef);
	assert_true(snap_get_u64(&r) == 0x0102030405060708ULL);
	snap_get_bytes(&r, raw, 3);
	assert_memory_equal(raw, "xyz", 3);
	snap_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "com1");
	snap_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "");
	assert_int_equal(snap_rd_left(&r), 1);
	assert_int_equal(snap_rd_end(&r), -EINVAL); /* a byte is left */
	assert_true(snap_get_bool(&r));
	assert_int_equal(snap_rd_end(&r), 0);
	snap_buf_free(&b);
	assert_null(b.data);
}

static void test_buf_grows(void **state)
{
	struct snap_buf b;
	(void)state;

	snap_buf_init(&b);
	for (uint32_t i = 0; i < 100000; i++)
		snap_put_u32(&b, i);
	assert_int_equal(snap_buf_error(&b), 0);
	assert_int_equal(b.len, 400000);
	assert_int_equal(get_le32(b.data + 4 * 77777), 77777);
	snap_buf_free(&b);
}

static void test_buf_failure_is_sticky(void **state)
{
	struct snap_buf b;
	static const uint8_t one = 1;
	(void)state;

	snap_buf_init(&b);
	snap_put_u32(&b, 7);
	/* A size no allocation can meet: remembered, and later puts are dropped. */
	snap_put_bytes(&b, &one, SIZE_MAX / 2);
	assert_int_equal(snap_buf_error(&b), -ENOMEM);
	snap_put_u8(&b, 1);
	assert_int_equal(b.len, 4);
	assert_int_equal(snap_buf_error(&b), -ENOMEM);
	snap_buf_free(&b);
	assert_int_equal(snap_buf_error(&b), 0);
}

static void test_reader_underflow(void **state)
{
	static const uint8_t bytes[] = { 1, 2, 3, 4, 5 };
	struct snap_rd r;
	uint8_t out[4] = { 9, 9, 9, 9 };
	char s[4] = "abc";
	(void)state;

	snap_rd_init(&r, bytes, 3);
	assert_int_equal(snap_get_u32(&r), 0); /* three bytes left: refused, zeros */
	assert_true(r.error);
	assert_int_equal(snap_get_u8(&r), 0);  /* sticky, though bytes remain */
	snap_get_bytes(&r, out, 2);
	assert_int_equal(out[0] | out[1], 0);
	assert_int_equal(snap_rd_left(&r), 0);
	assert_int_equal(snap_rd_end(&r), -EINVAL);

	/* A string longer than its destination; a string longer than the input. */
	snap_rd_init(&r, "\x04\0\0\0abcd", 8);
	snap_get_str(&r, s, sizeof(s));
	assert_true(r.error);
	assert_string_equal(s, "");
	snap_rd_init(&r, "\x03\0\0\0ab", 6);
	snap_get_str(&r, s, sizeof(s));
	assert_true(r.error);
	assert_string_equal(s, "");

	/* A bool is 0 or 1. */
	snap_rd_init(&r, "\x02", 1);
	assert_false(snap_get_bool(&r));
	assert_int_equal(snap_rd_end(&r), -EINVAL);

	/* An empty reader, even over NULL. */
	snap_rd_init(&r, NULL, 10);
	assert_int_equal(snap_rd_end(&r), 0);
	snap_get_bytes(&r, out, 0);
	assert_int_equal(snap_rd_end(&r), 0);
	assert_int_equal(snap_get_u16(&r), 0);
	assert_int_equal(snap_rd_end(&r), -EINVAL);
}

/* ---- container ----------------------------------------------------------------------- */

static void sample(struct snap_buf *b)
{
	struct snap_section secs[3] = {
		{ .id = "i8250-com1", .version = 1, .payload = (const uint8_t *)"hello", .len = 5 },
		{ .id = "vcpu0", .version = 7, .payload = (const uint8_t *)"registers!", .len = 10 },
		{ .id = "empty", .version = 2, .payload = NULL, .len = 0 },
	};

	snap_buf_init(b);
	assert_int_equal(snap_file_build(b, secs, 3, err, sizeof(err)), 0);
}

/* Offset of section i's header, walking the layout the way the format defines it. */
static size_t section_at(const uint8_t *p, unsigned int i)
{
	size_t off = SNAP_HEADER_SIZE;

	while (i--) {
		uint32_t idlen = get_le32(p + off);
		off += 4 + idlen + 4;
		off += 8 + 4 + get_le32(p + off); /* payload lengths here fit in 32 bits */
	}
	return off;
}

/* Parse must fail with -EINVAL and a message containing `want`. */
static void refused(const uint8_t *p, size_t len, const char *want)
{
	struct snap_file *f = malloc(sizeof(*f));

	err[0] = '\0';
	assert_int_equal(snap_file_parse(f, p, len, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
	assert_int_equal(f->nr, 0);
	free(f);
}

static void test_container_roundtrip(void **state)
{
	struct snap_buf b;
	struct snap_file *f = malloc(sizeof(*f));
	const struct snap_section *s;
	(void)state;

	sample(&b);
	assert_memory_equal(b.data, "VMONSNAP\x01\0\0\0\x03\0\0\0", 16);
	assert_int_equal(get_le32(b.data + 16), b.len);
	assert_int_equal(snap_file_parse(f, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(f->major, SNAP_FORMAT_MAJOR);
	assert_int_equal(f->nr, 3);
	assert_string_equal(f->sections[1].id, "vcpu0");
	s = snap_file_find(f, "vcpu0");
	assert_non_null(s);
	assert_int_equal(s->version, 7);
	assert_int_equal(s->len, 10);
	assert_memory_equal(s->payload, "registers!", 10);
	assert_true(s->payload > b.data && s->payload + s->len <= b.data + b.len);
	s = snap_file_find(f, "empty");
	assert_non_null(s);
	assert_int_equal(s->len, 0);
	assert_null(snap_file_find(f, "vcpu1"));
	assert_null(snap_file_find(f, ""));
	snap_buf_free(&b);

	/* No sections at all is a valid (header-only) file. */
	snap_buf_init(&b);
	assert_int_equal(snap_file_build(&b, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(b.len, SNAP_HEADER_SIZE);
	assert_int_equal(snap_file_parse(f, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(f->nr, 0);
	snap_buf_free(&b);
	free(f);
}

static void test_container_limits(void **state)
{
	struct snap_section *secs = calloc(SNAP_MAX_SECTIONS + 1, sizeof(*secs));
	struct snap_file *f = malloc(sizeof(*f));
	struct snap_buf b;
	(void)state;

	for (int i = 0; i <= SNAP_MAX_SECTIONS; i++) {
		snprintf(secs[i].id, sizeof(secs[i].id), "dev%d", i);
		secs[i].version = 1;
	}
	snap_buf_init(&b);
	assert_int_equal(snap_file_build(&b, secs, SNAP_MAX_SECTIONS + 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "limit"));
	assert_int_equal(snap_file_build(&b, secs, SNAP_MAX_SECTIONS, err, sizeof(err)), 0);
	assert_int_equal(snap_file_parse(f, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(f->nr, SNAP_MAX_SECTIONS);
	assert_non_null(snap_file_find(f, "dev255"));
	snap_buf_free(&b);

	/* What the parser would refuse is never written. */
	snap_buf_init(&b);
	strcpy(secs[1].id, "dev0");
	assert_int_equal(snap_file_build(&b, secs, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"dev0\" is given twice"));
	strcpy(secs[1].id, "has space");
	assert_int_equal(snap_file_build(&b, secs, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid id"));
	secs[1].id[0] = '\0';
	assert_int_equal(snap_file_build(&b, secs, 2, err, sizeof(err)), -EINVAL);
	strcpy(secs[1].id, "big");
	secs[1].payload = (const uint8_t *)secs;
	secs[1].len = SNAP_MAX_FILE;
	assert_int_equal(snap_file_build(&b, secs, 2, err, sizeof(err)), -EFBIG);
	assert_int_equal(b.len, 0);
	snap_buf_free(&b);
	free(secs);
	free(f);
}

static void test_container_refusals(void **state)
{
	struct snap_buf b;
	uint8_t *p;
	size_t s1;
	(void)state;

	sample(&b);
	p = malloc(b.len + 1);
	s1 = section_at(b.data, 1);

#define WITH(stmt) do { memcpy(p, b.data, b.len); stmt; } while (0)
	WITH(p[0] = 'X');
	refused(p, b.len, "not a vmon snapshot");
	refused((const uint8_t *)"hello", 5, "not a vmon snapshot");
	refused(p, 0, "empty");
	WITH(p[8] = 2);
	refused(p, b.len, "snapshot format 2.0 is newer");
	WITH(p[8] = 0);
	refused(p, b.len, "snapshot format 0.0");
	WITH(p[12] = 0x01; p[13] = 0x01); /* 257 sections */
	refused(p, b.len, "257 sections, more than the limit of 256");
	WITH(p[19] = 0x04; p[20] = 0x01); /* total 0x100_04xx: 64 MiB and change */
	refused(p, b.len, "more than the limit");
	refused(b.data, b.len - 1, "truncated");
	WITH(p[b.len] = 0);
	refused(p, b.len + 1, "1 bytes after its end");
	/* The second section's payload length grows past the end (file length unchanged). */
	WITH(p[s1 + 4 + 5 + 4] = 0xff);
	refused(p, b.len, "section \"vcpu0\" runs past the end");
	WITH(p[s1 + 4 + 5 + 4 + 8 + 4] ^= 0x01);
	refused(p, b.len, "section \"vcpu0\" is corrupt (CRC mismatch)");
	WITH(memcpy(p + s1 + 4, "empty", 5));
	refused(p, b.len, "section \"empty\" appears twice");
	/* Fewer sections declared than present: the rest is trailing garbage. */
	WITH(p[12] = 2);
	refused(p, b.len, "after its last section");
	WITH(p[12] = 4);
	refused(p, b.len, "truncated in the header of section 3");
	/* Ids: empty, too long, not printable, with a NUL inside. */
	WITH(memset(p + s1, 0, 4));
	refused(p, b.len, "section 1 has an id of 0 bytes");
	WITH(p[s1] = 32);
	refused(p, b.len, "section 1 has an id of 32 bytes");
	WITH(p[s1 + 4] = '\n');
	refused(p, b.len, "not printable");
	WITH(p[s1 + 5] = '\0');
	refused(p, b.len, "not printable");
#undef WITH
	free(p);
	snap_buf_free(&b);
}

/* Any one payload byte flipped is caught by its section's CRC, which names the section. */
static void test_crc_catches_every_flip(void **state)
{
	struct snap_buf b;
	size_t s0;
	(void)state;

	sample(&b);
	s0 = section_at(b.data, 0);
	for (size_t i = 0; i < 5; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b.data[s0 + 4 + 10 + 4 + 8 + 4 + i] ^= (uint8_t)(1 << bit);
			refused(b.data, b.len, "\"i8250-com1\" is corrupt (CRC mismatch)");
			b.data[s0 + 4 + 10 + 4 + 8 + 4 + i] ^= (uint8_t)(1 << bit);
		}
	}
	snap_buf_free(&b);
}

/* Every proper prefix of a file is refused as truncated, reading nothing beyond it. */
static void test_truncation_at_every_length(void **state)
{
	struct snap_buf b;
	(void)state;

	sample(&b);
	refused(b.data, 0, "empty");
	for (size_t len = 1; len < b.len; len++) {
		/* A private copy of exactly len bytes, so ASan sees any read past it. */
		uint8_t *p = malloc(len);
		memcpy(p, b.data, len);
		refused(p, len, "truncated");
		free(p);
	}
	snap_buf_free(&b);
}

/* Minor versions only add: an older reader accepts a newer minor. */
static void test_newer_minor_accepted(void **state)
{
	struct snap_file *f = malloc(sizeof(*f));
	struct snap_buf b;
	(void)state;

	sample(&b);
	b.data[10] = 9;
	assert_int_equal(snap_file_parse(f, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(f->minor, 9);
	snap_buf_free(&b);
	free(f);
}

static void test_id_valid(void **state)
{
	(void)state;
	assert_true(snap_id_valid("virtio-blk0"));
	assert_true(snap_id_valid("0123456789012345678901234567890")); /* 31 */
	assert_false(snap_id_valid("01234567890123456789012345678901"));
	assert_false(snap_id_valid(""));
	assert_false(snap_id_valid("a b"));
	assert_false(snap_id_valid("\x7f"));
	assert_false(snap_id_valid("caf\xc3\xa9"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_roundtrip),
		cmocka_unit_test(test_buf_grows),
		cmocka_unit_test(test_buf_failure_is_sticky),
		cmocka_unit_test(test_reader_underflow),
		cmocka_unit_test(test_container_roundtrip),
		cmocka_unit_test(test_container_limits),
		cmocka_unit_test(test_container_refusals),
		cmocka_unit_test(test_crc_catches_every_flip),
		cmocka_unit_test(test_truncation_at_every_length),
		cmocka_unit_test(test_newer_minor_accepted),
		cmocka_unit_test(test_id_valid),
	};
	return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
