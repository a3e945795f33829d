/* The guest side of MMDS's HTTP: one request parsed from a buffer, one response rendered. */
#include "mmds/mmds.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The end of the line starting at p (its CR), or NULL if the CRLF is not in [p, end). */
static const char *line_end(const char *p, const char *end)
{
	for (const char *q = p; q + 1 < end; q++)
		if (q[0] == '\r' && q[1] == '\n')
			return q;
	return NULL;
}

static bool token_char(char c)
{
	return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* "GET /path HTTP/1.1": method, absolute path (an absolute URI's host cut), minor version. */
static int parse_request_line(const char *p, size_t n, struct mmds_request *rq, char *err,
			      size_t errlen)
{
	const char *sp1 = memchr(p, ' ', n), *sp2, *uri, *uend, *path;

	if (!sp1 || sp1 == p)
		return bad(err, errlen, "Invalid HTTP method.");
	for (const char *c = p; c < sp1; c++)
		if (!token_char(*c))
			return bad(err, errlen, "Invalid HTTP method.");
	size_t ml = (size_t)(sp1 - p);
	rq->method = ml == 3 && !memcmp(p, "GET", 3) ? MMDS_GET :
		     ml == 3 && !memcmp(p, "PUT", 3) ? MMDS_PUT : MMDS_OTHER;
	uri = sp1 + 1;
	sp2 = memchr(uri, ' ', (size_t)(p + n - uri));
	if (!sp2)
		return bad(err, errlen, "Invalid HTTP version.");
	if ((size_t)(p + n - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return bad(err, errlen, "Unsupported HTTP version.");
	rq->minor = sp2[8] - '0';
	uend = uri;
	while (uend < sp2 && *uend != '?' && *uend != '#')
		uend++;
	path = uri;
	if ((size_t)(uend - uri) >= 7 && !strncasecmp(uri, "http://", 7)) {
		path = memchr(uri + 7, '/', (size_t)(uend - uri - 7));
		if (!path)
			path = uend;
	}
	if (path == uend || *path != '/')
		return bad(err, errlen, "Invalid URI.");
	for (const char *c = path; c < uend; c++)
		if ((unsigned char)*c <= 32 || (unsigned char)*c >= 127)
			return bad(err, errlen, "Invalid URI.");
	if ((size_t)(uend - path) >= sizeof(rq->path))
		return bad(err, errlen, "Invalid URI.");
	memcpy(rq->path, path, (size_t)(uend - path));
	rq->path[uend - path] = 0;
	return 0;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && !strncasecmp(name, want, n);
}

static int copy_value(char *dst, size_t cap, const char *v, size_t n, char *err, size_t errlen)
{
	if (n >= cap)
		return bad(err, errlen, "Invalid value for header: too long.");
	memcpy(dst, v, n);
	dst[n] = 0;
	return 0;
}

/* One "Name: value" line; *clen gets Content-Length. */
static int parse_header(const char *p, size_t n, struct mmds_request *rq, long *clen, char *err,
			size_t errlen)
{
	const char *colon = memchr(p, ':', n), *v, *ve = p + n;

	if (!colon || colon == p)
		return bad(err, errlen, "Invalid header line.");
	for (const char *c = p; c < colon; c++)
		if (!token_char(*c))
			return bad(err, errlen, "Invalid header name.");
	size_t nl = (size_t)(colon - p);
	for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
		;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	size_t vl = (size_t)(ve - v);
	for (const char *c = v; c < ve; c++)
		if ((unsigned char)*c < 32 && *c != '\t')
			return bad(err, errlen, "Invalid header value.");

	if (name_is(p, nl, "Content-Length")) {
		char num[24], *end;
		if (copy_value(num, sizeof(num), v, vl, err, errlen) || !vl || num[0] == '-' || num[0] == '+')
			return bad(err, errlen, "Invalid value. Key:Content-Length; Value:%.*s", (int)MIN(vl, 32u), v);
		*clen = strtol(num, &end, 10);
		if (*end || *clen < 0 || *clen > MMDS_HTTP_MAX_REQUEST)
			return bad(err, errlen, "Invalid value. Key:Content-Length; Value:%.*s", (int)MIN(vl, 32u), v);
	} else if (name_is(p, nl, "Transfer-Encoding")) {
		return bad(err, errlen, "Unsupported header value. Key:Transfer-Encoding");
	} else if (name_is(p, nl, "Accept")) {
		/* Firecracker's micro_http: application/json, else text/plain */
		rq->accept_json = vl >= 16 && !strncasecmp(v, "application/json", 16);
	} else if (name_is(p, nl, "Connection")) {
		if (vl == 5 && !strncasecmp(v, "close", 5))
			rq->keep_alive = false;
		else if (vl == 10 && !strncasecmp(v, "keep-alive", 10))
			rq->keep_alive = true;
	} else if (name_is(p, nl, "X-metadata-token") || name_is(p, nl, "X-aws-ec2-metadata-token")) {
		rq->has_token = true;
		return copy_value(rq->token, sizeof(rq->token), v, vl, err, errlen);
	} else if (name_is(p, nl, "X-metadata-token-ttl-seconds") ||
		   name_is(p, nl, "X-aws-ec2-metadata-token-ttl-seconds")) {
		rq->has_ttl = true;
		rq->ttl_header = nl == 28 ? "X-metadata-token-ttl-seconds" : "X-aws-ec2-metadata-token-ttl-seconds";
		return copy_value(rq->ttl, sizeof(rq->ttl), v, vl, err, errlen);
	} else if (name_is(p, nl, "X-Forwarded-For")) {
		rq->forwarded_for = true;
	}
	return 0;
}

int mmds_http_parse(const char *buf, size_t len, struct mmds_request *rq, char *err, size_t errlen)
{
	const char *p = buf, *end = buf + MIN(len, (size_t)MMDS_HTTP_MAX_REQUEST), *e;
	long clen = 0;
	int ret;

	memset(rq, 0, sizeof(*rq));
	err[0] = 0;
	/* Headers end at the first empty line; without one in the limit, wait or refuse. */
	const char *hdr_end = NULL;
	for (const char *q = buf; q + 3 < end; q++)
		if (!memcmp(q, "\r\n\r\n", 4)) {
			hdr_end = q + 2;
			break;
		}
	if (!hdr_end)
		return len >= MMDS_HTTP_MAX_REQUEST ? -E2BIG : 0;
	e = line_end(p, hdr_end + 2);
	if ((ret = parse_request_line(p, (size_t)(e - p), rq, err, errlen)))
		return ret;
	rq->keep_alive = rq->minor == 1;
	for (p = e + 2; p < hdr_end; p = e + 2) {
		e = line_end(p, hdr_end + 2);
		if ((ret = parse_header(p, (size_t)(e - p), rq, &clen, err, errlen)))
			return ret;
	}
	size_t total = (size_t)(hdr_end + 2 - buf) + (size_t)clen;
	if (total > MMDS_HTTP_MAX_REQUEST)
		return -E2BIG;
	return total > len ? 0 : (int)total;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 501: return "Not Implemented";
	default: return "Internal Server Error";
	}
}

int mmds_http_render(const struct mmds_response *rs, int minor, bool keep_alive, char **out,
		     size_t *out_len)
{
	char head[512];
	char ttl[96] = "";

	if (rs->ttl_header)
		snprintf(ttl, sizeof(ttl), "%s: %u\r\n", rs->ttl_header, rs->ttl);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.%d %d %s\r\nServer: vmon MMDS\r\nConnection: %s\r\n%s%s"
			 "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
			 minor, rs->status, reason(rs->status), keep_alive ? "keep-alive" : "close",
			 rs->allow ? "Allow: GET, PUT\r\n" : "", ttl,
			 rs->json ? "application/json" : "text/plain", rs->body_len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -ENOMEM;
	*out = malloc((size_t)n + rs->body_len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, head, (size_t)n);
	if (rs->body_len)
		memcpy(*out + n, rs->body, rs->body_len);
	*out_len = (size_t)n + rs->body_len;
	return 0;
}

void mmds_response_free(struct mmds_response *rs)
{
	free(rs->body);
	rs->body = NULL;
}
