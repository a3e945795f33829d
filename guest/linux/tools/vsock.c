/* vsock: AF_VSOCK stream client and server modes for the vsock tests and benchmarks. */
/*
 * Busybox has no vsock tool. Every mode prints one result line that a host reads off
 * the console; checksums are the CRC-32 of the stream (zlib's, so a host checks it with
 * zlib.crc32).
 *
 *   vsock server PORT               echo every connection's bytes back (one process, poll)
 *   vsock sink PORT                 take one connection, read to EOF: SINK bytes= crc=
 *   vsock source CID PORT BYTES     connect, write BYTES in 64 KiB writes: SOURCE sent= crc=
 *                                   or SOURCE error= after=
 *   vsock connect CID PORT          CONNECT ok, or CONNECT error=
 *   vsock hold CID PORT             connect, then block reading: HOLD ended=
 *   vsock ping CID PORT N           N 1-byte round trips to an echo peer: PING n= avg_ns=
 *   vsock localping N               the same over an AF_UNIX socket pair inside the guest
 *                                   (what the guest kernel alone costs): LOCALPING n= avg_ns=
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK (64 * 1024)
#define MAX_CONNS 256

static uint8_t buf[CHUNK];

static uint32_t crc_table[256];

/* Reflected CRC-32 (polynomial 0xEDB88320), as zlib: crc = crc32(crc, p, n) from 0. */
static uint32_t crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	if (!crc_table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static int open_vsock(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0) {
		printf("VSOCK error=socket:%s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

static int do_connect(const char *cid, const char *port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = (unsigned)atoi(cid),
				 .svm_port = (unsigned)atoi(port) };
	int fd = open_vsock();

	return connect(fd, (struct sockaddr *)&a, sizeof(a)) ? (close(fd), -1) : fd;
}

static int do_listen(const char *port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				 .svm_port = (unsigned)atoi(port) };
	int fd = open_vsock();

	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 128)) {
		printf("LISTEN port=%s error=%s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

static int server(const char *port)
{
	struct pollfd p[MAX_CONNS + 1] = { { .fd = do_listen(port), .events = POLLIN } };
	int n = 1;

	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0)
			return 1;
		for (int i = n - 1; i >= 1; i--) {
			ssize_t r;

			if (!p[i].revents)
				continue;
			r = read(p[i].fd, buf, sizeof(buf));
			/* Echo it all; a peer that stops reading stalls only this loop, fine here. */
			for (ssize_t off = 0; r > 0 && off < r;) {
				ssize_t w = write(p[i].fd, buf + off, (size_t)(r - off));
				if (w <= 0) {
					r = -1;
					break;
				}
				off += w;
			}
			if (r <= 0) {
				close(p[i].fd);
				p[i] = p[--n];
			}
		}
		if (p[0].revents & POLLIN) {
			int fd = accept(p[0].fd, NULL, NULL);
			if (fd >= 0 && n <= MAX_CONNS)
				p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
			else if (fd >= 0)
				close(fd);
		}
	}
}

static int sink(const char *port)
{
	int l = do_listen(port), fd = accept(l, NULL, NULL);
	uint64_t total = 0;
	uint32_t h = 0;
	ssize_t r;

	while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) > 0) {
		h = crc32(h, buf, (size_t)r);
		total += (uint64_t)r;
	}
	printf("SINK port=%s bytes=%llu crc=%08x\n", port, (unsigned long long)total, h);
	return 0;
}

static int source(const char *cid, const char *port, const char *bytes)
{
	uint64_t n = strtoull(bytes, NULL, 0), sent = 0, x = 88172645463325252ULL;
	uint32_t h = 0;
	int fd = do_connect(cid, port);
	struct timespec t0, t1;

	if (fd < 0) {
		printf("SOURCE port=%s error=%s after=0\n", port, strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sent < n) {
		size_t len = n - sent < CHUNK ? (size_t)(n - sent) : CHUNK;

		for (size_t i = 0; i < len; i += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		h = crc32(h, buf, len);
		for (size_t off = 0; off < len;) {
			ssize_t w = write(fd, buf + off, len - off);
			if (w <= 0) {
				printf("SOURCE port=%s error=%s after=%llu\n", port,
				       w < 0 ? strerror(errno) : "eof", (unsigned long long)sent);
				return 1;
			}
			off += (size_t)w, sent += (uint64_t)w;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	printf("SOURCE port=%s sent=%llu crc=%08x ns=%lld\n", port, (unsigned long long)sent, h,
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
	return 0;
}

static int hold(const char *cid, const char *port)
{
	int fd = do_connect(cid, port);
	ssize_t r;

	if (fd < 0) {
		printf("HOLD port=%s error=%s\n", port, strerror(errno));
		return 1;
	}
	printf("HOLD port=%s connected\n", port);
	fflush(stdout);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		;
	printf("HOLD port=%s ended=%s\n", port, r < 0 ? strerror(errno) : "eof");
	return 0;
}

static int ping(const char *cid, const char *port, const char *count)
{
	long n = atol(count);
	int fd = do_connect(cid, port);
	struct timespec t0, t1;
	uint8_t b = 'p';

	if (fd < 0) {
		printf("PING port=%s error=%s\n", port, strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		if (write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1) {
			printf("PING port=%s error=%s after=%ld\n", port, strerror(errno), i);
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("PING port=%s n=%ld avg_ns=%lld\n", port, n,
	       ((long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec)) / (n ? n : 1));
	return 0;
}

static int localping(const char *count)
{
	long n = atol(count);
	int sv[2];
	struct timespec t0, t1;
	uint8_t b = 'p';

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 1;
	if (fork() == 0) {
		for (long i = 0; i < n; i++)
			if (read(sv[1], &b, 1) != 1 || write(sv[1], &b, 1) != 1)
				_exit(1);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		if (write(sv[0], &b, 1) != 1 || read(sv[0], &b, 1) != 1)
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	wait(NULL);
	printf("LOCALPING n=%ld avg_ns=%lld\n", n,
	       ((long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec)) / (n ? n : 1));
	return 0;
}

int main(int argc, char **argv)
{
	int ret = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "server"))
		ret = server(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "sink"))
		ret = sink(argv[2]);
	else if (argc == 5 && !strcmp(argv[1], "source"))
		ret = source(argv[2], argv[3], argv[4]);
	else if (argc == 4 && !strcmp(argv[1], "connect")) {
		int fd = do_connect(argv[2], argv[3]);
		printf("CONNECT port=%s %s%s\n", argv[3], fd < 0 ? "error=" : "ok",
		       fd < 0 ? strerror(errno) : "");
		ret = fd < 0;
	} else if (argc == 4 && !strcmp(argv[1], "hold"))
		ret = hold(argv[2], argv[3]);
	else if (argc == 5 && !strcmp(argv[1], "ping"))
		ret = ping(argv[2], argv[3], argv[4]);
	else if (argc == 3 && !strcmp(argv[1], "localping"))
		ret = localping(argv[2]);
	else
		fprintf(stderr, "usage: vsock server|sink PORT | source CID PORT BYTES | "
			"connect|hold CID PORT | ping CID PORT N | localping N\n");
	return ret;
}
