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

void api_boot_source(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		     struct api_reply *r)
{
	struct vm_spec *s = &vmm->spec;
	char kernel[PATH_MAX], initrd[PATH_MAX];
	const char *args;

	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!api_check(body, fields, r) || !api_copy(kernel, sizeof(kernel), body, "kernel_image_path", r) ||
	    !api_copy(initrd, sizeof(initrd), body, "initrd_path", r))
		return;
	if (!readable("kernel", kernel, r) || (initrd[0] && !readable("initrd", initrd, r)))
		return;
	args = api_str(body, "boot_args", NULL);
	if (args && strlen(args) != json_string_length(json_object_get(body, "boot_args"))) {
		api_bad(r, "The kernel command line contains a NUL character.");
		return;
	}
	char *copy = args ? strdup(args) : NULL;
	if (args && !copy) {
		api_fault(r, 500, "Out of memory.");
		return;
	}
	free(s->boot_args);
	s->boot_args = copy;
	memcpy(s->kernel, kernel, sizeof(kernel));
	memcpy(s->initrd, initrd, sizeof(initrd));
	s->has_boot = true;
	api_no_content(r);
}

json_t *api_boot_source_json(const struct vm_spec *s)
{
	if (!s->has_boot)
		return json_null();
	json_t *o = json_pack("{s:s}", "kernel_image_path", s->kernel);
	if (o && s->initrd[0])
		json_object_set_new(o, "initrd_path", json_string(s->initrd));
	if (o && s->boot_args)
		json_object_set_new(o, "boot_args", json_string(s->boot_args));
	return o;
}
