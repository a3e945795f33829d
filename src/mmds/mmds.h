/*
 * MMDS, Firecracker's microVM metadata service: a JSON document the user PUTs and PATCHes
 * through the API and the guest reads over HTTP at a link-local address. Everything here
 * is pure (no threads, no sockets, the clock passed in), so it is unit-tested and fuzzed:
 *   store.c    the data store: put, RFC 7396 merge patch, size limit, path lookup and the
 *              IMDS text rendering
 *   token.c    V2 session tokens: expiry + HMAC-SHA256 under a per-VM random key
 *   http.c     the guest's HTTP/1.x request parser and the response renderer
 *   service.c  one request in, one response out (Firecracker's mmds/mod.rs)
 * The network path (net/mmds_stack.c) and the API (api/mmds.c) hold the lock around it.
 */
#ifndef VMON_MMDS_H
#define VMON_MMDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/util.h"

/* Firecracker's --mmds-size-limit default (the API's max payload size). */
#define MMDS_DEFAULT_LIMIT 51200
#define MMDS_DEFAULT_IPV4 0xa9fea9feu /* 169.254.169.254, host order */

enum mmds_version { MMDS_V1 = 1, MMDS_V2 = 2 };
enum mmds_format { MMDS_FMT_IMDS, MMDS_FMT_JSON };

/* ---- data store (store.c) ---- */
struct mmds_store {
	json_t *data;     /* NULL until the first put */
	size_t limit;     /* bytes of the compact serialization */
};

void mmds_store_init(struct mmds_store *s, size_t limit);
void mmds_store_free(struct mmds_store *s);
/* Replace the document with a copy of `data`: 0, or -E2BIG over the limit (kept as was). */
int mmds_store_put(struct mmds_store *s, const json_t *data) __must_check;
/* RFC 7396 merge patch: 0, -ENODATA before any put, -E2BIG over the limit (kept as was). */
int mmds_store_patch(struct mmds_store *s, const json_t *patch) __must_check;
/* The whole document (a new reference; {} before any put). */
json_t *mmds_store_json(const struct mmds_store *s);
/*
 * The value at `path` ("/a/b", a trailing '/' allowed, "//" folded), rendered as JSON or
 * IMDS text (an object lists its keys one a line, sub-objects with a trailing '/'; a
 * string is itself). *out is malloc'd. 0, -ENOENT (no such path), -ENOTSUP (IMDS text of a
 * number, bool, array or null), -ENOMEM.
 */
int mmds_store_get(const struct mmds_store *s, const char *path, enum mmds_format fmt,
		   char **out, size_t *out_len) __must_check;

/* ---- tokens (token.c) ---- */
#define MMDS_TOKEN_TTL_MIN 1
#define MMDS_TOKEN_TTL_MAX 21600
#define MMDS_TOKEN_KEY_LEN 32
#define MMDS_TOKEN_LEN 44  /* base64 of 8 bytes of expiry and a 24-byte tag, no NUL */

struct mmds_tokens {
	uint8_t key[MMDS_TOKEN_KEY_LEN];
	char aad[80];       /* bound into each tag: "microvmid=<instance id>" */
};

/* A fresh random key: 0 or -errno. */
int mmds_tokens_init(struct mmds_tokens *t, const char *instance_id) __must_check;
/* A token valid for ttl seconds from now_ms into out (MMDS_TOKEN_LEN + 1): 0 or -EINVAL. */
int mmds_token_new(const struct mmds_tokens *t, uint32_t ttl, uint64_t now_ms, char *out) __must_check;
/* The token is one of ours and has not expired at now_ms. */
bool mmds_token_valid(const struct mmds_tokens *t, const char *tok, size_t len, uint64_t now_ms);

/* ---- HTTP (http.c) ---- */
#define MMDS_HTTP_MAX_REQUEST 8192 /* request line + headers + body, as Firecracker's buffer */

enum mmds_method { MMDS_GET, MMDS_PUT, MMDS_OTHER };

struct mmds_request {
	enum mmds_method method;
	int minor;                    /* HTTP/1.minor */
	char path[1024];              /* the absolute path, query cut */
	bool accept_json;             /* Accept: application/json */
	bool has_token, has_ttl, forwarded_for;
	char token[128];              /* X-metadata-token / X-aws-ec2-metadata-token */
	char ttl[32];                 /* X-metadata-token-ttl-seconds / X-aws-ec2-... */
	const char *ttl_header;       /* which of the two names the client used */
	bool keep_alive;
};

/*
 * Parse one request from buf[0..len). >0: the bytes it took (headers and body), the request
 * in *rq; 0: incomplete, read more; -EINVAL: malformed (err says why, for a 400);
 * -E2BIG: too long.
 */
int mmds_http_parse(const char *buf, size_t len, struct mmds_request *rq, char *err, size_t errlen);

struct mmds_response {
	int status;
	bool json;             /* Content-Type application/json, else text/plain */
	char *body;            /* malloc'd */
	size_t body_len;
	const char *ttl_header; /* echo of the TTL header on a token reply */
	uint32_t ttl;
	bool allow;            /* 405: Allow: GET, PUT */
};

/* The response's bytes (status line, headers, body) into a malloc'd *out: 0 or -ENOMEM. */
int mmds_http_render(const struct mmds_response *rs, int minor, bool keep_alive, char **out,
		     size_t *out_len) __must_check;
void mmds_response_free(struct mmds_response *rs);

/* ---- the service (service.c) ---- */
struct mmds {
	struct mmds_store store;
	struct mmds_tokens tokens;
	enum mmds_version version;
	bool imds_compat;      /* IMDS text whatever Accept says, as EC2 */
	uint64_t rx_invalid_token, rx_no_token, rx_requests;
};

int mmds_init(struct mmds *m, size_t limit, const char *instance_id) __must_check;
void mmds_free(struct mmds *m);

/* Answer one parsed request at now_ms (Firecracker's convert_to_response). */
void mmds_respond(struct mmds *m, const struct mmds_request *rq, uint64_t now_ms,
		  struct mmds_response *rs);

/*
 * Parse what buf holds and answer it: >0 the bytes consumed with the rendered response in
 * *out (a 400 for a malformed request, after which the connection closes: *close set);
 * 0 incomplete. Used by the stack's connections and the fuzz target.
 */
ssize_t mmds_serve(struct mmds *m, const char *buf, size_t len, uint64_t now_ms, char **out,
		   size_t *out_len, bool *close);

#endif
