/* The VM's configuration as a snapshot carries it: what a restore rebuilds the machine from. */
#include "vmm/config_state.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/*
 * Longest string the section holds, with its NUL: a console's "file:" or "unix:" and a path
 * of up to PATH_MAX. Restore reads none longer, so save writes none longer.
 */
#define CFG_STR_MAX (PATH_MAX + 8)

/* ---- what save writes and restore accepts ------------------------------------------------ */

/* virtio-blk's device ID: the serial the guest reads, without a NUL. */
#define DISK_SERIAL_MAX 20

/* NULL, or shorter than max with its NUL. */
static bool str_fits(const char *s, size_t max)
{
	return !s || strlen(s) < max;
}

static bool transport_ok(enum virtio_transport t)
{
	return (unsigned int)t <= TRANSPORT_PCI;
}

/*
 * The limits the command line and the API hold an entry to, which the builder and the API
 * rely on after a restore (an id they strcmp(), a path they open, a TAP name for ifreq).
 */
static const char *disk_check(const struct disk_config *d)
{
	if (!d->id || !str_fits(d->id, VMON_ID_MAX))
		return "drive id";
	if (!transport_ok(d->transport))
		return "virtio transport";
	if (!d->path || !*d->path || !str_fits(d->path, PATH_MAX))
		return "drive path";
	if (!str_fits(d->serial, DISK_SERIAL_MAX + 1))
		return "drive serial";
	if (!str_fits(d->partuuid, VMON_ID_MAX))
		return "drive partuuid";
	return NULL;
}

static const char *net_check(const struct net_config *n)
{
	if (!n->id || !str_fits(n->id, VMON_ID_MAX))
		return "interface id";
	if (!transport_ok(n->transport))
		return "virtio transport";
	if (n->tap && (!*n->tap || !str_fits(n->tap, IFNAMSIZ) || strchr(n->tap, '/')))
		return "interface host_dev_name";
	if (n->has_mac && (n->mac[0] & 1))
		return "interface MAC (multicast)";
	if (n->mtu && n->mtu < 68)
		return "interface MTU";
	if (n->nr_fwd < 0 || n->nr_fwd > NET_MAX_HOSTFWD)
		return "number of port forwards";
	return NULL;
}

/* Only ivshmem-plain on a file is in a snapshot (vm_shm_check_saveable() refuses the rest). */
static const char *shm_check(const struct shm_config *m)
{
	char why[200];

	if (!m->id || !snap_id_valid(m->id)) /* it becomes the device's section id */
		return "shm id";
	if (m->socket || m->memfd || !m->path || !str_fits(m->path, PATH_MAX))
		return "shm device (only ivshmem-plain on a file is saved)";
	if (shm_config_check(m, why, sizeof(why)))
		return "shm size";
	return NULL;
}

/* The first field out of range, or NULL. A snapshot that cannot be restored is not written. */
static const char *config_check(const struct vm_config *c)
{
	const char *bad;

	if (c->cpus < 1 || c->cpus > VMON_MAX_CPUS)
		return "vCPU count";
	if (c->memory < VMON_MIN_MEMORY || c->memory % 4096 || c->memory > VMON_MAX_MEMORY)
		return "memory size";
	if (c->hugepages && c->memory % (2 * MiB))
		return "memory size (not whole 2 MiB huge pages)";
	if (!transport_ok(c->transport) || !transport_ok(c->rng_transport) ||
	    !transport_ok(c->console_transport))
		return "virtio transport";
	if (c->accel && strcmp(c->accel, "kvm"))
		return "machine backend";
	if (!c->console || !str_fits(c->console, CFG_STR_MAX))
		return "console";
	if (c->nr_disks < 0 || c->nr_disks > VMON_MAX_DISKS)
		return "number of drives";
	for (int i = 0; i < c->nr_disks; i++)
		if ((bad = disk_check(&c->disks[i])))
			return bad;
	if (c->nr_nets < 0 || c->nr_nets > VMON_MAX_NETS)
		return "number of network interfaces";
	for (int i = 0; i < c->nr_nets; i++)
		if ((bad = net_check(&c->nets[i])))
			return bad;
	if (c->nr_shms < 0 || c->nr_shms > VMON_MAX_SHMS)
		return "number of shm devices";
	for (int i = 0; i < c->nr_shms; i++)
		if ((bad = shm_check(&c->shms[i])))
			return bad;
	if (c->nr_pmems < 0 || c->nr_pmems > VMON_MAX_PMEMS)
		return "number of pmem devices";
	for (int i = 0; i < c->nr_pmems; i++) {
		const struct pmem_config *p = &c->pmems[i];
		if (!p->id || !snap_id_valid(p->id))
			return "pmem id";
		if (!p->path || !*p->path || !str_fits(p->path, CFG_STR_MAX))
			return "pmem path";
		if (p->root && i) /* only pmems[0] may be the root */
			return "pmem root device";
		for (int k = 0; k < i; k++)
			if (!strcmp(c->pmems[k].id, p->id))
				return "pmem id (twice)";
	}
	for (int i = 0; c->nr_pmems && c->pmems[0].root && i < c->nr_disks; i++)
		if (c->disks[i].root)
			return "root device (a drive and a pmem device)";
	return NULL;
}

/* ---- save ------------------------------------------------------------------------------ */

static void put_opt_str(struct snap_buf *b, const char *s)
{
	snap_put_u8(b, s != NULL);
	if (s)
		snap_put_str(b, s);
}

static void put_bucket(struct snap_buf *b, const struct token_bucket_spec *t)
{
	snap_put_u8(b, t->set);
	snap_put_u64(b, t->size);
	snap_put_u64(b, t->one_time_burst);
	snap_put_u64(b, t->refill_time_ms);
}

static void put_limiter(struct snap_buf *b, const struct rate_limiter_spec *rl)
{
	snap_put_u8(b, rl->set);
	put_bucket(b, &rl->bandwidth);
	put_bucket(b, &rl->ops);
}

static void put_disk(struct snap_buf *b, const struct disk_config *d)
{
	put_opt_str(b, d->id);
	snap_put_u8(b, (uint8_t)d->transport);
	put_opt_str(b, d->path);
	snap_put_u8(b, d->readonly);
	snap_put_u8(b, d->sync);
	put_opt_str(b, d->serial);
	put_limiter(b, &d->limiter);
	snap_put_u8(b, d->root);
	put_opt_str(b, d->partuuid);
	snap_put_u8(b, d->writeback);
}

static void put_net(struct snap_buf *b, const struct net_config *n)
{
	put_opt_str(b, n->id);
	snap_put_u8(b, (uint8_t)n->transport);
	put_opt_str(b, n->tap);
	snap_put_bytes(b, n->mac, 6);
	snap_put_u8(b, n->has_mac);
	snap_put_u16(b, n->mtu);
	snap_put_u8(b, (uint8_t)n->nr_fwd);
	for (int i = 0; i < n->nr_fwd; i++) {
		snap_put_u8(b, n->fwd[i].udp);
		snap_put_u32(b, n->fwd[i].host_addr);
		snap_put_u16(b, n->fwd[i].host_port);
		snap_put_u32(b, n->fwd[i].guest_addr);
		snap_put_u16(b, n->fwd[i].guest_port);
	}
	put_limiter(b, &n->rx_limiter);
	put_limiter(b, &n->tx_limiter);
}

/* MMDS as Firecracker keeps it: version, imds_compat, the address and the interfaces; the
 * data store is not saved (the user PUTs it again after a load, as with Firecracker). */
static void put_mmds(struct snap_buf *b, const struct vm_config *cfg)
{
	uint8_t mask = 0;

	for (int i = 0; i < cfg->nr_nets; i++)
		mask |= (uint8_t)(cfg->nets[i].mmds << i);
	snap_put_u8(b, cfg->mmds);
	if (!cfg->mmds)
		return;
	snap_put_u8(b, cfg->mmds_version);
	snap_put_u32(b, cfg->mmds_ipv4);
	snap_put_u8(b, cfg->mmds_imds_compat);
	snap_put_u8(b, mask);
}

int config_save(const struct vm_config *cfg, struct snap_buf *out)
{
	const char *bad = config_check(cfg);

	if (bad) {
		pr_err("snapshot: the VM's configuration cannot be saved: bad %s", bad);
		return -EINVAL;
	}
	snap_put_u64(out, cfg->memory);
	snap_put_u32(out, (uint32_t)cfg->cpus);
	snap_put_u8(out, cfg->hugepages);
	snap_put_u8(out, cfg->thp);
	snap_put_u8(out, cfg->track_dirty_pages);
	snap_put_u8(out, cfg->testdev);
	snap_put_u8(out, cfg->host_quirks);
	snap_put_u8(out, (uint8_t)cfg->transport);
	put_opt_str(out, cfg->accel);
	put_opt_str(out, cfg->console);
	snap_put_u8(out, cfg->rng);
	snap_put_u8(out, (uint8_t)cfg->rng_transport);
	put_limiter(out, &cfg->rng_limiter);
	snap_put_u8(out, cfg->virtio_console);
	snap_put_u8(out, (uint8_t)cfg->console_transport);
	snap_put_u8(out, (uint8_t)cfg->nr_disks);
	for (int i = 0; i < cfg->nr_disks; i++)
		put_disk(out, &cfg->disks[i]);
	snap_put_u8(out, (uint8_t)cfg->nr_nets);
	for (int i = 0; i < cfg->nr_nets; i++)
		put_net(out, &cfg->nets[i]);
	snap_put_u8(out, cfg->balloon);
	snap_put_u32(out, cfg->balloon_mib);
	snap_put_u8(out, cfg->balloon_deflate_on_oom);
	snap_put_u32(out, cfg->balloon_stats_s);
	snap_put_u8(out, cfg->vsock);
	snap_put_u32(out, cfg->vsock_cid);
	put_opt_str(out, cfg->vsock_uds);
	put_opt_str(out, cfg->vsock_id);
	snap_put_u8(out, (uint8_t)cfg->nr_shms);
	for (int i = 0; i < cfg->nr_shms; i++) {
		put_opt_str(out, cfg->shms[i].id);
		put_opt_str(out, cfg->shms[i].path);
		snap_put_u64(out, cfg->shms[i].size);
	}
	put_mmds(out, cfg);
	/* Version 5: the balloon's free page reporting comes first. */
	snap_put_u8(out, cfg->balloon_free_page_reporting);
	snap_put_u8(out, (uint8_t)cfg->nr_pmems);
	for (int i = 0; i < cfg->nr_pmems; i++) {
		put_opt_str(out, cfg->pmems[i].id);
		put_opt_str(out, cfg->pmems[i].path);
		snap_put_u8(out, cfg->pmems[i].read_only);
		snap_put_u8(out, cfg->pmems[i].root);
	}
	return snap_buf_error(out);
}

/* ---- restore: every value checked; strings copied into the fresh configuration ------------ */

struct cfg_rd {
	struct snap_rd *in;
	uint32_t version;
	const char *bad;  /* the first field found wrong */
	bool nomem;
};

/*
 * Present (1) or absent (0), then as snap_put_str() wrote it: a u32 length and the bytes,
 * read here so that a string too long or with a NUL inside is named, not taken as truncation.
 */
static char *get_opt_str(struct cfg_rd *r, const char *what)
{
	uint8_t present = snap_get_u8(r->in);
	uint32_t n;
	char *s;

	if (present > 1)
		r->bad = r->bad ?: what;
	if (present != 1)
		return NULL;
	n = snap_get_u32(r->in);
	if (n >= CFG_STR_MAX) {
		r->bad = r->bad ?: what;
		return NULL;
	}
	if (!(s = malloc(n + 1))) {
		r->nomem = true;
		return NULL;
	}
	snap_get_bytes(r->in, s, n);
	s[n] = '\0';
	if (!r->in->error && strlen(s) != n)
		r->bad = r->bad ?: what;
	return s;
}

static bool get_flag(struct cfg_rd *r, const char *what)
{
	uint8_t v = snap_get_u8(r->in);

	if (v > 1)
		r->bad = r->bad ?: what;
	return v == 1;
}

static enum virtio_transport get_transport(struct cfg_rd *r)
{
	uint8_t v = snap_get_u8(r->in);

	if (v > TRANSPORT_PCI)
		r->bad = r->bad ?: "virtio transport";
	return v <= TRANSPORT_PCI ? (enum virtio_transport)v : TRANSPORT_DEFAULT;
}

static void get_bucket(struct cfg_rd *r, struct token_bucket_spec *t)
{
	if (r->version >= 2)
		t->set = get_flag(r, "token bucket");
	t->size = snap_get_u64(r->in);
	t->one_time_burst = snap_get_u64(r->in);
	t->refill_time_ms = snap_get_u64(r->in);
	/* Version 1 kept no flag: a bucket the API was not given is all zero. */
	if (r->version < 2)
		t->set = t->size || t->one_time_burst || t->refill_time_ms;
}

static void get_limiter(struct cfg_rd *r, struct rate_limiter_spec *rl)
{
	rl->set = get_flag(r, "rate limiter");
	get_bucket(r, &rl->bandwidth);
	get_bucket(r, &rl->ops);
}

static void get_disk(struct cfg_rd *r, struct disk_config *d)
{
	d->id = get_opt_str(r, "drive id");
	d->transport = get_transport(r);
	d->path = get_opt_str(r, "drive path");
	d->readonly = get_flag(r, "drive read-only flag");
	d->sync = get_flag(r, "drive io_engine");
	d->serial = get_opt_str(r, "drive serial");
	get_limiter(r, &d->limiter);
	d->root = get_flag(r, "drive root flag");
	d->partuuid = get_opt_str(r, "drive partuuid");
	d->writeback = get_flag(r, "drive cache type");
}

static void get_net(struct cfg_rd *r, struct net_config *n)
{
	n->id = get_opt_str(r, "interface id");
	n->transport = get_transport(r);
	n->tap = get_opt_str(r, "interface host_dev_name");
	snap_get_bytes(r->in, n->mac, 6);
	n->has_mac = get_flag(r, "interface MAC flag");
	n->mtu = snap_get_u16(r->in);
	uint8_t nr_fwd = snap_get_u8(r->in);
	if (nr_fwd > NET_MAX_HOSTFWD) {
		r->bad = r->bad ?: "number of port forwards";
		return;
	}
	n->nr_fwd = nr_fwd;
	for (int i = 0; i < n->nr_fwd; i++) {
		n->fwd[i].udp = get_flag(r, "port forward protocol");
		n->fwd[i].host_addr = snap_get_u32(r->in);
		n->fwd[i].host_port = snap_get_u16(r->in);
		n->fwd[i].guest_addr = snap_get_u32(r->in);
		n->fwd[i].guest_port = snap_get_u16(r->in);
	}
	get_limiter(r, &n->rx_limiter);
	get_limiter(r, &n->tx_limiter);
}

static void get_machine(struct cfg_rd *r, struct vm_config *c)
{
	c->memory = snap_get_u64(r->in);
	uint32_t cpus = snap_get_u32(r->in);
	c->cpus = cpus <= VMON_MAX_CPUS ? (int)cpus : 0; /* 0: refused by config_check() */
	c->hugepages = get_flag(r, "huge pages flag");
	c->thp = get_flag(r, "transparent huge pages flag");
	c->track_dirty_pages = get_flag(r, "track_dirty_pages");
	c->testdev = get_flag(r, "test device flag");
	c->host_quirks = get_flag(r, "host quirks flag");
	c->transport = get_transport(r);
	c->accel = get_opt_str(r, "machine backend");
	c->console = get_opt_str(r, "console");
	c->rng = get_flag(r, "entropy device flag");
	c->rng_transport = get_transport(r);
	get_limiter(r, &c->rng_limiter);
	c->virtio_console = get_flag(r, "virtio-console flag");
	c->console_transport = get_transport(r);
}

static void get_mmds(struct cfg_rd *r, struct vm_config *c)
{
	c->mmds = get_flag(r, "MMDS flag");
	if (!c->mmds)
		return;
	c->mmds_version = snap_get_u8(r->in);
	c->mmds_ipv4 = snap_get_u32(r->in);
	c->mmds_imds_compat = get_flag(r, "MMDS imds_compat");
	uint8_t mask = snap_get_u8(r->in);
	if (r->in->error)
		return; /* truncated: said once the section's end is checked */
	if (c->mmds_version != 1 && c->mmds_version != 2)
		r->bad = r->bad ?: "MMDS version";
	if (c->mmds_ipv4 >> 16 != 0xa9fe)
		r->bad = r->bad ?: "MMDS address";
	if (!mask || mask >> c->nr_nets)
		r->bad = r->bad ?: "MMDS interfaces";
	for (int i = 0; i < c->nr_nets; i++)
		c->nets[i].mmds = mask >> i & 1;
}

int config_restore(struct vm_config *cfg, struct snap_rd *in, uint32_t version, char *err,
		   size_t errlen)
{
	struct vm_config c = { .no_net = true, .log_level = cfg->log_level,
			       .mmds_service = cfg->mmds_service };
	struct cfg_rd r = { .in = in, .version = version };

	if (version < 1 || version > CONFIG_STATE_VERSION) {
		snprintf(err, errlen, "the configuration section has version %u; this vmon reads 1 "
			 "to %u", version, CONFIG_STATE_VERSION);
		return -EINVAL;
	}
	/* Not in the section: this host's, not the VM's. */
	r.nomem = config_keep_placement(&c, cfg) != 0;
	get_machine(&r, &c);
	uint8_t nr = snap_get_u8(in);
	if (nr > VMON_MAX_DISKS)
		r.bad = r.bad ?: "number of drives";
	for (int i = 0; !r.bad && i < nr; i++, c.nr_disks++)
		get_disk(&r, &c.disks[i]);
	nr = r.bad ? 0 : snap_get_u8(in);
	if (nr > VMON_MAX_NETS)
		r.bad = r.bad ?: "number of network interfaces";
	for (int i = 0; !r.bad && i < nr; i++, c.nr_nets++)
		get_net(&r, &c.nets[i]);
	if (!r.bad && version >= 3) {
		c.balloon = get_flag(&r, "balloon flag");
		c.balloon_mib = snap_get_u32(in);
		c.balloon_deflate_on_oom = get_flag(&r, "balloon deflate_on_oom");
		c.balloon_stats_s = snap_get_u32(in);
		if (c.balloon_mib > c.memory >> 20)
			r.bad = r.bad ?: "balloon size";
	}
	if (!r.bad && version >= 4) {
		c.vsock = get_flag(&r, "vsock flag");
		c.vsock_cid = snap_get_u32(in);
		c.vsock_uds = get_opt_str(&r, "vsock uds_path");
		c.vsock_id = get_opt_str(&r, "vsock_id");
		if (!in->error && c.vsock && (c.vsock_cid < 3 || !c.vsock_uds || !*c.vsock_uds))
			r.bad = r.bad ?: "vsock guest_cid or uds_path";
		uint8_t nr_shms = snap_get_u8(in);
		if (nr_shms > VMON_MAX_SHMS)
			r.bad = r.bad ?: "number of shm devices";
		for (int i = 0; !r.bad && i < nr_shms; i++, c.nr_shms++) {
			c.shms[i].id = get_opt_str(&r, "shm id");
			c.shms[i].path = get_opt_str(&r, "shm path");
			c.shms[i].size = snap_get_u64(in);
		}
		if (!r.bad)
			get_mmds(&r, &c);
	}
	/* Version 5: the balloon's free page reporting first (other version 5 fields after). */
	if (!r.bad && version >= 5) {
		c.balloon_free_page_reporting = get_flag(&r, "balloon free_page_reporting");
		uint8_t nr_pmems = snap_get_u8(in);
		if (nr_pmems > VMON_MAX_PMEMS)
			r.bad = r.bad ?: "number of pmem devices";
		for (int i = 0; !r.bad && i < nr_pmems; i++, c.nr_pmems++) {
			c.pmems[i].id = get_opt_str(&r, "pmem id");
			c.pmems[i].path = get_opt_str(&r, "pmem path");
			c.pmems[i].read_only = get_flag(&r, "pmem read-only flag");
			c.pmems[i].root = get_flag(&r, "pmem root flag");
		}
	}
	if (!r.bad && snap_rd_end(in))
		r.bad = in->error ? "length: truncated" : "length: bytes after the last field";
	if (!r.bad)
		r.bad = config_check(&c);
	if (r.bad || r.nomem) {
		if (r.nomem)
			snprintf(err, errlen, "out of memory for the snapshot's configuration");
		else
			snprintf(err, errlen, "the snapshot's configuration is corrupt (%s)", r.bad);
		config_clear(&c);
		return r.nomem ? -ENOMEM : -EINVAL;
	}
	config_clear(cfg);
	*cfg = c;
	return 0;
}
