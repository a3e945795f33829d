/* Symbolised samples counted by function, address and stack; top.txt and stacks.folded. */
#include "profile/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
	return h;
}

static int map_init(struct report_map *m, int nr_vcpus)
{
	m->cap = 256;
	m->nr = 0;
	m->nr_vcpus = nr_vcpus;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	return m->slots ? 0 : -ENOMEM;
}

static struct report_count *map_slot(struct report_count *slots, size_t cap, const char *key)
{
	size_t i = hash(key) & (cap - 1);

	while (slots[i].key && strcmp(slots[i].key, key))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static int map_grow(struct report_map *m)
{
	size_t cap = m->cap * 2;
	struct report_count *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			*map_slot(slots, cap, m->slots[i].key) = m->slots[i];
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

/* Count key once (for vCPU `vcpu` where the map has columns). */
static int map_add(struct report_map *m, const char *key, int vcpu)
{
	if (2 * (m->nr + 1) > m->cap && map_grow(m))
		return -ENOMEM;
	struct report_count *c = map_slot(m->slots, m->cap, key);
	if (!c->key) {
		c->key = strdup(key);
		c->per_vcpu = m->nr_vcpus ? calloc((size_t)m->nr_vcpus, sizeof(uint64_t)) : NULL;
		if (!c->key || (m->nr_vcpus && !c->per_vcpu)) {
			free(c->key);
			free(c->per_vcpu);
			*c = (struct report_count){ 0 };
			return -ENOMEM;
		}
		m->nr++;
	}
	c->count++;
	if (c->per_vcpu)
		c->per_vcpu[vcpu]++;
	return 0;
}

static void map_free(struct report_map *m)
{
	for (size_t i = 0; m->slots && i < m->cap; i++) {
		free(m->slots[i].key);
		free(m->slots[i].per_vcpu);
	}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

int report_init(struct report *r, const struct symtab *syms, int nr_vcpus)
{
	memset(r, 0, sizeof(*r));
	if (nr_vcpus < 1 || nr_vcpus > 1024)
		return -EINVAL;
	r->syms = syms;
	r->nr_vcpus = nr_vcpus;
	if (map_init(&r->funcs, nr_vcpus) || map_init(&r->addrs, 0) || map_init(&r->stacks, 0)) {
		report_free(r);
		return -ENOMEM;
	}
	return 0;
}

/* A kernel address's function name, or [unknown]. */
static const char *func_name(const struct report *r, uint64_t addr)
{
	const struct symbol *s = symtab_lookup(r->syms, addr, NULL);

	return s ? s->name : REPORT_UNKNOWN;
}

/* Append name to the stack being built: ';' between frames. */
static size_t stack_push(char *buf, size_t at, size_t len, const char *name)
{
	int n = snprintf(buf + at, len - at, "%s%s", at ? ";" : "", name);

	return n < 0 || (size_t)n >= len - at ? len - 1 : at + (size_t)n;
}

int report_add(struct report *r, const struct profile_sample *s)
{
	static __thread char stack[PROFILE_MAX_FRAMES * 128 + 128];
	char addr[192];
	const char *leaf;
	size_t at = 0;

	if (s->vcpu >= (uint32_t)r->nr_vcpus)
		return -EINVAL;
	r->samples++;
	if (s->cpl == 3) {
		r->user++;
		leaf = REPORT_USER;
		snprintf(addr, sizeof(addr), REPORT_USER " 0x%" PRIx64, s->rip);
		at = stack_push(stack, 0, sizeof(stack), leaf);
	} else {
		r->kernel++;
		r->walked += s->nr_frames > 0;
		r->frames += s->nr_frames;
		leaf = func_name(r, s->rip);
		symtab_format(r->syms, s->rip, addr, sizeof(addr));
		/* A return address is past its call: the call itself is the byte before. */
		for (int i = s->nr_frames - 1; i >= 0; i--)
			at = stack_push(stack, at, sizeof(stack), func_name(r, s->frames[i] - 1));
		at = stack_push(stack, at, sizeof(stack), leaf);
	}
	int ret = map_add(&r->funcs, leaf, (int)s->vcpu);
	ret = ret ?: map_add(&r->addrs, addr, 0);
	ret = ret ?: map_add(&r->stacks, stack, 0);
	return ret;
}

static int by_count(const void *a, const void *b)
{
	const struct report_count *x = *(struct report_count *const *)a, *y = *(struct report_count *const *)b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int by_key(const void *a, const void *b)
{
	return strcmp((*(struct report_count *const *)a)->key, (*(struct report_count *const *)b)->key);
}

static struct report_count **collect(const struct report_map *m, size_t *n,
				     int (*cmp)(const void *, const void *))
{
	struct report_count **v = malloc((m->nr ? m->nr : 1) * sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			v[(*n)++] = &m->slots[i];
	qsort(v, *n, sizeof(*v), cmp);
	return v;
}

struct report_count **report_sorted(const struct report_map *m, size_t *n, bool by_name)
{
	return collect(m, n, by_name ? by_key : by_count);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

const char *report_stacks_note(const struct report *r, char *buf, size_t len)
{
	if (!r->kernel)
		snprintf(buf, len, "stacks: no kernel samples; user-mode samples are leaf only ([user])");
	else if (!r->walked)
		snprintf(buf, len, "stacks: only leaf samples, no kernel sample had a frame chain (a guest "
			 "kernel without frame pointers?); user-mode samples are leaf only ([user])");
	else
		snprintf(buf, len, "stacks: guest kernel stacks walked by frame pointer, %" PRIu64 " of %"
			 PRIu64 " kernel samples with a chain, %.1f frames deep on average (with the leaf); user-mode "
			 "samples are leaf only ([user])", r->walked, r->kernel,
			 (double)r->frames / (double)r->walked + 1);
	return buf;
}

static void write_funcs(const struct report *r, FILE *f, struct report_count **v, size_t n)
{
	fprintf(f, "%7s %8s", "self%", "samples");
	for (int c = 0; c < r->nr_vcpus; c++)
		fprintf(f, " %7s%-2d", "vcpu", c);
	fprintf(f, "  function\n");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%6.1f%% %8" PRIu64, pct(v[i]->count, r->samples), v[i]->count);
		for (int c = 0; c < r->nr_vcpus; c++)
			fprintf(f, " %9" PRIu64, v[i]->per_vcpu[c]);
		fprintf(f, "  %s\n", v[i]->key);
	}
}

int report_write_top(const struct report *r, FILE *f, const char *title, size_t rows, size_t addrs)
{
	char note[512];
	size_t n;
	struct report_count **v = report_sorted(&r->funcs, &n, false);

	if (!v)
		return -ENOMEM;
	if (title)
		fprintf(f, "%s\n", title);
	fprintf(f, "samples: %" PRIu64 ", kernel %" PRIu64 " (%.1f%%), user %" PRIu64 " (%.1f%%)\n",
		r->samples, r->kernel, pct(r->kernel, r->samples), r->user, pct(r->user, r->samples));
	fprintf(f, "%s\n\n", report_stacks_note(r, note, sizeof(note)));
	write_funcs(r, f, v, MIN(n, rows));
	free(v);
	if (addrs && (v = report_sorted(&r->addrs, &n, false))) {
		fprintf(f, "\n%7s %8s  hottest addresses\n", "self%", "samples");
		for (size_t i = 0; i < MIN(n, addrs); i++)
			fprintf(f, "%6.1f%% %8" PRIu64 "  %s\n", pct(v[i]->count, r->samples), v[i]->count,
				v[i]->key);
		free(v);
	}
	return ferror(f) ? -EIO : 0;
}

int report_write_folded(const struct report *r, FILE *f)
{
	size_t n;
	struct report_count **v = report_sorted(&r->stacks, &n, true);

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %" PRIu64 "\n", v[i]->key, v[i]->count);
	free(v);
	return ferror(f) ? -EIO : 0;
}

void report_free(struct report *r)
{
	map_free(&r->funcs);
	map_free(&r->addrs);
	map_free(&r->stacks);
}
