/*
 * MMDS's pure parts: the data store (put, merge patch, limit, lookup, IMDS text), tokens
 * (valid, expired, forged), the HTTP parser's refusals, and whole exchanges through
 * mmds_serve for V1 and V2 as Firecracker answers them.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"

#define DOC "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-123\",\"tags\":{\"a\":\"b\"},\"n\":5}}," \
	    "\"age\":43,\"list\":[\"x\",\"y\"],\"a~b/c\":\"esc\"}"

static json_t *parse(const char *s)
{
	json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
	assert_non_null(v);
	return v;
}

static void store_with_doc(struct mmds_store *s)
{
	json_t *v = parse(DOC);

	mmds_store_init(s, MMDS_DEFAULT_LIMIT);
	assert_int_equal(mmds_store_put(s, v), 0);
	json_decref(v);
}

static void expect_get(const struct mmds_store *s, const char *path, enum mmds_format f,
		       const char *want)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(mmds_store_get(s, path, f, &out, &len), 0);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	free(out);
}

static void test_store_get(void **state)
{
	struct mmds_store s;
	char *out = NULL;
	size_t len;

	(void)state;
	store_with_doc(&s);
	expect_get(&s, "/", MMDS_FMT_IMDS, "age\na~b/c\nlatest/\nlist");
	expect_get(&s, "/latest/meta-data/", MMDS_FMT_IMDS, "ami-id\nn\ntags/");
	expect_get(&s, "//latest//meta-data//ami-id", MMDS_FMT_IMDS, "ami-123");
	expect_get(&s, "/latest/meta-data/ami-id", MMDS_FMT_JSON, "\"ami-123\"");
	expect_get(&s, "/latest/meta-data/tags", MMDS_FMT_JSON, "{\"a\":\"b\"}");
	expect_get(&s, "/latest/meta-data/n", MMDS_FMT_JSON, "5");
	expect_get(&s, "/list/1", MMDS_FMT_JSON, "\"y\"");
	expect_get(&s, "/a~0b~1c", MMDS_FMT_IMDS, "esc");
	assert_int_equal(mmds_store_get(&s, "/latest/meta-data/n", MMDS_FMT_IMDS, &out, &len), -ENOTSUP);
	assert_int_equal(mmds_store_get(&s, "/list", MMDS_FMT_IMDS, &out, &len), -ENOTSUP);
	assert_int_equal(mmds_store_get(&s, "/nope", MMDS_FMT_JSON, &out, &len), -ENOENT);
	assert_int_equal(mmds_store_get(&s, "/list/01", MMDS_FMT_JSON, &out, &len), -ENOENT);
	assert_int_equal(mmds_store_get(&s, "/list/9", MMDS_FMT_JSON, &out, &len), -ENOENT);
	assert_int_equal(mmds_store_get(&s, "/age/x", MMDS_FMT_JSON, &out, &len), -ENOENT);
	assert_int_equal(mmds_store_get(&s, "/a~2b", MMDS_FMT_JSON, &out, &len), -ENOENT);
	mmds_store_free(&s);
}

static void test_store_patch_and_limit(void **state)
{
	struct mmds_store s;
	json_t *p, *all;
	char *dump;

	(void)state;
	mmds_store_init(&s, 40);
	p = parse("{\"a\":1}");
	assert_int_equal(mmds_store_patch(&s, p), -ENODATA); /* before any put */
	assert_int_equal(mmds_store_put(&s, p), 0);
	json_decref(p);
	/* RFC 7396: null removes, objects merge, others replace */
	p = parse("{\"a\":null,\"b\":{\"c\":2},\"d\":\"e\"}");
	assert_int_equal(mmds_store_patch(&s, p), 0);
	json_decref(p);
	p = parse("{\"b\":{\"f\":3}}");
	assert_int_equal(mmds_store_patch(&s, p), 0);
	json_decref(p);
	all = mmds_store_json(&s);
	dump = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(dump, "{\"b\":{\"c\":2,\"f\":3},\"d\":\"e\"}");
	free(dump);
	json_decref(all);
	/* over the limit: refused and the document kept */
	p = parse("{\"big\":\"0123456789012345678901234567890123456789\"}");
	assert_int_equal(mmds_store_patch(&s, p), -E2BIG);
	assert_int_equal(mmds_store_put(&s, p), -E2BIG);
	json_decref(p);
	expect_get(&s, "/d", MMDS_FMT_IMDS, "e");
	mmds_store_free(&s);

	mmds_store_init(&s, 10);
	all = mmds_store_json(&s);
	assert_true(json_is_object(all) && json_object_size(all) == 0);
	json_decref(all);
	mmds_store_free(&s);
}

static void test_tokens(void **state)
{
	struct mmds_tokens t, other;
	char tok[MMDS_TOKEN_LEN + 1], bad[MMDS_TOKEN_LEN + 1];

	(void)state;
	assert_int_equal(mmds_tokens_init(&t, "vm1"), 0);
	assert_int_equal(mmds_tokens_init(&other, "vm1"), 0);
	assert_int_equal(mmds_token_new(&t, 0, 1000, tok), -EINVAL);
	assert_int_equal(mmds_token_new(&t, MMDS_TOKEN_TTL_MAX + 1, 1000, tok), -EINVAL);
	assert_int_equal(mmds_token_new(&t, 1, 1000, tok), 0);
	assert_int_equal(strlen(tok), MMDS_TOKEN_LEN);
	assert_true(mmds_token_valid(&t, tok, strlen(tok), 1000));
	assert_true(mmds_token_valid(&t, tok, strlen(tok), 1999));
	assert_false(mmds_token_valid(&t, tok, strlen(tok), 2000)); /* expired */
	assert_false(mmds_token_valid(&other, tok, strlen(tok), 1000)); /* another key */
	memcpy(bad, tok, sizeof(bad));
	bad[20] = bad[20] == 'A' ? 'B' : 'A';
	assert_false(mmds_token_valid(&t, bad, strlen(bad), 1000));
	assert_false(mmds_token_valid(&t, tok, strlen(tok) - 1, 1000));
	assert_false(mmds_token_valid(&t, "", 0, 1000));
	memset(bad, ' ', MMDS_TOKEN_LEN);
	assert_false(mmds_token_valid(&t, bad, MMDS_TOKEN_LEN, 1000));
	assert_int_equal(mmds_token_new(&t, MMDS_TOKEN_TTL_MAX, 1000, tok), 0);
	assert_true(mmds_token_valid(&t, tok, strlen(tok), 1000 + MMDS_TOKEN_TTL_MAX * 1000ULL - 1));
}

static void test_http_parse(void **state)
{
	struct mmds_request rq;
	char err[256];
	const char *ok = "GET http://169.254.169.254/latest/meta-data?x=1 HTTP/1.1\r\nHost: a\r\n"
			 "Accept: application/json\r\nx-METADATA-token:  abc \r\nConnection: close\r\n\r\n";

	(void)state;
	assert_int_equal(mmds_http_parse(ok, strlen(ok), &rq, err, sizeof(err)), (int)strlen(ok));
	assert_int_equal(rq.method, MMDS_GET);
	assert_string_equal(rq.path, "/latest/meta-data");
	assert_true(rq.accept_json);
	assert_true(rq.has_token);
	assert_string_equal(rq.token, "abc");
	assert_false(rq.keep_alive);
	/* incomplete: every prefix asks for more */
	for (size_t n = 0; n < strlen(ok); n++)
		assert_int_equal(mmds_http_parse(ok, n, &rq, err, sizeof(err)), 0);

	const char *put = "PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n"
			  "Content-Length: 3\r\n\r\nabcGET";
	assert_int_equal(mmds_http_parse(put, strlen(put), &rq, err, sizeof(err)), (int)strlen(put) - 3);
	assert_int_equal(rq.method, MMDS_PUT);
	assert_true(rq.has_ttl);
	assert_string_equal(rq.ttl, "60");
	assert_string_equal(rq.ttl_header, "X-aws-ec2-metadata-token-ttl-seconds");
	assert_false(rq.keep_alive);
	assert_int_equal(mmds_http_parse(put, strlen(put) - 4, &rq, err, sizeof(err)), 0); /* body short */

	static const char *const bad[] = {
		"GET / HTTP/2.0\r\n\r\n", "GET  HTTP/1.1\r\n\r\n", "GET relative HTTP/1.1\r\n\r\n",
		" / HTTP/1.1\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
		"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\n: v\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mmds_http_parse(bad[i], strlen(bad[i]), &rq, err, sizeof(err)), -EINVAL);

	char *big = malloc(MMDS_HTTP_MAX_REQUEST + 1);
	memset(big, 'a', MMDS_HTTP_MAX_REQUEST);
	memcpy(big, "GET /", 5);
	assert_int_equal(mmds_http_parse(big, MMDS_HTTP_MAX_REQUEST, &rq, err, sizeof(err)), -E2BIG);
	free(big);
}

/* One request through mmds_serve: the status and the body. */
static int exchange(struct mmds *m, const char *req, uint64_t now, char *body, size_t cap)
{
	char *out;
	size_t len;
	bool close;
	int status = -1;
	ssize_t n = mmds_serve(m, req, strlen(req), now, &out, &len, &close);

	assert_true(n > 0);
	assert_non_null(out);
	assert_int_equal(sscanf(out, "HTTP/1.%*d %d", &status), 1);
	const char *b = strstr(out, "\r\n\r\n");
	assert_non_null(b);
	b += 4;
	size_t bl = len - (size_t)(b - out);
	assert_true(bl < cap);
	memcpy(body, b, bl);
	body[bl] = 0;
	free(out);
	return status;
}

static void test_service(void **state)
{
	struct mmds m;
	json_t *doc = parse(DOC);
	char body[512], req[512], tok[128];

	(void)state;
	assert_int_equal(mmds_init(&m, MMDS_DEFAULT_LIMIT, "vm"), 0);
	assert_int_equal(mmds_store_put(&m.store, doc), 0);
	json_decref(doc);

	/* V1: no token needed; text or JSON per Accept */
	assert_int_equal(exchange(&m, "GET /latest/meta-data/ HTTP/1.1\r\n\r\n", 0, body, sizeof(body)), 200);
	assert_string_equal(body, "ami-id\nn\ntags/");
	assert_int_equal(exchange(&m, "GET /latest/meta-data/tags HTTP/1.1\r\nAccept: application/json\r\n\r\n",
				  0, body, sizeof(body)), 200);
	assert_string_equal(body, "{\"a\":\"b\"}");
	assert_int_equal(exchange(&m, "GET /missing HTTP/1.1\r\n\r\n", 0, body, sizeof(body)), 404);
	assert_string_equal(body, "Resource not found: /missing.");
	assert_int_equal(exchange(&m, "GET /age HTTP/1.1\r\n\r\n", 0, body, sizeof(body)), 501);
	assert_int_equal(exchange(&m, "POST / HTTP/1.1\r\n\r\n", 0, body, sizeof(body)), 405);
	assert_int_equal(exchange(&m, "GET / HTTP/3.0\r\n\r\n", 0, body, sizeof(body)), 400);

	/* imds_compat: text whatever Accept says */
	m.imds_compat = true;
	assert_int_equal(exchange(&m, "GET /latest/meta-data/tags HTTP/1.1\r\nAccept: application/json\r\n\r\n",
				  0, body, sizeof(body)), 200);
	assert_string_equal(body, "a");
	m.imds_compat = false;

	/* V2: a token first */
	m.version = MMDS_V2;
	assert_int_equal(exchange(&m, "GET /age HTTP/1.1\r\n\r\n", 0, body, sizeof(body)), 401);
	assert_string_equal(body, "No MMDS token provided. Use `X-metadata-token` or "
				  "`X-aws-ec2-metadata-token` header to specify the session token.");
	assert_int_equal(exchange(&m, "PUT /latest/api/token HTTP/1.1\r\n\r\n", 0, body, sizeof(body)), 400);
	assert_int_equal(exchange(&m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 0\r\n\r\n",
				  0, body, sizeof(body)), 400);
	assert_string_equal(body, "Invalid time to live value provided for token: 0. Please provide a "
				  "value between 1 and 21600.");
	assert_int_equal(exchange(&m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: x\r\n\r\n",
				  0, body, sizeof(body)), 400);
	assert_int_equal(exchange(&m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 5\r\n"
				      "X-Forwarded-For: 1.2.3.4\r\n\r\n", 0, body, sizeof(body)), 400);
	assert_int_equal(exchange(&m, "PUT /other HTTP/1.1\r\nX-metadata-token-ttl-seconds: 5\r\n\r\n",
				  0, body, sizeof(body)), 404);
	assert_int_equal(exchange(&m, "PUT //latest//api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 5\r\n\r\n",
				  10000, tok, sizeof(tok)), 200);
	assert_int_equal(strlen(tok), MMDS_TOKEN_LEN);
	snprintf(req, sizeof(req), "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n", tok);
	assert_int_equal(exchange(&m, req, 14999, body, sizeof(body)), 200);
	assert_string_equal(body, "ami-123");
	assert_int_equal(exchange(&m, req, 15000, body, sizeof(body)), 401); /* expired */
	assert_string_equal(body, "MMDS token not valid.");
	assert_int_equal(exchange(&m, "GET /age HTTP/1.1\r\nX-metadata-token: wrong\r\n\r\n", 0, body,
				  sizeof(body)), 401);
	/* V1 takes a token but does not need a valid one */
	m.version = MMDS_V1;
	assert_int_equal(exchange(&m, "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: wrong\r\n\r\n",
				  0, body, sizeof(body)), 200);
	assert_true(m.rx_invalid_token >= 2);
	mmds_free(&m);
}

/* Pipelined requests: the first consumed alone, keep-alive kept; close on Connection: close. */
static void test_serve_pipeline(void **state)
{
	struct mmds m;
	const char *two = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.0\r\n\r\n";
	char *out;
	size_t len;
	bool close;

	(void)state;
	assert_int_equal(mmds_init(&m, MMDS_DEFAULT_LIMIT, "vm"), 0);
	assert_int_equal(mmds_serve(&m, two, strlen(two), 0, &out, &len, &close), 18);
	assert_false(close);
	assert_non_null(strstr(out, "Connection: keep-alive"));
	free(out);
	assert_int_equal(mmds_serve(&m, two + 18, strlen(two) - 18, 0, &out, &len, &close), 18);
	assert_true(close);
	free(out);
	assert_int_equal(mmds_serve(&m, "GET /", 5, 0, &out, &len, &close), 0);
	assert_null(out);
	mmds_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_get),
		cmocka_unit_test(test_store_patch_and_limit),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_http_parse),
		cmocka_unit_test(test_service),
		cmocka_unit_test(test_serve_pipeline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
