/* The MMDS data store: one JSON document, its size limit, path lookup and IMDS text. */
#include "mmds/mmds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void mmds_store_init(struct mmds_store *s, size_t limit)
{
	s->data = NULL;
	s->limit = limit;
}

void mmds_store_free(struct mmds_store *s)
{
	json_decref(s->data);
	s->data = NULL;
}

/* The length of the compact serialization, which is what the limit counts. */
static size_t json_size(const json_t *v)
{
	return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int store_replace(struct mmds_store *s, json_t *v)
{
	if (json_size(v) > s->limit) {
		json_decref(v);
		return -E2BIG;
	}
	json_decref(s->data);
	s->data = v;
	return 0;
}

int mmds_store_put(struct mmds_store *s, const json_t *data)
{
	json_t *v = json_deep_copy(data);

	return v ? store_replace(s, v) : -ENOMEM;
}

/* RFC 7396: objects merge key by key, null removes, anything else replaces. */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
	const char *key;
	json_t *val;

	if (!json_is_object(patch)) {
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
		if (!target)
			return NULL;
	}
	json_object_foreach((json_t *)patch, key, val) {
		if (json_is_null(val)) {
			json_object_del(target, key);
			continue;
		}
		json_t *cur = json_object_get(target, key);
		json_t *merged = merge_patch(cur ? json_incref(cur) : NULL, val);
		if (!merged || json_object_set_new(target, key, merged)) {
			json_decref(target);
			return NULL;
		}
	}
	return target;
}

int mmds_store_patch(struct mmds_store *s, const json_t *patch)
{
	if (!s->data)
		return -ENODATA;
	json_t *v = merge_patch(json_deep_copy(s->data), patch);
	return v ? store_replace(s, v) : -ENOMEM;
}

json_t *mmds_store_json(const struct mmds_store *s)
{
	return s->data ? json_deep_copy(s->data) : json_object();
}

/* One segment of a JSON pointer with ~1 -> '/' and ~0 -> '~'; false if an escape is bad. */
static bool pointer_segment(const char *p, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '~') {
			out[o++] = p[i];
			continue;
		}
		if (i + 1 == n || (p[i + 1] != '0' && p[i + 1] != '1'))
			return false;
		out[o++] = p[++i] == '0' ? '~' : '/';
	}
	out[o] = 0;
	return true;
}

/* RFC 6901 lookup, as serde_json's pointer(): "" is the document, arrays by index. */
static const json_t *lookup(const json_t *doc, const char *path)
{
	size_t len = strlen(path);
	char *seg = malloc(len + 1);
	const json_t *v = doc;

	if (!seg)
		return NULL;
	if (len && path[0] != '/')
		v = NULL;
	for (const char *p = path; v && *p == '/';) {
		const char *q = strchr(p + 1, '/');
		size_t n = q ? (size_t)(q - p - 1) : strlen(p + 1);

		if (!pointer_segment(p + 1, n, seg)) {
			v = NULL;
			break;
		}
		if (json_is_object(v)) {
			v = json_object_get(v, seg);
		} else if (json_is_array(v)) {
			char *end;
			unsigned long i = strtoul(seg, &end, 10);
			bool canon = *seg && !*end && (seg[0] != '0' || !seg[1]) && seg[0] != '+' &&
				     seg[0] != '-' && seg[0] != ' ';
			v = canon ? json_array_get(v, i) : NULL;
		} else {
			v = NULL;
		}
		p += 1 + n;
	}
	free(seg);
	return v;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Keys one a line in sorted order (Firecracker's map is a BTreeMap), a '/' after
 * sub-objects, no final newline (its format_imds).
 */
static int render_imds(const json_t *v, char **out, size_t *out_len)
{
	if (json_is_string(v)) {
		size_t n = json_string_length(v);
		*out = malloc(n + 1);
		if (!*out)
			return -ENOMEM;
		memcpy(*out, json_string_value(v), n);
		(*out)[n] = 0;
		*out_len = n;
		return 0;
	}
	if (!json_is_object(v))
		return -ENOTSUP;
	size_t cap = 1, len = 0, nk = 0, i = 0;
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)v, key, val) {
		cap += strlen(key) + 2;
		nk++;
	}
	const char **keys = malloc((nk ? nk : 1) * sizeof(*keys));
	char *s = malloc(cap);
	if (!s || !keys) {
		free(s);
		free(keys);
		return -ENOMEM;
	}
	json_object_foreach((json_t *)v, key, val)
		keys[i++] = key;
	qsort(keys, nk, sizeof(*keys), key_cmp);
	for (i = 0; i < nk; i++) {
		size_t k = strlen(keys[i]);
		if (len)
			s[len++] = '\n';
		memcpy(s + len, keys[i], k);
		len += k;
		if (json_is_object(json_object_get(v, keys[i])))
			s[len++] = '/';
	}
	s[len] = 0;
	free(keys);
	*out = s;
	*out_len = len;
	return 0;
}

int mmds_store_get(const struct mmds_store *s, const char *path, enum mmds_format fmt,
		   char **out, size_t *out_len)
{
	size_t n = strlen(path);
	char *p = malloc(n + 1), *w = p;
	const json_t *v;

	if (!p)
		return -ENOMEM;
	/* "//" folds to "/", and a trailing '/' names the object itself. */
	for (size_t i = 0; i < n; i++)
		if (path[i] != '/' || w == p || w[-1] != '/')
			*w++ = path[i];
	if (w > p && w[-1] == '/')
		w--;
	*w = 0;
	v = s->data ? lookup(s->data, p) : NULL;
	free(p);
	if (!v)
		return -ENOENT;
	if (fmt == MMDS_FMT_IMDS)
		return render_imds(v, out, out_len);
	*out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	if (!*out)
		return -ENOMEM;
	*out_len = strlen(*out);
	return 0;
}
