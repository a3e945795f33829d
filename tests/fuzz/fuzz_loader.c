/* Kernel images as a hostile file would be: bzImage headers, ELF program headers, payloads. */
#include "fuzz.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct guest_mem *gm = fuzz_guest_mem();
	struct boot_entry entry;
	char path[64], err[256];

	if (fd < 0)
		fd = memfd_create("fuzz-kernel", 0);
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (int proto = BOOT_PROTO_AUTO; proto <= BOOT_PROTO_PVH; proto++) {
		struct boot_config cfg = { .kernel_path = path, .cmdline = "console=ttyS0",
					   .protocol = (enum boot_protocol)proto, .rsdp_addr = 0xe0000 };
		(void)boot_load(&cfg, gm, &entry, err, sizeof(err));
	}
	return 0;
}
