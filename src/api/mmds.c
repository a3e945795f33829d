/* PUT|PATCH|GET /mmds (the data store, any time) and PUT /mmds/config (before boot). */
#include "api/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "net/mmds_stack.h"

static const struct api_field fields_config[] = {
	{ "version", T_STRING, false },
	{ "network_interfaces", T_ARRAY, true },
	{ "ipv4_address", T_STRING, false },
	{ "imds_compat", T_BOOL, false },
	{ 0 },
};

static void store_result(int ret, struct api_reply *r)
{
	if (ret == -E2BIG)
		api_fault(r, 413, "The MMDS patch request doesn't fit.");
	else if (ret == -ENODATA)
		api_bad(r, "The MMDS data store is not initialized.");
	else if (ret)
		api_fault(r, 500, "Out of memory.");
	else
		api_no_content(r);
}

void api_mmds(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
	      struct api_reply *r)
{
	struct mmds_shared *s = vmm->mmds;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	if (m == API_GET)
		api_ok(r, mmds_store_json(&s->m.store));
	else
		ret = m == API_PUT ? mmds_store_put(&s->m.store, body) : mmds_store_patch(&s->m.store, body);
	pthread_mutex_unlock(&s->lock);
	if (m != API_GET)
		store_result(ret, r);
}

static int net_index(const struct vm_config *c, const char *id)
{
	for (int i = 0; i < c->nr_nets; i++)
		if (c->nets[i].id && !strcmp(c->nets[i].id, id))
			return i;
	return -1;
}

/* network_interfaces: existing iface_ids; their flags into *mask. */
static bool config_ifaces(const struct vm_config *c, const json_t *list, unsigned *mask,
			  struct api_reply *r)
{
	size_t i;
	json_t *v;

	*mask = 0;
	json_array_foreach(list, i, v) {
		int n = json_is_string(v) ? net_index(c, json_string_value(v)) : -2;
		if (n == -2) {
			api_bad(r, "An error occurred when deserializing the json body of a request: "
				   "invalid type: %s, expected a string.", json_is_null(v) ? "null" : "non-string");
			return false;
		}
		if (n < 0) {
			api_bad(r, "The list of network interface IDs provided contains at least one ID "
				   "that does not correspond to any existing network interface.");
			return false;
		}
		*mask |= 1u << n;
	}
	return true;
}

static void mmds_config_put(struct vmm *vmm, json_t *body, struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	const char *ver, *ip;
	struct in_addr a = { htonl(MMDS_DEFAULT_IPV4) };
	unsigned mask;

	/* In Firecracker's order: the body's shape, the list's emptiness, the address, the ids. */
	if (!api_check(body, fields_config, r))
		return;
	ver = api_str(body, "version", "V1");
	ip = api_str(body, "ipv4_address", NULL);
	if (strcmp(ver, "V1") && strcmp(ver, "V2")) {
		api_bad(r, "An error occurred when deserializing the json body of a request: unknown "
			   "variant `%.32s`, expected `V1` or `V2`.", ver);
		return;
	}
	if (ip && inet_pton(AF_INET, ip, &a) != 1) {
		api_bad(r, "An error occurred when deserializing the json body of a request: invalid "
			   "IPv4 address syntax: '%.32s'.", ip);
		return;
	}
	if (!json_array_size(json_object_get(body, "network_interfaces"))) {
		api_bad(r, "The list of network interface IDs that allow forwarding MMDS requests is empty.");
		return;
	}
	if ((ntohl(a.s_addr) >> 16) != 0xa9fe) {
		api_bad(r, "The MMDS IPv4 address is not link local.");
		return;
	}
	if (!config_ifaces(c, json_object_get(body, "network_interfaces"), &mask, r))
		return;
	for (int i = 0; i < c->nr_nets; i++)
		c->nets[i].mmds = mask & 1u << i;
	c->mmds = true;
	c->mmds_version = ver[1] == '2' ? MMDS_V2 : MMDS_V1;
	c->mmds_ipv4 = ntohl(a.s_addr);
	c->mmds_imds_compat = api_bool(body, "imds_compat", false);
	pthread_mutex_lock(&vmm->mmds->lock);
	vmm->mmds->m.version = c->mmds_version;
	vmm->mmds->m.imds_compat = c->mmds_imds_compat;
	pthread_mutex_unlock(&vmm->mmds->lock);
	api_no_content(r);
}

void api_mmds_config(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		     struct api_reply *r)
{
	if (vmm->state != VMM_NOT_STARTED)
		api_bad(r, API_PREBOOT_ONLY);
	else
		mmds_config_put(vmm, body, r);
}

/* GET /vm/config's "mmds-config": null when MMDS is not configured. */
json_t *api_mmds_config_json(const struct vm_config *c)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = { htonl(c->mmds_ipv4) };
	json_t *ifaces;

	if (!c->mmds)
		return json_null();
	ifaces = json_array();
	for (int i = 0; i < c->nr_nets; i++)
		if (c->nets[i].mmds && c->nets[i].id)
			json_array_append_new(ifaces, json_string(c->nets[i].id));
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	return json_pack("{s:s, s:o, s:s, s:b}", "version", c->mmds_version == MMDS_V2 ? "V2" : "V1",
			 "network_interfaces", ifaces, "ipv4_address", ip, "imds_compat",
			 c->mmds_imds_compat);
}
