/* The flame graph: a tree of frames from folded stacks, drawn as SVG rectangles. */
#include "profile/flamegraph.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define FG_WIDTH 1200.0
#define FG_MARGIN 10.0
#define FG_FRAME 16.0
#define FG_TOP 44.0       /* room for the title and the subtitle */
#define FG_CHAR 7.0       /* the width of a 12-px monospace character, roughly */
#define FG_MIN_WIDTH 0.1  /* frames narrower than this (px) are left out */

struct fg_node {
	char *name;
	uint64_t count;
	struct fg_node *child, *last, *next;
};

static struct fg_node *node_new(const char *name, size_t len)
{
	struct fg_node *n = calloc(1, sizeof(*n));

	if (n && !(n->name = strndup(name, len))) {
		free(n);
		return NULL;
	}
	return n;
}

static struct fg_node *node_child(struct fg_node *parent, const char *name, size_t len)
{
	struct fg_node *c;

	for (c = parent->child; c; c = c->next)
		if (strlen(c->name) == len && !strncmp(c->name, name, len))
			return c;
	if (!(c = node_new(name, len)))
		return NULL;
	if (parent->last)
		parent->last->next = c;
	else
		parent->child = c;
	parent->last = c;
	return c;
}

static void node_free(struct fg_node *n)
{
	while (n) {
		struct fg_node *next = n->next;
		node_free(n->child);
		free(n->name);
		free(n);
		n = next;
	}
}

/* One stack into the tree: every frame on its path counts it. */
static int tree_add(struct fg_node *root, const char *stack, uint64_t count, int *depth)
{
	struct fg_node *at = root;
	int d = 0;

	root->count += count;
	for (const char *p = stack; *p;) {
		size_t len = strcspn(p, ";");
		if (!(at = node_child(at, p, len)))
			return -ENOMEM;
		at->count += count;
		d++;
		p += len + (p[len] == ';');
	}
	if (d > *depth)
		*depth = d;
	return 0;
}

void flamegraph_xml_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

/* Warm colours from the name, so a function has the same colour everywhere; user grey-blue. */
static void colour(const char *name, char *buf, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	if (!strcmp(name, REPORT_USER))
		snprintf(buf, len, "rgb(120,160,210)");
	else if (!strcmp(name, REPORT_UNKNOWN) || !strcmp(name, "all"))
		snprintf(buf, len, "rgb(190,190,190)");
	else
		snprintf(buf, len, "rgb(%u,%u,%u)", 205 + (unsigned)(h % 50),
			 (unsigned)((h >> 8) % 230), (unsigned)((h >> 16) % 55));
}

struct fg_ctx {
	FILE *f;
	double scale;   /* px per sample */
	double height;
	uint64_t total;
};

static void draw(const struct fg_ctx *c, const struct fg_node *n, int depth, double x)
{
	double w = (double)n->count * c->scale;
	double y = c->height - FG_MARGIN - (depth + 1) * FG_FRAME;
	char fill[32];

	if (w < FG_MIN_WIDTH)
		return;
	colour(n->name, fill, sizeof(fill));
	fputs("<g><title>", c->f);
	flamegraph_xml_escape(c->f, n->name);
	fprintf(c->f, " (%" PRIu64 " samples, %.2f%%)</title>", n->count,
		100.0 * (double)n->count / (double)c->total);
	fprintf(c->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" rx=\"2\"/>",
		x, y, w, FG_FRAME - 1, fill);
	size_t fit = w > 3 * FG_CHAR ? (size_t)((w - 6) / FG_CHAR) : 0;
	if (fit >= 2) {
		char label[256];
		size_t len = strlen(n->name);
		if (len > fit)
			snprintf(label, sizeof(label), "%.*s..", (int)MIN(fit - 2, sizeof(label) - 3), n->name);
		else
			snprintf(label, sizeof(label), "%s", n->name);
		fprintf(c->f, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + FG_FRAME - 4.5);
		flamegraph_xml_escape(c->f, label);
		fputs("</text>", c->f);
	}
	fputs("</g>\n", c->f);
	for (const struct fg_node *k = n->child; k; k = k->next) {
		draw(c, k, depth + 1, x);
		x += (double)k->count * c->scale;
	}
}

int flamegraph_write(FILE *f, struct report_count *const *stacks, size_t n, const char *title)
{
	struct fg_node *root = node_new("all", 3);
	int depth = 0, ret = 0;

	if (!root)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < n; i++)
		ret = tree_add(root, stacks[i]->key, stacks[i]->count, &depth);
	if (ret) {
		node_free(root);
		return ret;
	}
	struct fg_ctx c = {
		.f = f,
		.scale = root->count ? (FG_WIDTH - 2 * FG_MARGIN) / (double)root->count : 0,
		.height = FG_TOP + (depth + 1) * FG_FRAME + 2 * FG_MARGIN,
		.total = root->count,
	};
	fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\">\n"
		"<style>text { font-family: monospace; font-size: 12px; fill: rgb(0,0,0); } "
		".title { font-size: 17px; text-anchor: middle; } .sub { fill: rgb(90,90,90); text-anchor: middle; }</style>\n"
		"<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"rgb(250,250,238)\"/>\n"
		"<text class=\"title\" x=\"%.0f\" y=\"22\">", FG_WIDTH, c.height, FG_WIDTH, c.height,
		FG_WIDTH / 2);
	flamegraph_xml_escape(f, title ? title : "Flame graph");
	fprintf(f, "</text>\n<text class=\"sub\" x=\"%.0f\" y=\"38\">%" PRIu64 " samples; hover over a "
		"frame for its name and share</text>\n", FG_WIDTH / 2, root->count);
	if (root->count)
		draw(&c, root, 0, FG_MARGIN);
	fputs("</svg>\n", f);
	node_free(root);
	return ferror(f) ? -EIO : 0;
}
