/* The profiler's pure parts on the vmon side: the sample line format, request bounds, the frame-pointer walk. */
#include "unit.h"

#include <string.h>

#include "profile/sample.h"
#include "profile/unwind.h"

static void test_sample_round_trip(void **state)
{
	struct profile_sample s = { .vcpu = 3, .cpl = 0, .nr_frames = 2, .rip = 0xffffffff812232a5ull,
				    .frames = { 0xffffffff812c5701ull, 0xffffffff81000010ull } }, t;
	char line[PROFILE_SAMPLE_LINE_MAX];
	(void)state;

	size_t n = profile_sample_format(&s, line, sizeof(line));
	assert_int_equal(n, strlen(line));
	assert_string_equal(line, "3 0 ffffffff812232a5 ffffffff812c5701 ffffffff81000010");
	assert_int_equal(profile_sample_parse(line, &t), 0);
	assert_int_equal(t.vcpu, 3);
	assert_int_equal(t.cpl, 0);
	assert_int_equal(t.nr_frames, 2);
	assert_true(t.rip == s.rip && t.frames[0] == s.frames[0] && t.frames[1] == s.frames[1]);
	/* A user sample is a leaf. */
	assert_int_equal(profile_sample_parse("0 3 401000", &t), 0);
	assert_int_equal(t.cpl, 3);
	assert_int_equal(t.nr_frames, 0);
	assert_true(t.rip == 0x401000);
	/* The deepest chain fits the line bound; too small a buffer is refused. */
	s.nr_frames = PROFILE_MAX_FRAMES;
	s.vcpu = UINT32_MAX;
	for (int i = 0; i < PROFILE_MAX_FRAMES; i++)
		s.frames[i] = UINT64_MAX;
	assert_true(profile_sample_format(&s, line, sizeof(line)) > 0);
	assert_int_equal(profile_sample_parse(line, &t), 0);
	assert_int_equal(t.nr_frames, PROFILE_MAX_FRAMES);
	assert_int_equal(profile_sample_format(&s, line, 100), 0);
}

static void test_sample_parse_rejects(void **state)
{
	struct profile_sample t;
	char many[PROFILE_SAMPLE_LINE_MAX + 32] = "0 0 1";
	(void)state;

	const char *bad[] = { "", "0", "0 0", "x 0 1", "0 4 1", "-1 0 1", "0 0 1 zz", "0 0 1 -2",
			      "0 0 10000000000000000", "0 0 1 2,", "0 1a 1", "4294967296 0 1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(profile_sample_parse(bad[i], &t), -EINVAL);
	for (int i = 0; i <= PROFILE_MAX_FRAMES; i++)
		strcat(many, " 1");
	assert_int_equal(profile_sample_parse(many, &t), -EINVAL);
}

static void test_request_bounds(void **state)
{
	char err[256];
	(void)state;

	assert_null(profile_check_request(1000, 5, err, sizeof(err)));
	assert_null(profile_check_request(PROFILE_MAX_HZ, PROFILE_MAX_SAMPLES / PROFILE_MAX_HZ, err, sizeof(err)));
	assert_non_null(strstr(profile_check_request(0, 5, err, sizeof(err)), "hz must be from 1 to 5000"));
	assert_non_null(strstr(profile_check_request(5001, 1, err, sizeof(err)), "not 5001"));
	assert_non_null(strstr(profile_check_request(100, 0, err, sizeof(err)), "seconds must be from 1 to 300, not 0"));
	assert_non_null(strstr(profile_check_request(100, 301, err, sizeof(err)), "not 301"));
	assert_non_null(strstr(profile_check_request(1000, 101, err, sizeof(err)), "at most 100000 samples"));
}

/* ---- the walk, over a fake guest memory of (address, word) pairs ------------------------ */

struct fake_mem {
	int n;
	uint64_t addr[32], val[32];
	int reads;
};

static int fake_read(void *opaque, uint64_t gva, uint64_t *val)
{
	struct fake_mem *m = opaque;

	m->reads++;
	for (int i = 0; i < m->n; i++)
		if (m->addr[i] == gva) {
			*val = m->val[i];
			return 0;
		}
	return -1;
}

static void put(struct fake_mem *m, uint64_t addr, uint64_t v)
{
	m->addr[m->n] = addr;
	m->val[m->n++] = v;
}

#define STACK 0xffffc90000010000ull
#define TEXT 0xffffffff81000000ull

/* A frame at rbp: the caller's rbp, then the return address. */
static void frame(struct fake_mem *m, uint64_t rbp, uint64_t next, uint64_t ret)
{
	put(m, rbp, next);
	put(m, rbp + 8, ret);
}

static void test_unwind_chain(void **state)
{
	struct fake_mem m = { 0 };
	uint64_t out[8];
	(void)state;

	frame(&m, STACK + 0x100, STACK + 0x180, TEXT + 0x11);
	frame(&m, STACK + 0x180, STACK + 0x200, TEXT + 0x22);
	frame(&m, STACK + 0x200, 0, TEXT + 0x33); /* the outermost frame: rbp 0 ends it */
	assert_int_equal(unwind_frame_pointers(STACK + 0x100, 48, true, 8, fake_read, &m, out), 3);
	assert_true(out[0] == TEXT + 0x11 && out[1] == TEXT + 0x22 && out[2] == TEXT + 0x33);
	/* The depth cap. */
	assert_int_equal(unwind_frame_pointers(STACK + 0x100, 48, true, 2, fake_read, &m, out), 2);
	/* No frame pointer at all. */
	assert_int_equal(unwind_frame_pointers(0, 48, true, 8, fake_read, &m, out), 0);
}

static void test_unwind_stops(void **state)
{
	struct fake_mem m = { 0 };
	uint64_t out[8];
	(void)state;

	/* A loop (next == rbp) and a step down stop after the frame's own return address. */
	frame(&m, STACK + 0x100, STACK + 0x100, TEXT + 1);
	assert_int_equal(unwind_frame_pointers(STACK + 0x100, 48, true, 8, fake_read, &m, out), 1);
	frame(&m, STACK + 0x300, STACK + 0x280, TEXT + 2);
	assert_int_equal(unwind_frame_pointers(STACK + 0x300, 48, true, 8, fake_read, &m, out), 1);
	/* Linux's interrupt frames are marked with bit 0: not followed. */
	frame(&m, STACK + 0x400, STACK + 0x481, TEXT + 3);
	frame(&m, STACK + 0x480, 0, TEXT + 4);
	assert_int_equal(unwind_frame_pointers(STACK + 0x400, 48, true, 8, fake_read, &m, out), 1);
	/* Unmapped: the next frame is not in the fake memory. */
	frame(&m, STACK + 0x500, STACK + 0x5000, TEXT + 5);
	assert_int_equal(unwind_frame_pointers(STACK + 0x500, 48, true, 8, fake_read, &m, out), 1);
	/* A return address of 0 or in user space ends it before it is recorded. */
	frame(&m, STACK + 0x600, STACK + 0x680, 0);
	assert_int_equal(unwind_frame_pointers(STACK + 0x600, 48, true, 8, fake_read, &m, out), 0);
	frame(&m, STACK + 0x700, STACK + 0x780, 0x401000);
	assert_int_equal(unwind_frame_pointers(STACK + 0x700, 48, true, 8, fake_read, &m, out), 0);
	/* A frame pointer that is not canonical, or in the user half, is never read. */
	m.reads = 0;
	assert_int_equal(unwind_frame_pointers(0xff00000000001000ull, 48, true, 8, fake_read, &m, out), 0);
	assert_int_equal(unwind_frame_pointers(0x00007fff00001000ull, 48, true, 8, fake_read, &m, out), 0);
	assert_int_equal(m.reads, 0);
	/* ... though without kernel_only a user-half chain is walked. */
	frame(&m, 0x7fff0000, 0x7fff0040, 0x401000);
	frame(&m, 0x7fff0040, 0, 0x402000);
	assert_int_equal(unwind_frame_pointers(0x7fff0000, 48, false, 8, fake_read, &m, out), 2);
}

static void test_canonical(void **state)
{
	(void)state;
	assert_true(unwind_canonical(0x00007fffffffffffull, 48));
	assert_true(unwind_canonical(0xffff800000000000ull, 48));
	assert_false(unwind_canonical(0x0000800000000000ull, 48));
	assert_false(unwind_canonical(0xfff0000000000000ull, 48));
	assert_true(unwind_canonical(0xff00000000000000ull, 57));
	assert_true(unwind_canonical(0x00ffffffffffffffull, 57));
	assert_false(unwind_canonical(0x0100000000000000ull, 57));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_round_trip),
		cmocka_unit_test(test_sample_parse_rejects),
		cmocka_unit_test(test_request_bounds),
		cmocka_unit_test(test_unwind_chain),
		cmocka_unit_test(test_unwind_stops),
		cmocka_unit_test(test_canonical),
	};
	return cmocka_run_group_tests_name("profile", tests, NULL, NULL);
}
