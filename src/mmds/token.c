/*
 * MMDS V2 session tokens. Firecracker seals the expiry with AES-GCM; a MAC is enough to
 * tell our tokens from forged ones, so here a token is base64(expiry_ms LE64 || tag) with
 * tag = HMAC-SHA256(key, aad || expiry) cut to 24 bytes, the key random per VM (OpenSSL).
 */
#include "mmds/mmds.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define TAG_LEN 24
#define RAW_LEN (8 + TAG_LEN)

static bool token_tag(const struct mmds_tokens *t, const uint8_t expiry[8], uint8_t tag[TAG_LEN])
{
	uint8_t msg[sizeof(t->aad) + 8], md[EVP_MAX_MD_SIZE];
	size_t alen = strlen(t->aad);
	unsigned mdlen = 0;

	memcpy(msg, t->aad, alen);
	memcpy(msg + alen, expiry, 8);
	if (!HMAC(EVP_sha256(), t->key, sizeof(t->key), msg, alen + 8, md, &mdlen) || mdlen < TAG_LEN)
		return false;
	memcpy(tag, md, TAG_LEN);
	return true;
}

int mmds_tokens_init(struct mmds_tokens *t, const char *instance_id)
{
	size_t got = 0;

	while (got < sizeof(t->key)) {
		ssize_t r = getrandom(t->key + got, sizeof(t->key) - got, 0);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			got += (size_t)r;
	}
	snprintf(t->aad, sizeof(t->aad), "microvmid=%s", instance_id ? instance_id : "");
	/* OpenSSL reads its configuration and loads its provider on first use: now, before
	 * any thread that answers the guest runs under a seccomp filter without files. */
	uint8_t zero[8] = { 0 }, tag[TAG_LEN];
	return token_tag(t, zero, tag) ? 0 : -EIO;
}

int mmds_token_new(const struct mmds_tokens *t, uint32_t ttl, uint64_t now_ms, char *out)
{
	uint8_t raw[RAW_LEN];
	uint64_t expiry = now_ms + (uint64_t)ttl * 1000;

	if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)(expiry >> (8 * i));
	if (!token_tag(t, raw, raw + 8))
		return -EINVAL;
	EVP_EncodeBlock((unsigned char *)out, raw, RAW_LEN); /* 44 characters and a NUL */
	return 0;
}

bool mmds_token_valid(const struct mmds_tokens *t, const char *tok, size_t len, uint64_t now_ms)
{
	uint8_t raw[RAW_LEN + 3], tag[TAG_LEN];
	uint64_t expiry = 0;

	if (len != MMDS_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < len; i++) /* EVP_DecodeBlock skips blanks: refuse them first */
		if (!(tok[i] == '+' || tok[i] == '/' || tok[i] == '=' || (tok[i] >= '0' && tok[i] <= '9') ||
		      (tok[i] >= 'A' && tok[i] <= 'Z') || (tok[i] >= 'a' && tok[i] <= 'z')))
			return false;
	if (EVP_DecodeBlock(raw, (const unsigned char *)tok, (int)len) != RAW_LEN + 1)
		return false;
	if (!token_tag(t, raw, tag) || CRYPTO_memcmp(tag, raw + 8, TAG_LEN))
		return false;
	for (int i = 0; i < 8; i++)
		expiry |= (uint64_t)raw[i] << (8 * i);
	return now_ms < expiry;
}
