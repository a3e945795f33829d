/* PUT/PATCH /network-interfaces/{iface_id}: virtio-net on a TAP device; limits after boot. */
#include "api/api.h"

#include <net/if.h>
#include <stdio.h>
#include <string.h>

static const struct api_field fields_put[] = {
	{ "iface_id", T_STRING, true },
	{ "host_dev_name", T_STRING, true },
	{ "guest_mac", T_STRING, false },
	{ "mtu", T_UINT, false },
	{ "rx_rate_limiter", T_OBJECT, false },
	{ "tx_rate_limiter", T_OBJECT, false },
	{ 0 },
};

static const struct api_field fields_patch[] = {
	{ "iface_id", T_STRING, true },
	{ "rx_rate_limiter", T_OBJECT, false },
	{ "tx_rate_limiter", T_OBJECT, false },
	{ 0 },
};

static int net_find(const struct vm_config *c, const char *id)
{
	for (int i = 0; i < c->nr_nets; i++)
		if (!strcmp(c->nets[i].id, id))
			return i;
	return -1;
}

static bool mac_parse(const char *str, uint8_t mac[6])
{
	unsigned m[6];
	char end;

	if (sscanf(str, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
		   &end) != 6 || strlen(str) != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	return true;
}

/* The body as an interface; on failure what n holds is still for the caller to free. */
static bool net_parse(const json_t *body, struct net_config *n, struct api_reply *r)
{
	const char *mac = api_str(body, "guest_mac", NULL);

	memset(n, 0, sizeof(*n));
	if (!api_dup(&n->id, VMON_ID_MAX, body, "iface_id", r) ||
	    !api_rate_limiter(json_object_get(body, "rx_rate_limiter"), "rx_rate_limiter",
			      &n->rx_limiter, r) ||
	    !api_rate_limiter(json_object_get(body, "tx_rate_limiter"), "tx_rate_limiter",
			      &n->tx_limiter, r))
		return false;
	const char *dev = api_str(body, "host_dev_name", "");
	if (!*dev || strlen(dev) >= IFNAMSIZ || strchr(dev, '/')) {
		api_bad(r, "Could not create the network device: invalid TAP device name '%.64s' "
			   "(1 to 15 characters).", dev);
		return false;
	}
	if (config_set(&n->tap, dev)) {
		api_fault(r, 500, "Out of memory.");
		return false;
	}
	if (mac && (!mac_parse(mac, n->mac) || (n->mac[0] & 1))) {
		api_bad(r, "Invalid guest MAC address '%.32s': use a unicast xx:xx:xx:xx:xx:xx.", mac);
		return false;
	}
	n->has_mac = mac != NULL;
	uint64_t mtu = api_uint(body, "mtu", 1500);
	if (mtu < 68 || mtu > 65535) {
		api_bad(r, "Invalid MTU %llu: use 68 to 65535.", (unsigned long long)mtu);
		return false;
	}
	if (json_is_integer(json_object_get(body, "mtu")))
		n->mtu = (uint16_t)mtu;
	return true;
}

/* Each TAP device and guest MAC once, and room for a new interface. */
static bool net_fits(const struct vm_config *c, int i, const struct net_config *n,
		     const json_t *body, struct api_reply *r)
{
	for (int j = 0; j < c->nr_nets; j++) {
		if (j == i)
			continue;
		if (c->nets[j].tap && !strcmp(c->nets[j].tap, n->tap)) {
			api_bad(r, "The host device name %s is already in use.", n->tap);
			return false;
		}
		if (n->has_mac && c->nets[j].has_mac && !memcmp(c->nets[j].mac, n->mac, 6)) {
			api_bad(r, "The guest MAC address %s is already in use.", api_str(body, "guest_mac", ""));
			return false;
		}
	}
	if (i < 0 && c->nr_nets == VMON_MAX_NETS) {
		api_bad(r, "Could not create the network device: vmon supports at most %d.", VMON_MAX_NETS);
		return false;
	}
	return true;
}

static void net_put(struct vmm *vmm, const char *id, json_t *body, struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	struct net_config n;
	int i = net_find(c, id);

	if (!api_check(body, fields_put, r) || !api_same_id(id, body, "iface_id", r))
		return;
	if (!net_parse(body, &n, r) || !net_fits(c, i, &n, body, r)) {
		net_config_clear(&n);
		return;
	}
	if (i < 0)
		i = c->nr_nets++;
	else
		net_config_clear(&c->nets[i]);
	c->nets[i] = n;
	api_no_content(r);
}

static void net_patch(struct vmm *vmm, const char *id, json_t *body, struct api_reply *r)
{
	struct rate_limiter_spec rx, tx;
	char err[256];
	int i = net_find(&vmm->cfg, id);

	if (!api_check(body, fields_patch, r) || !api_same_id(id, body, "iface_id", r))
		return;
	if (i < 0) {
		api_bad(r, "Invalid network interface ID: no interface '%s'.", id);
		return;
	}
	if (!api_rate_limiter(json_object_get(body, "rx_rate_limiter"), "rx_rate_limiter", &rx, r) ||
	    !api_rate_limiter(json_object_get(body, "tx_rate_limiter"), "tx_rate_limiter", &tx, r))
		return;
	if (vmm_net_limit(vmm, i, rx.set ? &rx : NULL, tx.set ? &tx : NULL, err, sizeof(err))) {
		api_bad(r, "Unable to patch the network interface: %s", err);
		return;
	}
	api_no_content(r);
}

void api_network(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		 struct api_reply *r)
{
	if (m == API_PUT && vmm->state != VMM_NOT_STARTED)
		api_bad(r, API_PREBOOT_ONLY);
	else if (m == API_PATCH && vmm->state == VMM_NOT_STARTED)
		api_bad(r, API_POSTBOOT_ONLY);
	else if (m == API_PUT)
		net_put(vmm, id, body, r);
	else
		net_patch(vmm, id, body, r);
}

json_t *api_network_json(const struct vm_config *c)
{
	json_t *a = json_array();

	for (int i = 0; a && i < c->nr_nets; i++) {
		const struct net_config *n = &c->nets[i];
		char mac[18];
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
			 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		/* Firecracker's NetworkInterfaceConfig: guest_mac and mtu null when unset. */
		json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "iface_id", n->id,
				      "host_dev_name", n->tap ? n->tap : "", "guest_mac",
				      n->has_mac ? json_string(mac) : json_null(), "mtu",
				      n->mtu ? json_integer(n->mtu) : json_null(), "rx_rate_limiter",
				      api_rate_limiter_json(&n->rx_limiter), "tx_rate_limiter",
				      api_rate_limiter_json(&n->tx_limiter));
		json_array_append_new(a, o);
	}
	return a;
}
