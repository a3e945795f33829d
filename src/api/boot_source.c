/* PUT /boot-source: kernel, initrd and command line (before InstanceStart). */
#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct api_field fields[] = {
	{ "kernel_image_path", T_STRING, true },
	{ "initrd_path", T_STRING, false },
	{ "boot_args", T_STRING, false },
	{ 0 },
};

/* As Firecracker does at PUT time: the file must open for reading. */
static bool readable(const char *what, const char *path, struct api_reply *r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		api_bad(r, "The %s file cannot be opened: %s.", what, strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/* The new strings go in; the old ones go out with the locals. */
static void boot_swap(char **a, char **b)
{
	char *t = *a;

	*a = *b;
	*b = t;
}

void api_boot_source(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		     struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	char *kernel = NULL, *initrd = NULL, *args = NULL;
	const char *a;

	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!api_check(body, fields, r) || !api_dup(&kernel, PATH_MAX, body, "kernel_image_path", r) ||
	    !api_dup(&initrd, PATH_MAX, body, "initrd_path", r))
		goto out;
	if (!readable("kernel", kernel ? kernel : "", r) || (initrd && !readable("initrd", initrd, r)))
		goto out;
	a = api_str(body, "boot_args", NULL);
	if (a && strlen(a) != json_string_length(json_object_get(body, "boot_args"))) {
		api_bad(r, "The kernel command line contains a NUL character.");
		goto out;
	}
	if (a && !(args = strdup(a))) {
		api_fault(r, 500, "Out of memory.");
		goto out;
	}
	boot_swap(&c->kernel, &kernel);
	boot_swap(&c->initrd, &initrd);
	boot_swap(&c->cmdline, &args);
	api_no_content(r);
out:
	free(kernel);
	free(initrd);
	free(args);
}

json_t *api_boot_source_json(const struct vm_config *c)
{
	/* Firecracker's BootSourceConfig is there before PUT /boot-source too, with "". */
	return json_pack("{s:s, s:o, s:o}", "kernel_image_path", c->kernel ? c->kernel : "",
			 "initrd_path", c->initrd ? json_string(c->initrd) : json_null(),
			 "boot_args", c->cmdline ? json_string(c->cmdline) : json_null());
}
