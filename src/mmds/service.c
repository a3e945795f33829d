/* One guest request to one MMDS response: V1/V2 token rules, GET paths, PUT of a token. */
#include "mmds/mmds.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_PATH "/latest/api/token"

int mmds_init(struct mmds *m, size_t limit, const char *instance_id)
{
	memset(m, 0, sizeof(*m));
	mmds_store_init(&m->store, limit);
	m->version = MMDS_V1;
	return mmds_tokens_init(&m->tokens, instance_id);
}

void mmds_free(struct mmds *m)
{
	mmds_store_free(&m->store);
}

static void text(struct mmds_response *rs, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void text(struct mmds_response *rs, int status, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	rs->status = n < 0 ? 500 : status;
	rs->json = false;
	rs->body = n < 0 ? NULL : s;
	rs->body_len = n < 0 ? 0 : (size_t)n;
}

/* The path as the data store names it: "//" folded (Firecracker's sanitize_uri). */
static bool is_token_path(const char *p)
{
	char buf[sizeof(TOKEN_PATH) + 1];
	size_t o = 0;

	for (; *p; p++) {
		if (*p == '/' && o && buf[o - 1] == '/')
			continue;
		if (o == sizeof(TOKEN_PATH))
			return false;
		buf[o++] = *p;
	}
	buf[o] = 0;
	return !strcmp(buf, TOKEN_PATH);
}

static void respond_get(struct mmds *m, const struct mmds_request *rq, struct mmds_response *rs)
{
	bool json = rq->accept_json && !m->imds_compat;
	int ret = mmds_store_get(&m->store, rq->path, json ? MMDS_FMT_JSON : MMDS_FMT_IMDS,
				 &rs->body, &rs->body_len);

	if (ret == -ENOENT)
		text(rs, 404, "Resource not found: %s.", rq->path);
	else if (ret == -ENOTSUP)
		text(rs, 501, "Cannot retrieve value. The value has an unsupported type.");
	else if (ret)
		text(rs, 500, "Out of memory.");
	else {
		rs->status = 200;
		rs->json = json;
	}
}

static void respond_put(struct mmds *m, const struct mmds_request *rq, uint64_t now_ms,
			struct mmds_response *rs)
{
	char tok[MMDS_TOKEN_LEN + 1], *end;
	unsigned long ttl;

	if (rq->forwarded_for) {
		text(rs, 400, "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
		return;
	}
	if (!is_token_path(rq->path)) {
		text(rs, 404, "Resource not found: %s.", rq->path);
		return;
	}
	if (!rq->has_ttl) {
		text(rs, 400, "Token time to live value not found. Use `X-metadata-token-ttl-seconds` "
			      "or `X-aws-ec2-metadata-token-ttl-seconds` header to specify the token's "
			      "lifetime.");
		return;
	}
	ttl = strtoul(rq->ttl, &end, 10);
	if (!rq->ttl[0] || *end || rq->ttl[0] == '-' || rq->ttl[0] == '+' || ttl > UINT32_MAX) {
		text(rs, 400, "Invalid header. Reason: Invalid value. Key:%s; Value:%s", rq->ttl_header,
		     rq->ttl);
		return;
	}
	if (mmds_token_new(&m->tokens, (uint32_t)ttl, now_ms, tok)) {
		text(rs, 400, "Invalid time to live value provided for token: %lu. Please provide a "
			      "value between %u and %u.", ttl, MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
		return;
	}
	text(rs, 200, "%s", tok);
	rs->ttl_header = rq->ttl_header;
	rs->ttl = (uint32_t)ttl;
}

void mmds_respond(struct mmds *m, const struct mmds_request *rq, uint64_t now_ms,
		  struct mmds_response *rs)
{
	memset(rs, 0, sizeof(*rs));
	m->rx_requests++;
	if (rq->method == MMDS_PUT) {
		respond_put(m, rq, now_ms, rs);
		return;
	}
	if (rq->method != MMDS_GET) {
		text(rs, 405, "Not allowed HTTP method.");
		rs->allow = true;
		return;
	}
	if (!rq->has_token)
		m->rx_no_token++;
	bool valid = rq->has_token && mmds_token_valid(&m->tokens, rq->token, strlen(rq->token), now_ms);
	if (rq->has_token && !valid)
		m->rx_invalid_token++;
	if (m->version == MMDS_V2 && !rq->has_token) {
		text(rs, 401, "No MMDS token provided. Use `X-metadata-token` or "
			      "`X-aws-ec2-metadata-token` header to specify the session token.");
		return;
	}
	if (m->version == MMDS_V2 && !valid) {
		text(rs, 401, "MMDS token not valid.");
		return;
	}
	respond_get(m, rq, rs);
}

ssize_t mmds_serve(struct mmds *m, const char *buf, size_t len, uint64_t now_ms, char **out,
		   size_t *out_len, bool *close)
{
	struct mmds_request rq;
	struct mmds_response rs;
	char err[256];
	int n = mmds_http_parse(buf, len, &rq, err, sizeof(err)), minor = 1;

	*out = NULL;
	*out_len = 0;
	*close = false;
	if (n == 0)
		return 0;
	if (n < 0) {
		memset(&rs, 0, sizeof(rs));
		if (n == -E2BIG)
			text(&rs, 413, "Request too large.");
		else
			text(&rs, 400, "%s", err);
		*close = true;
		n = (int)len;
	} else {
		mmds_respond(m, &rq, now_ms, &rs);
		*close = !rq.keep_alive;
		minor = rq.minor;
	}
	int ret = mmds_http_render(&rs, minor, !*close, out, out_len);
	mmds_response_free(&rs);
	if (ret) {
		*close = true;
		return (ssize_t)len;
	}
	return n;
}
