/*
 * The host baseline for the virtio-blk benchmark: the same requests the benchmark guest
 * makes (size, count, sequential or random 4 KiB-aligned offsets), as pread/pwrite on the
 * raw image file directly on the host.
 *
 *   hostio FILE COUNT BS [rand] [write]
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s FILE COUNT BS [rand] [write]\n", argv[0]);
		return 2;
	}
	int is_rand = 0, is_write = 0;
	for (int i = 4; i < argc; i++) {
		is_rand |= !strcmp(argv[i], "rand");
		is_write |= !strcmp(argv[i], "write");
	}
	int fd = open(argv[1], is_write ? O_RDWR : O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	uint64_t count = strtoull(argv[2], NULL, 0), bs = strtoull(argv[3], NULL, 0);
	uint64_t sectors = (uint64_t)st.st_size / 512, span = sectors - bs / 512, sector = 0;
	uint64_t lcg = 12345;
	void *buf = aligned_alloc(4096, bs);
	memset(buf, 0x5a, bs);
	for (uint64_t i = 0; i < count; i++) {
		if (is_rand) {
			lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
			sector = ((lcg >> 33) % (span / 8)) * 8;
		} else if (sector > span) {
			sector = 0;
		}
		ssize_t r = is_write ? pwrite(fd, buf, bs, (off_t)(sector * 512))
				     : pread(fd, buf, bs, (off_t)(sector * 512));
		if (r != (ssize_t)bs) {
			perror("I/O");
			return 1;
		}
		if (!is_rand)
			sector += bs / 512;
	}
	return 0;
}
