/* The virtio-pmem devices' configuration: --pmem's words, the list's rules (one root, first). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"

void pmem_config_clear(struct pmem_config *p)
{
	free(p->id);
	free(p->path);
	memset(p, 0, sizeof(*p));
}

const struct pmem_config *pmem_config_root(const struct vm_config *cfg)
{
	return cfg->nr_pmems && cfg->pmems[0].root ? &cfg->pmems[0] : NULL;
}

int pmem_config_add(struct vm_config *cfg, struct pmem_config *p, char *err, size_t errlen)
{
	int at = cfg->nr_pmems;

	for (int i = 0; i < cfg->nr_pmems; i++)
		if (!strcmp(cfg->pmems[i].id, p->id))
			at = i;
	if (at == cfg->nr_pmems && cfg->nr_pmems == VMON_MAX_PMEMS) {
		snprintf(err, errlen, "at most %d pmem devices", VMON_MAX_PMEMS);
		return -ENOSPC;
	}
	if (p->root && pmem_config_root(cfg) && strcmp(cfg->pmems[0].id, p->id)) {
		snprintf(err, errlen, "pmem device %s is already the root device", cfg->pmems[0].id);
		return -EINVAL;
	}
	for (int i = 0; p->root && i < cfg->nr_disks; i++)
		if (cfg->disks[i].root) {
			snprintf(err, errlen, "drive %s is already the root device", cfg->disks[i].id);
			return -EINVAL;
		}
	if (at < cfg->nr_pmems)
		pmem_config_clear(&cfg->pmems[at]);
	else
		cfg->nr_pmems++;
	/* The root goes first: Linux numbers the regions in probe order, so it is /dev/pmem0. */
	if (p->root && at) {
		memmove(&cfg->pmems[1], &cfg->pmems[0], (size_t)at * sizeof(*p));
		at = 0;
	}
	cfg->pmems[at] = *p;
	memset(p, 0, sizeof(*p));
	return 0;
}

int pmem_config_parse(struct pmem_config *p, const char *spec, int index, char *err,
		      size_t errlen)
{
	char *copy = strdup(spec), *save = NULL;
	int ret = copy ? 0 : -ENOMEM;

	memset(p, 0, sizeof(*p));
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; !ret && t;
	     t = strtok_r(NULL, ",", &save)) {
		if (!strncmp(t, "path=", 5) && t[5] && !p->path)
			ret = (p->path = strdup(t + 5)) ? 0 : -ENOMEM;
		else if (!strcmp(t, "readonly"))
			p->read_only = true;
		else if (!strcmp(t, "root"))
			p->root = true;
		else {
			snprintf(err, errlen, "--pmem: bad '%s' (path=FILE, readonly, root)", t);
			ret = -EINVAL;
		}
	}
	free(copy);
	if (!ret && !p->path) {
		snprintf(err, errlen, "--pmem needs path=FILE");
		ret = -EINVAL;
	}
	if (!ret && asprintf(&p->id, "pmem%d", index) < 0) {
		p->id = NULL;
		ret = -ENOMEM;
	}
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (ret)
		pmem_config_clear(p);
	return ret;
}
