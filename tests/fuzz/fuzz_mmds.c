/*
 * MMDS's HTTP side as a hostile guest drives it: any bytes, served request after request
 * from one connection's buffer, against a store with a document, in V1 then V2. Every
 * answer must be a whole HTTP response whose Content-Length matches its body.
 */
#include "fuzz.h"

#include <stdio.h>

#include "mmds/mmds.h"

static struct mmds m;

static void check_response(const char *out, size_t len)
{
	const char *end = memmem(out, len, "\r\n\r\n", 4), *cl;
	char head[1024];
	size_t body, hl;

	if (len < 12 || memcmp(out, "HTTP/1.", 7) || !end || (hl = (size_t)(end - out)) >= sizeof(head))
		abort();
	memcpy(head, out, hl); /* the response is not NUL-terminated */
	head[hl] = 0;
	cl = strstr(head, "Content-Length: ");
	if (!cl || sscanf(cl + 16, "%zu", &body) != 1 || body != len - hl - 4)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;

	if (!init) {
		json_t *doc = json_loads("{\"latest\":{\"meta-data\":{\"a\":\"b\",\"n\":[1,{\"x\":null}]}},"
					 "\"s\":\"t\"}", 0, NULL);
		if (mmds_init(&m, MMDS_DEFAULT_LIMIT, "fuzz") || !doc || mmds_store_put(&m.store, doc))
			abort();
		json_decref(doc);
		init = true;
	}
	/* The first byte picks the version and the clock; the rest is the stream. */
	if (!size)
		return 0;
	m.version = data[0] & 1 ? MMDS_V2 : MMDS_V1;
	m.imds_compat = data[0] & 2;
	uint64_t now = (uint64_t)data[0] * 1000;
	const char *p = (const char *)data + 1;
	size_t left = size - 1;

	while (left) {
		char *out;
		size_t len;
		bool close;
		ssize_t n = mmds_serve(&m, p, left, now, &out, &len, &close);

		if (n < 0 || (size_t)n > left)
			abort();
		if (!n) {
			if (out)
				abort();
			break;
		}
		check_response(out, len);
		free(out);
		p += n;
		left -= (size_t)n;
		if (close)
			break;
	}
	return 0;
}
