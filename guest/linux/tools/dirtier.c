/* dirtier: guest memory rewritten as fast as the CPU allows, plus a constant region that is checked. */
/*
 * For migration tests and benchmarks: a guest whose RAM keeps changing, and
 * proof that what it wrote survived the move. All of it runs at CPL3.
 *
 *   dirtier [dirty_mib [const_mib [seed]]]      defaults: 32, 4, 1
 *
 * The dirty buffer: every 4 KiB page is rewritten on every pass, filled with
 * one 64-bit value that depends on the seed, the pass and the page. Before a
 * page is rewritten its first word is compared with what the previous pass
 * stored there, so a page that a migration moved stale is seen
 * (`dirty-stale page N pass P BAD`, at most a few lines). About once a second:
 *   dirty-pass P rate R MBps         (P passes so far, R = 10^6 bytes/s dirtied)
 * The constant region is filled once from the seed (xorshift64) and its
 * checksum kept; about every 3 s it is summed again:
 *   dirty-sum XXXXXXXX ok | dirty-sum XXXXXXXX BAD
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define WORDS (PAGE / sizeof(uint64_t))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One line per write(2): stdio would buffer a pipe or a file. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[128];
	va_list ap;

	va_start(ap, fmt);
	int len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len > 0 && write(1, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1) < 0)
		exit(1);
}

static uint64_t page_value(uint64_t seed, uint64_t pass, uint64_t page)
{
	uint64_t v = seed * 0x9e3779b97f4a7c15ull ^ pass << 32 ^ page;

	v ^= v >> 29;
	return v * 0xbf58476d1ce4e5b9ull | 1; /* never 0: a zeroed page is stale */
}

static uint32_t region_sum(const uint64_t *w, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ w[i]) * 0x100000001b3ull;
	return (uint32_t)(h ^ h >> 32);
}

static void *map(size_t bytes)
{
	/* Populated in one system call: a fault per page costs ~1 ms of emulated guest kernel here. */
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED) {
		perror("dirtier: mmap");
		exit(1);
	}
	return p;
}

static void fill_page(uint64_t *p, uint64_t v)
{
	for (size_t i = 0; i < WORDS; i++)
		p[i] = v;
}

int main(int argc, char **argv)
{
	size_t dirty_mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 32;
	size_t const_mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 4;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
	size_t pages = dirty_mib << 20 >> 12, cwords = (const_mib << 20) / sizeof(uint64_t);
	uint64_t *buf = map(dirty_mib << 20 ?: PAGE), *cst = map(const_mib << 20 ?: PAGE);
	unsigned stale_lines = 0;

	uint64_t x = seed ? seed : 1;
	for (size_t i = 0; i < cwords; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		cst[i] = x;
	}
	uint32_t sum = region_sum(cst, cwords);
	for (size_t pg = 0; pg < pages; pg++)
		fill_page(buf + pg * WORDS, page_value(seed, 0, pg));
	say("dirtier: %zu MiB rewritten, %zu MiB constant (sum %08x), seed %llu\n",
	    dirty_mib, const_mib, sum, (unsigned long long)seed);

	uint64_t t_rate = now_ns(), t_sum = t_rate, pass_rate = 0;
	for (uint64_t pass = 1;; pass++) {
		for (size_t pg = 0; pg < pages; pg++) {
			uint64_t *p = buf + pg * WORDS;

			if (p[0] != page_value(seed, pass - 1, pg) && stale_lines < 8) {
				stale_lines++;
				say("dirty-stale page %zu pass %llu BAD\n", pg, (unsigned long long)pass);
			}
			fill_page(p, page_value(seed, pass, pg));
		}
		uint64_t t = now_ns();
		if (t - t_rate >= 1000000000u) {
			double mbps = (double)(pass - pass_rate) * (double)(dirty_mib << 20) * 1e3 / (double)(t - t_rate);
			say("dirty-pass %llu rate %.0f MBps\n", (unsigned long long)pass, mbps);
			t_rate = t, pass_rate = pass;
		}
		if (t - t_sum >= 3000000000u) {
			uint32_t s = region_sum(cst, cwords);
			say("dirty-sum %08x %s\n", s, s == sum ? "ok" : "BAD");
			t_sum = now_ns();
		}
	}
}
