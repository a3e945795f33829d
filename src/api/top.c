/* The live exit view's arithmetic and layout (api/top.h). */
#include "api/top.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIST_MAX 32
#define MAX_ROWS 64

struct out {
	char *p;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void say(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->len < o->cap ? o->cap - o->len : 0;

	va_start(ap, fmt);
	int n = vsnprintf(o->p + (o->len < o->cap ? o->len : o->cap), room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static unsigned long long u(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 ? (unsigned long long)v : 0;
}

/* after - before, never negative (a counter reset, e.g. a new VM, counts as 0). */
static unsigned long long delta(unsigned long long a, unsigned long long b)
{
	return a > b ? a - b : 0;
}

unsigned long long top_percentile_us(const unsigned long long *hist, int nr, double q)
{
	unsigned long long total = 0, seen = 0;

	for (int b = 0; b < nr; b++)
		total += hist[b];
	if (!total)
		return 0;
	for (int b = 0; b < nr; b++) {
		seen += hist[b];
		if ((double)seen >= q * (double)total)
			return b == nr - 1 ? 1ull << (b - 1) : 1ull << b;
	}
	return 1ull << (nr - 1);
}

struct row {
	const char *name;
	double rate;
	unsigned long long hist[HIST_MAX];
	int nr_hist;
};

static int by_rate(const void *a, const void *b)
{
	double x = ((const struct row *)a)->rate, y = ((const struct row *)b)->rate;

	return x < y ? 1 : x > y ? -1 : strcmp(((const struct row *)a)->name, ((const struct row *)b)->name);
}

/* The vCPU with this id in a metrics line's "vcpu" array, or NULL. */
static json_t *vcpu_by_id(json_t *line, json_int_t id)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(line, "vcpu"), i, v)
		if (json_integer_value(json_object_get(v, "id")) == id)
			return v;
	return NULL;
}

static struct row *row_for(struct row *rows, int *nr, const char *name)
{
	for (int i = 0; i < *nr; i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	if (*nr == MAX_ROWS)
		return NULL;
	rows[*nr] = (struct row){ .name = name };
	return &rows[(*nr)++];
}

static void exits(struct out *o, json_t *before, json_t *after, double dt)
{
	struct row rows[MAX_ROWS];
	int nr = 0;
	double total = 0;
	size_t i;
	json_t *v;

	say(o, "vCPU exits/s:");
	json_array_foreach(json_object_get(after, "vcpu"), i, v) {
		json_t *was = vcpu_by_id(before, json_integer_value(json_object_get(v, "id")));
		json_t *ex = json_object_get(v, "exits"), *hist = json_object_get(v, "handling_us_log2_histogram");
		const char *reason;
		json_t *n;
		double mine = 0;

		json_object_foreach(ex, reason, n) {
			struct row *r = row_for(rows, &nr, reason);
			unsigned long long d = delta(u(ex, reason), was ? u(json_object_get(was, "exits"), reason) : 0);
			json_t *h = json_object_get(hist, reason);
			json_t *hw = was ? json_object_get(json_object_get(was, "handling_us_log2_histogram"), reason) : NULL;

			mine += (double)d / dt;
			if (!r)
				continue;
			r->rate += (double)d / dt;
			for (size_t b = 0; b < json_array_size(h) && b < HIST_MAX; b++) {
				json_int_t a = json_integer_value(json_array_get(h, b));
				json_int_t z = json_integer_value(json_array_get(hw, b));
				r->hist[b] += delta((unsigned long long)(a > 0 ? a : 0), (unsigned long long)(z > 0 ? z : 0));
				if ((int)b + 1 > r->nr_hist)
					r->nr_hist = (int)b + 1;
			}
		}
		say(o, " vcpu%lld %.0f", (long long)json_integer_value(json_object_get(v, "id")), mine);
		total += mine;
	}
	say(o, ", all %.0f\n", total);
	qsort(rows, (size_t)nr, sizeof(rows[0]), by_rate);
	say(o, "  %-22s %10s %9s %9s\n", "reason", "per s", "p50 us<=", "p99 us<=");
	for (int r = 0; r < nr; r++) {
		if (rows[r].rate <= 0)
			continue;
		say(o, "  %-22s %10.0f %9llu %9llu\n", rows[r].name, rows[r].rate,
		    top_percentile_us(rows[r].hist, rows[r].nr_hist, 0.5),
		    top_percentile_us(rows[r].hist, rows[r].nr_hist, 0.99));
	}
}

/* The range of `bus` in `line` at this base, or NULL. */
static json_t *range_at(json_t *line, const char *bus, json_int_t base)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(json_object_get(line, bus), "ranges"), i, r)
		if (json_integer_value(json_object_get(r, "base")) == base)
			return r;
	return NULL;
}

static void ranges(struct out *o, json_t *before, json_t *after, const char *bus,
		   double dt)
{
	struct row rows[MAX_ROWS];
	int nr = 0, shown = 0;
	size_t i;
	json_t *r;
	json_t *a = json_object_get(after, bus);

	json_array_foreach(json_object_get(a, "ranges"), i, r) {
		if (nr == MAX_ROWS)
			break;
		json_t *was = range_at(before, bus, json_integer_value(json_object_get(r, "base")));
		rows[nr] = (struct row){ .name = json_string_value(json_object_get(r, "name")) ?: "?" };
		rows[nr].rate = (double)delta(u(r, "accesses"), was ? u(was, "accesses") : 0) / dt;
		rows[nr].hist[0] = u(r, "base");
		nr++;
	}
	qsort(rows, (size_t)nr, sizeof(rows[0]), by_rate);
	say(o, "%s accesses/s:", bus);
	for (int k = 0; k < nr && shown < TOP_MAX_RANGES; k++)
		if (rows[k].rate > 0)
			say(o, "%s %s@0x%llx %.0f", shown++ ? "," : "", rows[k].name, rows[k].hist[0], rows[k].rate);
	double unclaimed = (double)delta(u(a, "unclaimed"), u(json_object_get(before, bus), "unclaimed")) / dt;
	if (unclaimed > 0)
		say(o, "%s unclaimed %.0f", shown++ ? "," : "", unclaimed);
	say(o, "%s\n", shown ? "" : " none");
}

static void devices(struct out *o, json_t *before, json_t *after, double dt)
{
	const char *id;
	json_t *d;
	bool any = false;

	json_object_foreach(json_object_get(after, "devices"), id, d) {
		json_t *w = json_object_get(json_object_get(before, "devices"), id);
#define R(k) ((double)delta(u(d, k), u(w, k)) / dt)
		say(o, "%s  %-14s notify %.0f/s, irq %.0f/s, requests %.0f/s, to guest %.1f KB/s, "
		    "from guest %.1f KB/s%s\n", any ? "" : "devices:\n", id, R("queue_notifications"),
		    R("interrupts"), R("requests"), R("bytes_to_guest") / 1e3, R("bytes_from_guest") / 1e3,
		    R("errors") + R("dropped") > 0 ? " (errors or drops)" : "");
#undef R
		any = true;
	}
	json_t *ia = json_object_get(after, "interrupts"), *ib = json_object_get(before, "interrupts");
	const char *line;
	json_t *n;
	say(o, "legacy interrupts/s:");
	json_object_foreach(ia, line, n)
		say(o, " %s %.0f", line, (double)delta(u(ia, line), u(ib, line)) / dt);
	say(o, "\n");
}

size_t top_render(json_t *before, json_t *after, double dt, char *out, size_t outlen)
{
	struct out o = { .p = out, .cap = outlen };
	json_t *vmm = json_object_get(after, "vmm");

	if (outlen)
		out[0] = '\0';
	if (dt <= 0)
		dt = 1;
	say(&o, "vmon top: VM %s, RSS %.1f MiB, over %.1f s\n",
	    json_string_value(json_object_get(vmm, "state")) ?: "?", (double)u(vmm, "rss_kib") / 1024, dt);
	exits(&o, before, after, dt);
	ranges(&o, before, after, "pio", dt);
	ranges(&o, before, after, "mmio", dt);
	devices(&o, before, after, dt);
	return o.len;
}
