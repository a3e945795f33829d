/* The region table a VMM sends its page-fault handler: Firecracker's exact bytes, parsing, checks. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/uffd_table.h"

static int parse(struct uffd_table *t, const char *json)
{
	char err[256] = "";
	int ret = uffd_table_parse(t, json, strlen(json), err, sizeof(err));

	if (ret)
		assert_true(strncmp(err, "region table", 12) == 0);
	return ret;
}

/* What Firecracker's serde_json writes for two regions, byte for byte. */
static void test_encode_matches_firecracker(void **state)
{
	struct uffd_region r[2] = {
		{ .base = 0x7f0000000000, .size = 3ULL << 30, .offset = 0, .page_size = 4096 },
		{ .base = 0x7f00c0000000, .size = 1ULL << 30, .offset = 3ULL << 30, .page_size = 4096 },
	};
	const char *want =
		"[{\"base_host_virt_addr\":139637976727552,\"size\":3221225472,\"offset\":0,"
		"\"page_size\":4096,\"page_size_kib\":4096},"
		"{\"base_host_virt_addr\":139641197953024,\"size\":1073741824,\"offset\":3221225472,"
		"\"page_size\":4096,\"page_size_kib\":4096}]";
	struct uffd_table t;
	char *got = uffd_table_encode(r, 2);
	(void)state;

	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(parse(&t, got), 0);
	assert_int_equal(t.nr, 2);
	assert_memory_equal(t.r, r, sizeof(r));
	free(got);
}

/* Before the rename Firecracker sent only page_size_kib (in bytes); its tests send only page_size. */
static void test_parse_either_page_size_field(void **state)
{
	struct uffd_table t;
	(void)state;

	assert_int_equal(parse(&t, "[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,"
				   "\"page_size_kib\":4096}]"), 0);
	assert_int_equal(t.r[0].page_size, 4096);
	assert_int_equal(parse(&t, "[{\"base_host_virt_addr\":2097152,\"size\":2097152,"
				   "\"offset\":4096,\"page_size\":2097152,\"future\":\"x\"}]"), 0);
	assert_int_equal(t.r[0].page_size, 2 * MiB);
	assert_int_equal(t.r[0].offset, 4096);
}

static void test_parse_rejects(void **state)
{
	static const char *bad[] = {
		"", "{", "{}", "[]", "[1]", "[{}]",
		"[{\"size\":4096,\"offset\":0,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":4096,\"offset\":0,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":4096,\"size\":4096,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0}]",
		"[{\"base_host_virt_addr\":-4096,\"size\":4096,\"offset\":0,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":\"4096\",\"size\":4096,\"offset\":0,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0.5,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":3000}]",
		"[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":2048}]",
		"[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":4096,"
		"\"page_size_kib\":4}]",
		"[{\"base_host_virt_addr\":4097,\"size\":4096,\"offset\":0,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":4096,\"size\":100,\"offset\":0,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":4096,\"size\":0,\"offset\":0,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":4096,"
		"\"size\":8192}]",
		/* the second region overlaps the first in the VMM's address space */
		"[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096},"
		"{\"base_host_virt_addr\":8192,\"size\":4096,\"offset\":8192,\"page_size\":4096}]",
		"[{\"base_host_virt_addr\":99999999999999999999,\"size\":4096,\"offset\":0,"
		"\"page_size\":4096}]",
	};
	struct uffd_table t;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (parse(&t, bad[i]) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(t.nr, 0);
	}
}

static void test_parse_region_limit(void **state)
{
	struct uffd_region r[UFFD_MAX_REGIONS + 1];
	struct uffd_table t;
	char *json;
	(void)state;

	for (int i = 0; i <= UFFD_MAX_REGIONS; i++)
		r[i] = (struct uffd_region){ .base = (uint64_t)(i + 1) << 20, .size = 4096,
					     .offset = (uint64_t)i * 4096, .page_size = 4096 };
	json = uffd_table_encode(r, UFFD_MAX_REGIONS);
	assert_true(strlen(json) < UFFD_TABLE_MAX_BYTES);
	assert_int_equal(parse(&t, json), 0);
	assert_int_equal(t.nr, UFFD_MAX_REGIONS);
	free(json);
	json = uffd_table_encode(r, UFFD_MAX_REGIONS + 1);
	assert_int_equal(parse(&t, json), -EINVAL);
	free(json);
}

static void test_check_file_and_find(void **state)
{
	struct uffd_table t;
	char err[256];
	(void)state;

	assert_int_equal(parse(&t, "[{\"base_host_virt_addr\":1048576,\"size\":8192,\"offset\":0,"
				   "\"page_size\":4096},{\"base_host_virt_addr\":4194304,\"size\":4096,"
				   "\"offset\":8192,\"page_size\":4096}]"), 0);
	assert_int_equal(uffd_table_check_file(&t, 12288, err, sizeof(err)), 0);
	assert_int_equal(uffd_table_check_file(&t, 12287, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "region 1"));
	assert_ptr_equal(uffd_table_find(&t, 1048576), &t.r[0]);
	assert_ptr_equal(uffd_table_find(&t, 1048576 + 8191), &t.r[0]);
	assert_null(uffd_table_find(&t, 1048576 + 8192));
	assert_null(uffd_table_find(&t, 1048575));
	assert_ptr_equal(uffd_table_find(&t, 4194304 + 4095), &t.r[1]);
	assert_null(uffd_table_find(&t, 4194304 + 4096));
	assert_null(uffd_table_find(&t, UINT64_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_matches_firecracker),
		cmocka_unit_test(test_parse_either_page_size_field),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_region_limit),
		cmocka_unit_test(test_check_file_and_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
