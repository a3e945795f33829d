/*
 * vmon's own PUT /vmon/shm/{shm_id} (before boot) and GET /vmon/shm: ivshmem devices, the
 * command line's --shm. A doorbell device names its server's socket; a plain one a file or
 * a memfd and a size. GET adds, once the VM runs, each device's peer id, the peers it knows,
 * where the guest put the shared memory and the doorbell counts.
 */
#include "api/api.h"

#include <limits.h>
#include <string.h>

#include "snapshot/format.h"

static const struct api_field fields[] = {
	{ "shm_id", T_STRING, true },
	{ "socket", T_STRING, false },
	{ "vectors", T_UINT, false },
	{ "path", T_STRING, false },
	{ "memfd", T_BOOL, false },
	{ "size_bytes", T_UINT, false },
	{ 0 },
};

static int shm_find(const struct vm_config *c, const char *id)
{
	for (int i = 0; i < c->nr_shms; i++)
		if (!strcmp(c->shms[i].id, id))
			return i;
	return -1;
}

/* The running device's view: its position, peers, BAR and counters. */
static void shm_live_json(struct ivshmem *s, json_t *o)
{
	uint16_t ids[IVSHMEM_MAX_PEERS];
	int n = ivshmem_peer_ids(s, ids, IVSHMEM_MAX_PEERS);
	json_t *peers = json_array();

	for (int i = 0; peers && i < n; i++)
		json_array_append_new(peers, json_integer(ids[i]));
	json_object_set_new(o, "position", json_integer(ivshmem_position(s)));
	json_object_set_new(o, "peers", peers ? peers : json_null());
	pthread_mutex_lock(&s->lock);
	json_object_set_new(o, "size_bytes", json_integer((json_int_t)s->shm_size));
	json_object_set_new(o, "mapped", json_boolean(s->region_mapped));
	json_object_set_new(o, "guest_address", json_integer((json_int_t)s->pci.bars[2].addr));
	json_object_set_new(o, "doorbells_rung", json_integer((json_int_t)s->rung));
	json_object_set_new(o, "doorbells_dropped", json_integer((json_int_t)s->dropped));
	json_object_set_new(o, "interrupts", json_integer((json_int_t)s->received));
	pthread_mutex_unlock(&s->lock);
}

static json_t *shm_list_json(struct vmm *vmm)
{
	json_t *a = json_array();

	for (int i = 0; a && i < vmm->cfg.nr_shms; i++) {
		const struct shm_config *c = &vmm->cfg.shms[i];
		json_t *o = json_object();

		if (!o)
			break;
		json_object_set_new(o, "shm_id", json_string(c->id));
		json_object_set_new(o, "kind", json_string(c->socket ? "ivshmem-doorbell" : "ivshmem-plain"));
		if (c->socket) {
			json_object_set_new(o, "socket", json_string(c->socket));
			json_object_set_new(o, "vectors", json_integer(c->vectors ? c->vectors : 1));
		} else {
			json_object_set_new(o, c->memfd ? "memfd" : "path",
					    c->memfd ? json_true() : json_string(c->path));
			json_object_set_new(o, "size_bytes", json_integer((json_int_t)c->size));
		}
		for (int k = 0; vmm->state != VMM_NOT_STARTED && k < vmm->vm.nr_shm; k++)
			if (!strcmp(vmm->vm.shm[k]->dev.id, c->id))
				shm_live_json(&vmm->vm.shm[k]->dev, o);
		json_array_append_new(a, o);
	}
	return a;
}

/* The body as an entry; on failure what s holds is still for the caller to free. */
static bool shm_parse(const json_t *body, struct shm_config *s, struct api_reply *r)
{
	char why[200];

	memset(s, 0, sizeof(*s));
	if (!api_dup(&s->id, VMON_ID_MAX, body, "shm_id", r) ||
	    !api_dup(&s->socket, PATH_MAX, body, "socket", r) ||
	    !api_dup(&s->path, PATH_MAX, body, "path", r))
		return false;
	s->memfd = api_bool(body, "memfd", false);
	uint64_t v = api_uint(body, "vectors", 0), size = api_uint(body, "size_bytes", 0);
	if (json_object_get(body, "vectors") && (v < 1 || v > IVSHMEM_MAX_VECTORS)) {
		api_bad(r, "vectors %llu: use 1 to %d.", (unsigned long long)v, IVSHMEM_MAX_VECTORS);
		return false;
	}
	s->vectors = (uint32_t)v;
	s->size = size;
	if (shm_config_check(s, why, sizeof(why))) {
		api_bad(r, "%s.", why);
		return false;
	}
	return true;
}

void api_vmon_shm(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		  struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	struct shm_config s;
	int i;

	if (m == API_GET) {
		api_ok(r, shm_list_json(vmm));
		return;
	}
	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!api_check(body, fields, r) || !api_same_id(id, body, "shm_id", r))
		return;
	if (!snap_id_valid(id)) {
		api_bad(r, "Invalid shm_id '%.64s': use 1 to %d printable characters, no spaces.", id, SNAP_ID_MAX);
		return;
	}
	i = shm_find(c, id);
	if (i < 0 && c->nr_shms == VMON_MAX_SHMS) {
		api_bad(r, "At most %d shared-memory devices.", VMON_MAX_SHMS);
		return;
	}
	if (!shm_parse(body, &s, r)) {
		shm_config_clear(&s);
		return;
	}
	if (i < 0)
		i = c->nr_shms++;
	else
		shm_config_clear(&c->shms[i]);
	c->shms[i] = s;
	api_no_content(r);
}
