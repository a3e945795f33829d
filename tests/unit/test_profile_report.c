/* The profiler's reports: symbol tables (kallsyms text, an ELF through libelf), counting, top.txt, folded stacks, the flame graph. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile/flamegraph.h"
#include "profile/report.h"

#define K 0xffffffff81000000ull

static const char kallsyms[] =
	"ffffffff81000000 T outer\n"
	"ffffffff81000100 t middle\n"
	"ffffffff81000100 T middle_alias\n"
	"ffffffff81000200 T leaf\n"
	"ffffffff81000280 D some_data\n"
	"ffffffff81000300 W weak_fn [mod]\n"
	"ffffffff81000400 T _etext\n";

static void load(struct symtab *t, const char *text)
{
	char err[256] = "";
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	assert_non_null(f);
	int ret = symtab_load_kallsyms(t, NULL, f, "test", err, sizeof(err));
	fclose(f);
	if (ret)
		fail_msg("kallsyms: %s", err);
}

static void test_kallsyms_lookup(void **state)
{
	struct symtab t;
	char buf[64];
	uint64_t off;
	(void)state;

	load(&t, kallsyms);
	assert_int_equal(t.nr, 5); /* one of the two at 0x100, no data symbol */
	assert_string_equal(symtab_lookup(&t, K + 0x5, &off)->name, "outer");
	assert_true(off == 5);
	assert_string_equal(symtab_lookup(&t, K + 0x1ff, NULL)->name, "middle");
	/* Sizes run to the next text symbol: data does not end a function. */
	assert_string_equal(symtab_lookup(&t, K + 0x2a0, NULL)->name, "leaf");
	assert_string_equal(symtab_lookup(&t, K + 0x3ff, NULL)->name, "weak_fn");
	assert_null(symtab_lookup(&t, K - 1, NULL));
	assert_null(symtab_lookup(&t, K + 0x400, NULL)); /* the last one has no size */
	assert_string_equal(symtab_format(&t, K + 0x21a, buf, sizeof(buf)), "leaf+0x1a");
	assert_string_equal(symtab_format(&t, 0x1000, buf, sizeof(buf)), "[unknown]");
	symtab_free(&t);
}

static void test_kallsyms_errors(void **state)
{
	struct symtab t;
	char err[256];
	const char *zeros = "0000000000000000 T a\n0000000000000000 t b\n";
	FILE *f = fmemopen((void *)zeros, strlen(zeros), "r");
	(void)state;

	assert_int_equal(symtab_load_kallsyms(&t, NULL, f, "kallsyms.txt", err, sizeof(err)), -EINVAL);
	fclose(f);
	assert_non_null(strstr(err, "every address is 0"));
	f = fmemopen((void *)"hello world\n", 12, "r");
	assert_int_equal(symtab_load_kallsyms(&t, NULL, f, "kallsyms.txt", err, sizeof(err)), -EINVAL);
	fclose(f);
	assert_non_null(strstr(err, "kallsyms.txt, line 1: not a kallsyms line"));
	assert_int_equal(symtab_load_kallsyms(&t, "/nonexistent/kallsyms", NULL, "x", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open the kallsyms file '/nonexistent/kallsyms'"));
}

/* A function of this very binary, found through its own symbol table. */
__attribute__((noinline)) int profile_test_marker(int x)
{
	return x * 3 + 1;
}

static void test_elf(void **state)
{
	struct symtab t;
	char err[512], junk[] = "/tmp/vmon-test-profile-XXXXXX";
	const struct symbol *s = NULL;
	uint64_t off;
	(void)state;

	assert_int_equal(symtab_load_elf(&t, "/proc/self/exe", err, sizeof(err)), 0);
	for (size_t i = 0; i < t.nr && !s; i++)
		if (!strcmp(t.syms[i].name, "profile_test_marker"))
			s = &t.syms[i];
	assert_non_null(s);
	assert_true(s->size > 0);
	assert_ptr_equal(symtab_lookup(&t, s->addr + s->size - 1, &off), s);
	assert_true(off == s->size - 1);
	for (size_t i = 1; i < t.nr; i++) /* sorted, one per address */
		assert_true(t.syms[i - 1].addr < t.syms[i].addr);
	symtab_free(&t);

	assert_int_equal(symtab_load_elf(&t, "/nonexistent/vmlinux", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open the vmlinux '/nonexistent/vmlinux': No such file"));
	int fd = mkstemp(junk);
	assert_true(fd >= 0 && write(fd, "not an elf at all", 17) == 17);
	close(fd);
	assert_true(symtab_load_elf(&t, junk, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "is not an ELF file"));
	unlink(junk);
}

static struct profile_sample ksample(uint32_t vcpu, uint64_t rip, int n, const uint64_t *frames)
{
	struct profile_sample s = { .vcpu = vcpu, .cpl = 0, .rip = rip, .nr_frames = (uint8_t)n };

	if (n)
		memcpy(s.frames, frames, (size_t)n * sizeof(*frames));
	return s;
}

/* Two vCPUs: leaf called from middle called from outer (twice), outer's own code, a user sample. */
static void fill(struct report *r, const struct symtab *t)
{
	const uint64_t chain[] = { K + 0x110, K + 0x20 };
	/* A return address right at a function's start belongs to the call before it: outer's
	 * last instruction (a call that never returns), not middle. */
	const uint64_t edge[] = { K + 0x100 };
	struct profile_sample s[] = {
		ksample(0, K + 0x205, 2, chain), ksample(1, K + 0x210, 2, chain),
		ksample(1, K + 0x10, 0, NULL), ksample(0, K + 0x205, 1, edge),
		{ .vcpu = 1, .cpl = 3, .rip = 0x401000 }, ksample(0, 0x1234, 0, NULL),
	};

	assert_int_equal(report_init(r, t, 2), 0);
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		assert_int_equal(report_add(r, &s[i]), 0);
	struct profile_sample bad = ksample(2, K, 0, NULL);
	assert_int_equal(report_add(r, &bad), -EINVAL);
}

static void test_report_counts(void **state)
{
	struct symtab t;
	struct report r;
	size_t len, n;
	FILE *f;
	char *buf;
	(void)state;

	load(&t, kallsyms);
	fill(&r, &t);
	assert_true(r.samples == 6 && r.kernel == 5 && r.user == 1 && r.walked == 3 && r.frames == 5);
	struct report_count **v = report_sorted(&r.funcs, &n, false);
	assert_int_equal(n, 4);
	assert_string_equal(v[0]->key, "leaf");
	assert_true(v[0]->count == 3 && v[0]->per_vcpu[0] == 2 && v[0]->per_vcpu[1] == 1);
	free(v);

	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(report_write_folded(&r, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "outer;leaf 1\n"));
	assert_non_null(strstr(buf, "outer;middle;leaf 2\n"));
	assert_non_null(strstr(buf, "outer 1\n"));
	assert_non_null(strstr(buf, "[user] 1\n"));
	assert_non_null(strstr(buf, "[unknown] 1\n"));
	assert_true(strstr(buf, "[unknown] 1\n") < strstr(buf, "outer 1\n")); /* sorted by stack */
	free(buf);

	f = open_memstream(&buf, &len);
	assert_int_equal(report_write_top(&r, f, "a title", 10, 5), 0);
	fclose(f);
	assert_true(!strncmp(buf, "a title\n", 8));
	assert_non_null(strstr(buf, "samples: 6, kernel 5 (83.3%), user 1 (16.7%)"));
	assert_non_null(strstr(buf, "3 of 5 kernel samples with a chain"));
	assert_non_null(strstr(buf, "  50.0%        3         2         1  leaf\n"));
	assert_non_null(strstr(buf, "  16.7%        1         0         1  [user]\n"));
	assert_non_null(strstr(buf, "  33.3%        2  leaf+0x5\n"));
	assert_non_null(strstr(buf, "[user] 0x401000\n"));
	free(buf);
	report_free(&r);
	symtab_free(&t);
}

static void test_report_leaf_only(void **state)
{
	struct symtab t;
	struct report r;
	char note[512];
	(void)state;

	load(&t, kallsyms);
	assert_int_equal(report_init(&r, &t, 1), 0);
	struct profile_sample s = ksample(0, K + 0x205, 0, NULL);
	assert_int_equal(report_add(&r, &s), 0);
	assert_non_null(strstr(report_stacks_note(&r, note, sizeof(note)), "only leaf samples"));
	report_free(&r);
	assert_int_equal(report_init(&r, &t, 1), 0);
	assert_non_null(strstr(report_stacks_note(&r, note, sizeof(note)), "no kernel samples"));
	report_free(&r);
	assert_int_equal(report_init(&r, &t, 0), -EINVAL);
	symtab_free(&t);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_flamegraph(void **state)
{
	struct symtab t;
	struct report r;
	size_t len, n;
	char *buf = NULL;
	(void)state;

	load(&t, kallsyms);
	fill(&r, &t);
	struct report_count **v = report_sorted(&r.stacks, &n, true);
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(flamegraph_write(f, v, n, "cpu <0> & \"more\""), 0);
	fclose(f);
	assert_true(!strncmp(buf, "<?xml version=\"1.0\"", 19));
	assert_non_null(strstr(buf, "xmlns=\"http://www.w3.org/2000/svg\""));
	assert_null(strstr(buf, "<script"));
	assert_non_null(strstr(buf, "cpu &lt;0&gt; &amp; &quot;more&quot;"));
	/* all, [unknown], [user], outer, middle, leaf (under middle), leaf (under outer). */
	assert_int_equal(count(buf, "<rect x=") - 1, 7); /* less the background */
	assert_int_equal(count(buf, "<title>"), 7);
	assert_non_null(strstr(buf, "<title>all (6 samples, 100.00%)</title><rect x=\"10.0\" y=\""));
	assert_non_null(strstr(buf, "width=\"1180.0\""));
	/* outer holds 4 of 6 samples: 4/6 of 1180 px; middle;leaf 2 of 6. */
	assert_non_null(strstr(buf, "<title>outer (4 samples, 66.67%)</title>"));
	assert_non_null(strstr(buf, "width=\"786.7\""));
	assert_non_null(strstr(buf, "<title>middle (2 samples, 33.33%)</title>"));
	assert_non_null(strstr(buf, "width=\"393.3\""));
	assert_non_null(strstr(buf, ">outer</text>"));
	assert_true(!strcmp(buf + len - 7, "</svg>\n"));
	free(buf);
	free(v);
	report_free(&r);
	symtab_free(&t);
}

static void test_xml_escape(void **state)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	(void)state;

	flamegraph_xml_escape(f, "a<b>&'\"\x01z");
	fclose(f);
	assert_string_equal(buf, "a&lt;b&gt;&amp;&apos;&quot;z");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kallsyms_lookup),
		cmocka_unit_test(test_kallsyms_errors),
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_report_counts),
		cmocka_unit_test(test_report_leaf_only),
		cmocka_unit_test(test_flamegraph),
		cmocka_unit_test(test_xml_escape),
	};
	return cmocka_run_group_tests_name("profile_report", tests, NULL, NULL);
}
