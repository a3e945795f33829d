/* The table of machine backends the configuration chooses from. */
#include "hv/hv.h"

#include <string.h>

static const struct hv_ops *const backends[] = { &hv_kvm };

const struct hv_ops *hv_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}
