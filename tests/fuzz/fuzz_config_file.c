/* --config-file contents: Firecracker's JSON config as a hostile file would have it. */
#include "fuzz.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct vmm *vmm = malloc(sizeof(*vmm));
	char path[64], err[1024];

	setenv("VMON_KVM_DEV", "/nonexistent", 1);
	if (fd < 0)
		fd = memfd_create("fuzz-config", 0);
	if (!vmm || vmm_init(vmm, "fuzz") || ftruncate(fd, 0) ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* The logger, metrics and serial sections create files: not from fuzz input. */
	if (memmem(data, size, "_path", 5) && (memmem(data, size, "logger", 6) ||
	    memmem(data, size, "metrics", 7) || memmem(data, size, "serial", 6))) {
		vmm_destroy(vmm);
		free(vmm);
		return 0;
	}
	(void)api_config_file(vmm, path, err, sizeof(err));
	vmm_destroy(vmm);
	free(vmm);
	return 0;
}
