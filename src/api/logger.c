/* PUT /logger: level, destination (file or FIFO), and what each line shows. */
#include "api/api.h"
#include "util/log.h"

#include <string.h>

static const struct api_field fields[] = {
	{ "level", T_STRING, false },
	{ "log_path", T_STRING, false },
	{ "show_level", T_BOOL, false },
	{ "show_log_origin", T_BOOL, false },
	{ "module", T_STRING, false },
	{ 0 },
};

void api_logger(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		struct api_reply *r)
{
	struct vm_spec *s = &vmm->spec;
	char path[PATH_MAX], module[sizeof(s->log_module)];
	const char *level;
	int lvl, ret;

	if (!api_check(body, fields, r) || !api_copy(path, sizeof(path), body, "log_path", r) ||
	    !api_copy(module, sizeof(module), body, "module", r))
		return;
	level = api_str(body, "level", "Info");
	/* Firecracker also takes the levels in upper case. */
	char norm[16];
	snprintf(norm, sizeof(norm), "%s", level);
	for (char *p = norm + 1; *p; p++)
		*p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
	lvl = log_level_parse(norm);
	if (lvl < LOG_OFF) {
		api_bad(r, "Invalid log level '%.32s': use Error, Warning, Info, Debug, Trace or Off.", level);
		return;
	}
	ret = log_configure(path[0] ? path : NULL, api_bool(body, "show_level", false),
			    api_bool(body, "show_log_origin", false), module[0] ? module : NULL);
	if (ret) {
		api_bad(r, "Failed to open the log file '%.200s': %s.", path, strerror(-ret));
		return;
	}
	log_threshold = (enum log_level)lvl;
	s->has_logger = true;
	s->log_level = lvl;
	memcpy(s->log_path, path, sizeof(path));
	memcpy(s->log_module, module, sizeof(module));
	s->log_show_level = api_bool(body, "show_level", false);
	s->log_show_origin = api_bool(body, "show_log_origin", false);
	api_no_content(r);
}
