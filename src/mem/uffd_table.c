/* The VMM-to-handler region table (Firecracker's GuestRegionUffdMapping JSON): encode, parse, check, look up. */
#include "mem/uffd_table.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static json_t *region_json(const struct uffd_region *r)
{
	/* Field order as serde writes Firecracker's struct, so the bytes match too. */
	return json_pack("{sIsIsIsIsI}",
			 "base_host_virt_addr", (json_int_t)r->base,
			 "size", (json_int_t)r->size,
			 "offset", (json_int_t)r->offset,
			 "page_size", (json_int_t)r->page_size,
			 "page_size_kib", (json_int_t)r->page_size);
}

char *uffd_table_encode(const struct uffd_region *r, int nr)
{
	json_t *arr = json_array();
	char *out = NULL;

	if (!arr)
		return NULL;
	for (int i = 0; i < nr; i++) {
		if (json_array_append_new(arr, region_json(&r[i])))
			goto out;
	}
	out = json_dumps(arr, JSON_COMPACT);
out:
	json_decref(arr);
	return out;
}

/* A non-negative integer field; *present says whether it was there at all. */
static int get_u64(json_t *obj, const char *key, uint64_t *out, bool *present)
{
	json_t *v = json_object_get(obj, key);

	*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int fail(char *err, size_t errlen, int i, const char *why)
{
	if (i < 0)
		snprintf(err, errlen, "region table: %s", why);
	else
		snprintf(err, errlen, "region table: region %d: %s", i, why);
	return -EINVAL;
}

/* page_size, or page_size_kib from Firecracker before the rename (bytes all the same). */
static int get_page_size(json_t *obj, uint64_t *out)
{
	uint64_t ps = 0, kib = 0;
	bool has_ps, has_kib;

	if (get_u64(obj, "page_size", &ps, &has_ps) || get_u64(obj, "page_size_kib", &kib, &has_kib))
		return -EINVAL;
	if (!has_ps && !has_kib)
		return -EINVAL;
	if (has_ps && has_kib && ps != kib)
		return -EINVAL;
	*out = has_ps ? ps : kib;
	return 0;
}

static int parse_region(json_t *obj, struct uffd_region *r, char *err, size_t errlen, int i)
{
	bool has_base, has_size, has_off;

	if (!json_is_object(obj))
		return fail(err, errlen, i, "not an object");
	if (get_u64(obj, "base_host_virt_addr", &r->base, &has_base) || !has_base)
		return fail(err, errlen, i, "base_host_virt_addr missing or not an unsigned integer");
	if (get_u64(obj, "size", &r->size, &has_size) || !has_size)
		return fail(err, errlen, i, "size missing or not an unsigned integer");
	if (get_u64(obj, "offset", &r->offset, &has_off) || !has_off)
		return fail(err, errlen, i, "offset missing or not an unsigned integer");
	if (get_page_size(obj, &r->page_size))
		return fail(err, errlen, i, "page_size missing, not an unsigned integer, "
			    "or different from page_size_kib");
	return 0;
}

static int check_region(const struct uffd_region *r, char *err, size_t errlen, int i)
{
	uint64_t ps = r->page_size;

	if (ps < 4096 || (ps & (ps - 1)))
		return fail(err, errlen, i, "page_size is not a power of two of at least 4096");
	if (r->size == 0 || r->size % ps || r->base % ps)
		return fail(err, errlen, i, "base or size is zero or not a multiple of page_size");
	if (r->base + r->size < r->base || r->offset + r->size < r->offset)
		return fail(err, errlen, i, "address or file range wraps around");
	return 0;
}

static bool overlaps(const struct uffd_region *a, const struct uffd_region *b)
{
	return a->base < b->base + b->size && b->base < a->base + a->size;
}

static int parse_array(struct uffd_table *t, json_t *arr, char *err, size_t errlen)
{
	size_t n = json_array_size(arr);

	if (!json_is_array(arr) || n == 0 || n > UFFD_MAX_REGIONS)
		return fail(err, errlen, -1, "not an array of 1 to 64 regions");
	t->nr = (int)n;
	for (int i = 0; i < t->nr; i++) {
		int ret = parse_region(json_array_get(arr, (size_t)i), &t->r[i], err, errlen, i);

		ret = ret ?: check_region(&t->r[i], err, errlen, i);
		if (ret)
			return ret;
		for (int j = 0; j < i; j++) {
			if (overlaps(&t->r[i], &t->r[j]))
				return fail(err, errlen, i, "overlaps an earlier region");
		}
	}
	return 0;
}

int uffd_table_parse(struct uffd_table *t, const char *json, size_t len, char *err,
		     size_t errlen)
{
	json_error_t jerr;
	json_t *arr = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	int ret;

	t->nr = 0;
	if (!arr) {
		snprintf(err, errlen, "region table is not JSON: %s", jerr.text);
		return -EINVAL;
	}
	ret = parse_array(t, arr, err, errlen);
	json_decref(arr);
	if (ret)
		t->nr = 0;
	return ret;
}

int uffd_table_check_file(const struct uffd_table *t, uint64_t file_size, char *err,
			  size_t errlen)
{
	for (int i = 0; i < t->nr; i++) {
		if (!range_fits(t->r[i].offset, t->r[i].size, file_size))
			return fail(err, errlen, i, "lies beyond the end of the memory file");
	}
	return 0;
}

const struct uffd_region *uffd_table_find(const struct uffd_table *t, uint64_t addr)
{
	for (int i = 0; i < t->nr; i++) {
		if (addr >= t->r[i].base && addr - t->r[i].base < t->r[i].size)
			return &t->r[i];
	}
	return NULL;
}
