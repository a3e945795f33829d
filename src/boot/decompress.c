/* Decompress bzImage payloads on the host, so the guest never runs its slow decompressor. */
#include "boot/decompress.h"

#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

enum fmt { FMT_UNKNOWN, FMT_GZIP, FMT_XZ, FMT_LZ4, FMT_ZSTD, FMT_BZIP2, FMT_LZMA, FMT_LZO };

static const struct {
	enum fmt fmt;
	const char *name;
	uint8_t magic[6];
	size_t mlen;
} formats[] = {
	{ FMT_GZIP, "gzip", { 0x1f, 0x8b }, 2 },
	{ FMT_XZ, "xz", { 0xfd, '7', 'z', 'X', 'Z', 0 }, 6 },
	{ FMT_LZ4, "lz4", { 0x02, 0x21, 0x4c, 0x18 }, 4 },
	{ FMT_ZSTD, "zstd", { 0x28, 0xb5, 0x2f, 0xfd }, 4 },
	{ FMT_BZIP2, "bzip2", { 'B', 'Z', 'h' }, 3 },
	{ FMT_LZMA, "lzma", { 0x5d, 0, 0 }, 3 },
	{ FMT_LZO, "lzo", { 0x89, 'L', 'Z', 'O' }, 4 },
};

static enum fmt detect(const uint8_t *in, size_t len, const char **name)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		if (len >= formats[i].mlen && !memcmp(in, formats[i].magic, formats[i].mlen)) {
			if (name)
				*name = formats[i].name;
			return formats[i].fmt;
		}
	}
	return FMT_UNKNOWN;
}

const char *decompress_format(const uint8_t *in, size_t len)
{
	const char *name = NULL;

	detect(in, len, &name);
	return name;
}

static int gunzip(const uint8_t *in, size_t len, uint8_t *out, size_t out_len)
{
	z_stream zs = { 0 };
	int ret;

	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)out_len;
	ret = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	return ret == Z_STREAM_END && zs.total_out == out_len ? 0 : -EINVAL;
}

static int unxz(const uint8_t *in, size_t len, uint8_t *out, size_t out_len)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;

	if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK)
		return -ENOMEM;
	s.next_in = in;
	s.avail_in = len;
	s.next_out = out;
	s.avail_out = out_len;
	r = lzma_code(&s, LZMA_FINISH);
	size_t produced = out_len - s.avail_out;
	lzma_end(&s);
	return r == LZMA_STREAM_END && produced == out_len ? 0 : -EINVAL;
}

/* The kernel uses LZ4's legacy frame: magic, then blocks of (le32 size, data), 8 MiB each. */
static int unlz4(const uint8_t *in, size_t len, uint8_t *out, size_t out_len)
{
	size_t pos = 4, done = 0;

	while (done < out_len) {
		if (len - pos < 4)
			return -EINVAL;
		uint32_t bsize = get_le32(in + pos);
		pos += 4;
		if (bsize == 0x184c2102) /* another legacy frame concatenated */
			continue;
		if (bsize > len - pos || bsize > (uint32_t)LZ4_compressBound(8 << 20))
			return -EINVAL;
		size_t room = MIN(out_len - done, (size_t)8 << 20);
		int n = LZ4_decompress_safe((const char *)in + pos, (char *)out + done, (int)bsize,
					    (int)room);
		if (n <= 0)
			return -EINVAL;
		pos += bsize;
		done += (size_t)n;
	}
	return 0;
}

static int unzstd(const uint8_t *in, size_t len, uint8_t *out, size_t out_len)
{
	size_t frame = ZSTD_findFrameCompressedSize(in, len);

	if (ZSTD_isError(frame))
		return -EINVAL;
	size_t n = ZSTD_decompress(out, out_len, in, frame);
	return !ZSTD_isError(n) && n == out_len ? 0 : -EINVAL;
}

int decompress_payload(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	int (*fn)(const uint8_t *, size_t, uint8_t *, size_t);

	if (len < 8)
		return -EINVAL;
	switch (detect(in, len, NULL)) {
	case FMT_GZIP: fn = gunzip; break;
	case FMT_XZ: fn = unxz; break;
	case FMT_LZ4: fn = unlz4; break;
	case FMT_ZSTD: fn = unzstd; break;
	default: return -ENOTSUP;
	}
	size_t size = get_le32(in + len - 4);
	if (size == 0 || size > DECOMPRESS_MAX_OUT)
		return -EINVAL;
	uint8_t *buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	int ret = fn(in, len, buf, size);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	*out_len = size;
	return 0;
}
