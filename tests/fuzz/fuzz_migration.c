/* A migration stream as a hostile peer would send it, read by either side's parser. */
#include "fuzz.h"

#include <stdio.h>
#include <zlib.h>

#include "migration/stream.h"

/*
 * Input: one byte (bit 0: which side reads; the rest: a chunk size), then the stream.
 * The stream is parsed whole and in chunks; both must see the same messages and end alike.
 */
struct run {
	int ret;           /* the last feed's result, or finish()'s */
	unsigned int nr;   /* messages */
	uint32_t digest;   /* over every message's content */
	char err[256];
};

static volatile uint8_t sink;

static uint32_t digest_ram(const struct mig_msg *m, uint32_t d)
{
	struct mig_ram_iter it;
	const uint8_t *page;
	uint64_t off;

	mig_ram_iter_init(&it, m);
	while (mig_ram_next(&it, &off, &page)) {
		d = (uint32_t)crc32(d, (const uint8_t *)&off, sizeof(off));
		if (page) {
			d = (uint32_t)crc32(d, page, MIG_PAGE_SIZE);
			sink = page[MIG_PAGE_SIZE - 1]; /* the whole page is inside the frame */
		}
	}
	return d;
}

/* Encode what was decoded: a frame the encoder can write must come back byte for byte. */
static void check_reencodes(const struct mig_msg *m, const uint8_t *frame, size_t len)
{
	struct snap_buf b;
	int ret = 0;

	snap_buf_init(&b);
	switch (m->type) {
	case MIG_HELLO:
		ret = mig_put_hello(&b, m->hello.ram_size, m->hello.flags, m->hello.config,
				    m->hello.config_len);
		break;
	case MIG_ACCEPT:
		ret = mig_put_accept(&b);
		break;
	case MIG_ACK:
		ret = mig_put_ack(&b);
		break;
	case MIG_STATE:
		ret = mig_put_state(&b, m->state.data, m->state.len, m->state.more);
		break;
	case MIG_DONE:
		ret = mig_put_done(&b, m->done.pages, m->done.passes);
		break;
	default:
		snap_buf_free(&b);
		return; /* texts are not NUL-terminated; RAM may carry zero pages as data */
	}
	if (ret || b.len != len || memcmp(b.data, frame, len))
		abort();
	snap_buf_free(&b);
}

static uint32_t digest_msg(const struct mig_msg *m, uint32_t d)
{
	uint32_t head[2] = { m->type, m->flags };

	d = (uint32_t)crc32(d, (const uint8_t *)head, sizeof(head));
	switch (m->type) {
	case MIG_HELLO:
		return (uint32_t)crc32(d, m->hello.config, (uInt)m->hello.config_len) ^
		       (uint32_t)m->hello.ram_size;
	case MIG_REFUSE:
	case MIG_ERROR:
		return (uint32_t)crc32(d, (const uint8_t *)m->text.text, (uInt)m->text.len);
	case MIG_RAM:
		return digest_ram(m, d);
	case MIG_STATE:
		return (uint32_t)crc32(d, m->state.data, (uInt)m->state.len);
	case MIG_DONE:
		return d ^ (uint32_t)m->done.pages ^ m->done.passes;
	default:
		return d;
	}
}

static void parse(struct run *r, enum mig_side side, const uint8_t *data, size_t size,
		  size_t chunk, bool whole)
{
	struct mig_parser p;
	struct mig_msg m;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	mig_parser_init(&p, side);
	while (off < size) {
		size_t n = MIN(chunk, size - off), used;

		r->ret = mig_parser_feed(&p, data + off, n, &used, &m, r->err, sizeof(r->err));
		if (r->ret < 0 || used > n || (r->ret == 0 && used != n))
			break;
		if (r->ret == 1) {
			r->nr++;
			r->digest = digest_msg(&m, r->digest);
			if (whole)
				check_reencodes(&m, data + off, used);
		}
		off += used;
	}
	if (r->ret >= 0)
		r->ret = mig_parser_finish(&p, r->err, sizeof(r->err));
	if (r->ret < 0 && !r->err[0])
		abort(); /* every refusal says why */
	mig_parser_free(&p);
}

/* ---- seeds: VMON_FUZZ_WRITE_SEED=FILE (what a source sends), VMON_FUZZ_WRITE_REPLY_SEED. */

static void must(int ret)
{
	if (ret)
		abort();
}

/* Only a stream its parser reads to the end, message by message, makes a seed. */
static void write_file(const char *path, uint8_t side, const struct snap_buf *b,
		       unsigned int nr)
{
	struct run r;
	FILE *f;

	parse(&r, side & 1 ? MIG_AT_SOURCE : MIG_AT_DESTINATION, b->data, b->len, b->len, true);
	if (r.ret || r.nr != nr) {
		fprintf(stderr, "seed refused: %s\n", r.err);
		abort();
	}
	f = fopen(path, "wb");
	if (!f || fwrite(&side, 1, 1, f) != 1 || fwrite(b->data, 1, b->len, f) != b->len ||
	    fclose(f))
		abort();
}

static void write_seeds(const char *source, const char *reply)
{
	static uint8_t pages[6][MIG_PAGE_SIZE];
	struct snap_buf b;

	for (int i = 1; i < 6; i += 2)
		memset(pages[i], 0x40 + i, MIG_PAGE_SIZE);
	snap_buf_init(&b);
	must(mig_put_hello(&b, 32 * MIG_PAGE_SIZE, MIG_HELLO_LOCAL_MEMFD, "vm-config section", 17));
	must(mig_put_ram(&b, 0, pages, 6));
	must(mig_put_ram(&b, 31 * MIG_PAGE_SIZE, pages[1], 1));
	must(mig_put_state(&b, "device ", 7, true));
	must(mig_put_state(&b, "state", 5, false));
	must(mig_put_done(&b, 7, 2));
	if (source)
		write_file(source, (uint8_t)(MIG_AT_DESTINATION | 8 << 1), &b, 6);
	b.len = 0;
	must(mig_put_accept(&b));
	must(mig_put_ack(&b));
	if (reply)
		write_file(reply, (uint8_t)(MIG_AT_SOURCE | 3 << 1), &b, 2);
	snap_buf_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *source = getenv("VMON_FUZZ_WRITE_SEED");
	const char *reply = getenv("VMON_FUZZ_WRITE_REPLY_SEED");

	if (source || reply) {
		write_seeds(source, reply);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, pieces;
	enum mig_side side;
	size_t chunk;

	if (!size)
		return 0;
	side = data[0] & 1 ? MIG_AT_SOURCE : MIG_AT_DESTINATION;
	chunk = (size_t)(data[0] >> 1) + 1;
	parse(&whole, side, data + 1, size - 1, size, true);
	parse(&pieces, side, data + 1, size - 1, chunk, false);
	if (whole.ret != pieces.ret || whole.nr != pieces.nr || whole.digest != pieces.digest ||
	    strcmp(whole.err, pieces.err))
		abort();
	return 0;
}
