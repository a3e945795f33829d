/* PUT /logger: level, destination (file or FIFO), and what each line shows. */
#include "api/api.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

static const struct api_field fields[] = {
	{ "level", T_STRING, false },
	{ "log_path", T_STRING, false },
	{ "show_level", T_BOOL, false },
	{ "show_log_origin", T_BOOL, false },
	{ "module", T_STRING, false },
	{ 0 },
};

#define LOG_MODULE_MAX 32 /* as util/log.c keeps it, with the NUL */

void api_logger(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	char *path = NULL, *module = NULL;
	const char *level;
	int lvl, ret;

	if (!api_check(body, fields, r) || !api_dup(&path, PATH_MAX, body, "log_path", r) ||
	    !api_dup(&module, LOG_MODULE_MAX, body, "module", r))
		goto out;
	level = api_str(body, "level", "Info");
	lvl = log_level_parse(level);
	if (lvl < LOG_OFF) {
		api_bad(r, "Invalid log level '%.32s': use Error, Warning, Info, Debug, Trace or Off.", level);
		goto out;
	}
	ret = log_configure(path, api_bool(body, "show_level", false),
			    api_bool(body, "show_log_origin", false), module);
	if (ret) {
		api_bad(r, "Failed to open the log file '%.200s': %s.", path, strerror(-ret));
		goto out;
	}
	log_threshold = (enum log_level)lvl;
	c->has_logger = true;
	c->log_level = lvl;
	free(c->log_path);
	free(c->log_module);
	c->log_path = path;
	c->log_module = module;
	path = module = NULL;
	c->log_show_level = api_bool(body, "show_level", false);
	c->log_show_origin = api_bool(body, "show_log_origin", false);
	api_no_content(r);
out:
	free(path);
	free(module);
}
