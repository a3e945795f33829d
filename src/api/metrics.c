/* PUT /metrics: where the metrics lines go; GET /metrics (vmon's own): the current line. */
#include "api/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct api_field fields[] = {
	{ "metrics_path", T_STRING, true },
	{ "emit_id", T_BOOL, false },
	{ "properties", T_OBJECT, false },
	{ 0 },
};

void api_metrics(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		 struct api_reply *r)
{
	char path[PATH_MAX];

	if (m == API_GET) {
		char *line = metrics_render(&vmm->metrics);
		api_ok(r, line ? json_loads(line, 0, NULL) : NULL);
		free(line);
		return;
	}
	if (!api_check(body, fields, r) || !api_copy(path, sizeof(path), body, "metrics_path", r))
		return;
	char *copy = strdup(path);
	if (!copy) {
		api_fault(r, 500, "Out of memory.");
		return;
	}
	json_t *props = json_object_get(body, "properties");
	char *text = props && json_is_object(props) ? json_dumps(props, JSON_COMPACT) : NULL;
	int ret = metrics_configure(&vmm->metrics, path, api_bool(body, "emit_id", false), text);
	free(text);
	if (ret == -EEXIST)
		api_bad(r, "Reinitialization of metrics not allowed.");
	else if (ret)
		api_bad(r, "Failed to open the metrics file '%.200s': %s.", path, strerror(-ret));
	if (ret) {
		free(copy);
		return;
	}
	free(vmm->cfg.metrics_path);
	vmm->cfg.metrics_path = copy;
	api_no_content(r);
}
