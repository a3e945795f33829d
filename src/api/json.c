/* Strict request bodies: every field known, typed and, where required, present. */
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DESER "An error occurred when deserializing the json body of a request: "

void api_fault(struct api_reply *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->fault, sizeof(r->fault), fmt, ap);
	va_end(ap);
}

void api_no_content(struct api_reply *r)
{
	r->status = 204;
}

void api_ok(struct api_reply *r, json_t *body)
{
	r->status = body ? 200 : 500;
	r->body = body;
	if (!body)
		snprintf(r->fault, sizeof(r->fault), "Out of memory.");
}

void api_deprecated(struct api_reply *r, const char *msg)
{
	r->deprecation = msg;
}

static const char *type_name(enum api_type t)
{
	static const char *const names[] = { "a string", "a boolean", "a non-negative integer",
					     "an object", "an array", "a value" };
	return names[t];
}

static bool type_ok(const json_t *v, enum api_type t)
{
	switch (t) {
	case T_STRING: return json_is_string(v);
	case T_BOOL: return json_is_boolean(v);
	case T_UINT: return json_is_integer(v) && json_integer_value(v) >= 0;
	case T_OBJECT: return json_is_object(v);
	case T_ARRAY: return json_is_array(v);
	case T_ANY: return true;
	}
	return false;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "map";
	case JSON_ARRAY: return "sequence";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return json_integer_value(v) < 0 ? "negative integer" : "integer";
	case JSON_REAL: return "floating point";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "value";
}

bool api_check(const json_t *obj, const struct api_field *fields, struct api_reply *r)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj)) {
		api_bad(r, DESER "invalid type: %s, expected a JSON object.", obj ? json_kind(obj) : "nothing");
		return false;
	}
	json_object_foreach((json_t *)obj, key, v) {
		const struct api_field *f = fields;
		while (f->name && strcmp(f->name, key))
			f++;
		if (!f->name) {
			char expected[512] = "";
			size_t n = 0;
			for (f = fields; f->name && n < sizeof(expected); f++)
				n += (size_t)snprintf(expected + n, sizeof(expected) - n, "%s`%s`",
						      f == fields ? "" : ", ", f->name);
			api_bad(r, DESER "unknown field `%.100s`, expected %s%s.", key,
				fields[0].name && fields[1].name ? "one of " : "", expected);
			return false;
		}
		/* null stands for "not given" on optional fields, as serde's Option does. */
		if (json_is_null(v) && !f->required)
			continue;
		if (!type_ok(v, f->type)) {
			api_bad(r, DESER "invalid type for `%s`: %s, expected %s.", key, json_kind(v),
				type_name(f->type));
			return false;
		}
	}
	for (const struct api_field *f = fields; f->name; f++) {
		if (f->required && !json_object_get(obj, f->name)) {
			api_bad(r, DESER "missing field `%s`.", f->name);
			return false;
		}
	}
	return true;
}

const char *api_str(const json_t *obj, const char *name, const char *def)
{
	const json_t *v = json_object_get(obj, name);
	return json_is_string(v) ? json_string_value(v) : def;
}

bool api_bool(const json_t *obj, const char *name, bool def)
{
	const json_t *v = json_object_get(obj, name);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

uint64_t api_uint(const json_t *obj, const char *name, uint64_t def)
{
	const json_t *v = json_object_get(obj, name);
	return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : def;
}

/* A string field that fits in len bytes with its NUL and has none inside; NULL and a fault if not. */
static const char *api_str_fits(const json_t *obj, const char *name, size_t len, struct api_reply *r)
{
	const char *s = api_str(obj, name, "");

	if (strlen(s) >= len) {
		api_bad(r, "The value of `%s` is too long (at most %zu bytes).", name, len - 1);
		return NULL;
	}
	if (strlen(s) != json_string_length(json_object_get(obj, name)) && *s) {
		api_bad(r, "The value of `%s` contains a NUL character.", name);
		return NULL;
	}
	return s;
}

bool api_copy(char *dst, size_t len, const json_t *obj, const char *name, struct api_reply *r)
{
	const char *s = api_str_fits(obj, name, len, r);

	if (!s)
		return false;
	memcpy(dst, s, strlen(s) + 1);
	return true;
}

bool api_dup(char **dst, size_t len, const json_t *obj, const char *name, struct api_reply *r)
{
	const char *s = api_str_fits(obj, name, len, r);

	if (!s)
		return false;
	if (config_set(dst, *s ? s : NULL)) {
		api_fault(r, 500, "Out of memory.");
		return false;
	}
	return true;
}

static const struct api_field bucket_fields[] = {
	{ "size", T_UINT, true },
	{ "one_time_burst", T_UINT, false },
	{ "refill_time", T_UINT, true },
	{ 0 },
};

static const struct api_field limiter_fields[] = {
	{ "bandwidth", T_OBJECT, false },
	{ "ops", T_OBJECT, false },
	{ 0 },
};

bool api_token_bucket(const json_t *v, struct token_bucket_spec *b, struct api_reply *r)
{
	memset(b, 0, sizeof(*b));
	if (!v || json_is_null(v))
		return true;
	if (!api_check(v, bucket_fields, r))
		return false;
	b->set = true;
	b->size = api_uint(v, "size", 0);
	b->one_time_burst = api_uint(v, "one_time_burst", 0);
	b->refill_time_ms = api_uint(v, "refill_time", 0);
	return true;
}

bool api_rate_limiter(const json_t *v, const char *what, struct rate_limiter_spec *out,
		      struct api_reply *r)
{
	memset(out, 0, sizeof(*out));
	if (!v || json_is_null(v))
		return true;
	if (!api_check(v, limiter_fields, r) ||
	    !api_token_bucket(json_object_get(v, "bandwidth"), &out->bandwidth, r) ||
	    !api_token_bucket(json_object_get(v, "ops"), &out->ops, r)) {
		size_t n = strlen(r->fault);
		snprintf(r->fault + n, sizeof(r->fault) - n, " (in %s)", what);
		return false;
	}
	out->set = true;
	return true;
}

static json_t *bucket_json(const struct token_bucket_spec *b)
{
	if (!b->set)
		return json_null();
	return json_pack("{s:I, s:I, s:I}", "size", (json_int_t)b->size, "one_time_burst",
			 (json_int_t)b->one_time_burst, "refill_time", (json_int_t)b->refill_time_ms);
}

json_t *api_rate_limiter_json(const struct rate_limiter_spec *rl)
{
	if (!rl->set)
		return json_null();
	return json_pack("{s:o, s:o}", "bandwidth", bucket_json(&rl->bandwidth), "ops",
			 bucket_json(&rl->ops));
}
