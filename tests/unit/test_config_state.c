/*
 * The configuration's snapshot section: every field through a save/restore/save round trip,
 * every truncation and hostile values refused with the target untouched and the bad field
 * named, and save refusing what restore would.
 */
#include "unit.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vmm/config_state.h"

static char err[256];

static void set_str(char **slot, const char *fmt, ...)
{
	char buf[PATH_MAX + 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_int_equal(config_set(slot, buf), 0);
}

/* A different non-zero value at every call, so two fields never agree by accident. */
static uint64_t next_pattern(uint64_t *seed)
{
	*seed += 0x9e3779b97f4a7c15ull;
	return *seed | 1;
}

static void fill_bucket(struct token_bucket_spec *t, uint64_t *seed)
{
	t->set = true;
	t->size = next_pattern(seed);
	t->one_time_burst = next_pattern(seed);
	t->refill_time_ms = next_pattern(seed);
}

/* Both buckets, or only the bandwidth one (an ops bucket the API was not given is all zero). */
static void fill_limiter(struct rate_limiter_spec *rl, uint64_t *seed, bool ops)
{
	rl->set = true;
	fill_bucket(&rl->bandwidth, seed);
	if (ops)
		fill_bucket(&rl->ops, seed);
}

static void fill_disk(struct disk_config *d, int i, uint64_t *seed)
{
	set_str(&d->id, "drive-%c-%llx", 'a' + i, (unsigned long long)(*seed & 0xffff));
	d->transport = (enum virtio_transport)((i + 1) % 3);
	set_str(&d->path, "/var/lib/vmon/%d/disk%d.img", (int)(*seed % 1000), i);
	d->readonly = i & 1;
	d->sync = i & 2;
	if (i % 4 != 3)
		set_str(&d->serial, "serial-%d", i);
	if (i % 2 == 0)
		fill_limiter(&d->limiter, seed, i % 4 == 0);
	d->root = i == 2;
	if (i == 2)
		set_str(&d->partuuid, "0badc0de-%02d", i);
	d->writeback = i & 4;
}

static void fill_net(struct net_config *n, int i, uint64_t *seed)
{
	set_str(&n->id, "eth%d-%llx", i, (unsigned long long)(*seed & 0xfff));
	n->transport = (enum virtio_transport)((i + 2) % 3);
	if (i == 0)
		set_str(&n->tap, "vmontap%d", (int)(*seed % 100));
	n->has_mac = i != 2;
	for (int k = 0; k < 6; k++)
		n->mac[k] = (uint8_t)(next_pattern(seed) & ~1u); /* unicast */
	n->mtu = i == 3 ? 0 : (uint16_t)(1400 + i);
	n->nr_fwd = i == 0 ? 0 : i == 1 ? NET_MAX_HOSTFWD : i;
	for (int k = 0; k < n->nr_fwd; k++) {
		n->fwd[k].udp = k & 1;
		n->fwd[k].host_addr = (uint32_t)next_pattern(seed);
		n->fwd[k].host_port = (uint16_t)next_pattern(seed);
		n->fwd[k].guest_addr = (uint32_t)next_pattern(seed);
		n->fwd[k].guest_port = (uint16_t)next_pattern(seed);
	}
	fill_limiter(&n->rx_limiter, seed, i & 1);
	if (i != 2)
		fill_limiter(&n->tx_limiter, seed, !(i & 1));
}

/* Every field the section holds, each away from its default; `seed` makes two differ. */
static void fill_config(struct vm_config *c, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->memory = 0x123400000ull + (seed % 16) * 2 * MiB;
	c->cpus = 7 + (int)(seed % 8);
	c->hugepages = true;
	c->thp = true;
	c->track_dirty_pages = true;
	c->testdev = true;
	c->host_quirks = false; /* the command line's default is true */
	c->transport = TRANSPORT_PCI;
	set_str(&c->accel, "kvm");
	set_str(&c->console, "file:/tmp/vmon-console-%llu.log", (unsigned long long)seed);
	c->rng = true;
	c->rng_transport = TRANSPORT_MMIO;
	fill_limiter(&c->rng_limiter, &seed, true);
	c->virtio_console = true;
	c->console_transport = TRANSPORT_PCI;
	c->balloon = true;
	c->balloon_mib = 100 + (uint32_t)(seed % 7);
	c->balloon_deflate_on_oom = true;
	c->balloon_free_page_reporting = true;
	c->balloon_stats_s = 3 + (uint32_t)(seed % 5);
	c->vsock = true;
	c->vsock_cid = 3 + (uint32_t)(seed % 11);
	set_str(&c->vsock_uds, "/tmp/vmon-vsock-%llu.sock", (unsigned long long)seed);
	set_str(&c->vsock_id, "vsock%llu", (unsigned long long)seed);
	c->mmds = true;
	c->mmds_version = 2;
	c->mmds_ipv4 = 0xa9fe0000u | (uint32_t)(seed % 65536);
	c->mmds_imds_compat = true;
	c->nr_disks = VMON_MAX_DISKS;
	for (int i = 0; i < c->nr_disks; i++)
		fill_disk(&c->disks[i], i, &seed);
	c->nr_nets = VMON_MAX_NETS;
	for (int i = 0; i < c->nr_nets; i++)
		fill_net(&c->nets[i], i, &seed);
	c->nr_shms = VMON_MAX_SHMS;
	for (int i = 0; i < c->nr_shms; i++) {
		set_str(&c->shms[i].id, "shm-%d-%llx", i, (unsigned long long)(seed & 0xfff));
		set_str(&c->shms[i].path, "/dev/shm/vmon-%d-%d", (int)(seed % 1000), i);
		c->shms[i].size = 4096ULL << (i + seed % 8);
	}
	c->nets[1].mmds = c->nets[3].mmds = true;
	c->nr_pmems = VMON_MAX_PMEMS;
	for (int i = 0; i < c->nr_pmems; i++) {
		set_str(&c->pmems[i].id, "pmem-%d-%llx", i, (unsigned long long)(seed & 0xfff));
		set_str(&c->pmems[i].path, "/var/lib/vmon/pmem-%d-%d.img", (int)(seed % 1000), i);
		c->pmems[i].read_only = (seed + (uint64_t)i) % 2;
	}
	for (int i = 0; i < c->nr_disks; i++)
		c->disks[i].root = false; /* pmems[0] is the root: a drive cannot be too */
	c->pmems[0].root = true;
}

/* The least a configuration holds: one vCPU, minimum memory, the console, no devices. */
static void small_config(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->memory = VMON_MIN_MEMORY;
	c->cpus = 1;
	set_str(&c->console, "stdio");
}

static void assert_str_same(const char *a, const char *b)
{
	if (a && b)
		assert_string_equal(a, b);
	else
		assert_ptr_equal(a, b);
}

static void assert_bucket_same(const struct token_bucket_spec *a, const struct token_bucket_spec *b)
{
	assert_int_equal(a->set, b->set);
	assert_true(a->size == b->size);
	assert_true(a->one_time_burst == b->one_time_burst);
	assert_true(a->refill_time_ms == b->refill_time_ms);
}

static void assert_limiter_same(const struct rate_limiter_spec *a, const struct rate_limiter_spec *b)
{
	assert_int_equal(a->set, b->set);
	assert_bucket_same(&a->bandwidth, &b->bandwidth);
	assert_bucket_same(&a->ops, &b->ops);
}

static void assert_disk_same(const struct disk_config *a, const struct disk_config *b)
{
	assert_str_same(a->id, b->id);
	assert_int_equal(a->transport, b->transport);
	assert_str_same(a->path, b->path);
	assert_int_equal(a->readonly, b->readonly);
	assert_int_equal(a->sync, b->sync);
	assert_str_same(a->serial, b->serial);
	assert_limiter_same(&a->limiter, &b->limiter);
	assert_int_equal(a->root, b->root);
	assert_str_same(a->partuuid, b->partuuid);
	assert_int_equal(a->writeback, b->writeback);
}

static void assert_net_same(const struct net_config *a, const struct net_config *b)
{
	assert_str_same(a->id, b->id);
	assert_int_equal(a->transport, b->transport);
	assert_str_same(a->tap, b->tap);
	assert_memory_equal(a->mac, b->mac, 6);
	assert_int_equal(a->has_mac, b->has_mac);
	assert_int_equal(a->mtu, b->mtu);
	assert_int_equal(a->nr_fwd, b->nr_fwd);
	for (int k = 0; k < a->nr_fwd; k++) {
		assert_int_equal(a->fwd[k].udp, b->fwd[k].udp);
		assert_int_equal(a->fwd[k].host_addr, b->fwd[k].host_addr);
		assert_int_equal(a->fwd[k].host_port, b->fwd[k].host_port);
		assert_int_equal(a->fwd[k].guest_addr, b->fwd[k].guest_addr);
		assert_int_equal(a->fwd[k].guest_port, b->fwd[k].guest_port);
	}
	assert_limiter_same(&a->rx_limiter, &b->rx_limiter);
	assert_limiter_same(&a->tx_limiter, &b->tx_limiter);
}

/* Every field the section carries. */
static void assert_config_same(const struct vm_config *a, const struct vm_config *b)
{
	assert_true(a->memory == b->memory);
	assert_int_equal(a->cpus, b->cpus);
	assert_int_equal(a->hugepages, b->hugepages);
	assert_int_equal(a->thp, b->thp);
	assert_int_equal(a->track_dirty_pages, b->track_dirty_pages);
	assert_int_equal(a->testdev, b->testdev);
	assert_int_equal(a->host_quirks, b->host_quirks);
	assert_int_equal(a->transport, b->transport);
	assert_str_same(a->accel, b->accel);
	assert_str_same(a->console, b->console);
	assert_int_equal(a->balloon, b->balloon);
	assert_int_equal(a->balloon_mib, b->balloon_mib);
	assert_int_equal(a->balloon_deflate_on_oom, b->balloon_deflate_on_oom);
	assert_int_equal(a->balloon_stats_s, b->balloon_stats_s);
	assert_int_equal(a->balloon_free_page_reporting, b->balloon_free_page_reporting);
	assert_int_equal(a->vsock, b->vsock);
	assert_int_equal(a->vsock_cid, b->vsock_cid);
	assert_str_same(a->vsock_uds, b->vsock_uds);
	assert_str_same(a->vsock_id, b->vsock_id);
	assert_int_equal(a->mmds, b->mmds);
	if (a->mmds) {
		assert_int_equal(a->mmds_version, b->mmds_version);
		assert_int_equal(a->mmds_ipv4, b->mmds_ipv4);
		assert_int_equal(a->mmds_imds_compat, b->mmds_imds_compat);
	}
	for (int i = 0; a->mmds && i < a->nr_nets; i++)
		assert_int_equal(a->nets[i].mmds, b->nets[i].mmds);
	assert_int_equal(a->rng, b->rng);
	assert_int_equal(a->rng_transport, b->rng_transport);
	assert_limiter_same(&a->rng_limiter, &b->rng_limiter);
	assert_int_equal(a->virtio_console, b->virtio_console);
	assert_int_equal(a->console_transport, b->console_transport);
	assert_int_equal(a->nr_disks, b->nr_disks);
	for (int i = 0; i < a->nr_disks; i++)
		assert_disk_same(&a->disks[i], &b->disks[i]);
	assert_int_equal(a->nr_nets, b->nr_nets);
	for (int i = 0; i < a->nr_nets; i++)
		assert_net_same(&a->nets[i], &b->nets[i]);
	assert_int_equal(a->nr_shms, b->nr_shms);
	for (int i = 0; i < a->nr_shms; i++) {
		assert_str_same(a->shms[i].id, b->shms[i].id);
		assert_str_same(a->shms[i].path, b->shms[i].path);
		assert_str_same(a->shms[i].socket, b->shms[i].socket);
		assert_int_equal(a->shms[i].memfd, b->shms[i].memfd);
		assert_int_equal(a->shms[i].vectors, b->shms[i].vectors);
		assert_true(a->shms[i].size == b->shms[i].size);
	}
	assert_int_equal(a->nr_pmems, b->nr_pmems);
	for (int i = 0; i < a->nr_pmems; i++) {
		assert_str_same(a->pmems[i].id, b->pmems[i].id);
		assert_str_same(a->pmems[i].path, b->pmems[i].path);
		assert_int_equal(a->pmems[i].read_only, b->pmems[i].read_only);
		assert_int_equal(a->pmems[i].root, b->pmems[i].root);
	}
}

static void save_ok(const struct vm_config *c, struct snap_buf *b)
{
	snap_buf_init(b);
	assert_int_equal(config_save(c, b), 0);
	assert_true(b->len > 0);
}

static int restore_bytes(struct vm_config *c, const void *p, size_t len)
{
	struct snap_rd r;

	err[0] = '\0';
	snap_rd_init(&r, p, len);
	return config_restore(c, &r, CONFIG_STATE_VERSION, err, sizeof(err));
}

static void assert_bytes_same(const struct snap_buf *a, const struct snap_buf *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->data, b->data, a->len);
}

/* Restore into a fresh configuration, compare, and save again to the same bytes. */
static void assert_roundtrip(const struct vm_config *c)
{
	struct vm_config back = { 0 };
	struct snap_buf b, again;

	save_ok(c, &b);
	assert_int_equal(restore_bytes(&back, b.data, b.len), 0);
	assert_config_same(c, &back);
	save_ok(&back, &again);
	assert_bytes_same(&b, &again);
	snap_buf_free(&b);
	snap_buf_free(&again);
	config_clear(&back);
}

static void test_roundtrip_every_field(void **state)
{
	struct vm_config c;
	(void)state;

	fill_config(&c, 1);
	assert_roundtrip(&c);
	config_clear(&c);
	small_config(&c);
	assert_roundtrip(&c);
	config_clear(&c);
}

/* Each flag alone, so that two flags read back in each other's place would show. */
static void test_each_flag_alone(void **state)
{
	struct vm_config c;
	(void)state;

	fill_config(&c, 2);
	bool *flags[] = {
		&c.hugepages, &c.thp, &c.track_dirty_pages, &c.testdev, &c.host_quirks, &c.rng,
		&c.virtio_console, &c.balloon, &c.balloon_deflate_on_oom,
		&c.balloon_free_page_reporting, &c.vsock, &c.rng_limiter.set, &c.rng_limiter.bandwidth.set,
		&c.rng_limiter.ops.set, &c.disks[1].readonly, &c.disks[1].sync, &c.disks[1].root,
		&c.disks[1].writeback, &c.disks[1].limiter.set, &c.nets[1].has_mac,
		&c.nets[1].fwd[0].udp, &c.nets[1].rx_limiter.set, &c.nets[1].tx_limiter.set,
		&c.pmems[0].root, &c.pmems[1].read_only,
	};
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		for (size_t k = 0; k < ARRAY_SIZE(flags); k++)
			*flags[k] = k == i;
		assert_roundtrip(&c);
	}
	config_clear(&c);
}

/* Restore replaces the whole configuration and frees what it held; the log level stays. */
static void test_restore_replaces(void **state)
{
	struct vm_config c, target;
	struct snap_buf b;
	(void)state;

	small_config(&c);
	fill_config(&target, 3);
	set_str(&target.kernel, "vmlinux");
	set_str(&target.api_sock, "/tmp/api.sock");
	target.log_level = 3;
	target.smt = true;
	save_ok(&c, &b);
	assert_int_equal(restore_bytes(&target, b.data, b.len), 0);
	assert_config_same(&c, &target);
	assert_null(target.kernel);
	assert_null(target.api_sock);
	assert_int_equal(target.log_level, 3);
	assert_true(target.no_net);
	snap_buf_free(&b);
	config_clear(&c);
	config_clear(&target);
}

/* Refused with -EINVAL and the target as it was (compared by what it saves). */
static void assert_refused_bytes(const void *p, size_t len, const char *field)
{
	struct vm_config target;
	struct snap_buf before, after;

	fill_config(&target, 99);
	save_ok(&target, &before);
	assert_int_equal(restore_bytes(&target, p, len), -EINVAL);
	if (field && !strstr(err, field))
		fail_msg("refused with \"%s\", which does not name %s", err, field);
	assert_true(err[0] != '\0');
	save_ok(&target, &after);
	assert_bytes_same(&before, &after);
	snap_buf_free(&before);
	snap_buf_free(&after);
	config_clear(&target);
}

/* The saved bytes with n bytes at off replaced. */
static void assert_refused_patch(const struct snap_buf *good, size_t off, const void *v, size_t n,
				 const char *field)
{
	uint8_t *p = malloc(good->len);

	assert_true(off + n <= good->len);
	memcpy(p, good->data, good->len);
	memcpy(p + off, v, n);
	assert_refused_bytes(p, good->len, field);
	free(p);
}

static void assert_refused_u8(const struct snap_buf *good, size_t off, uint8_t v, const char *field)
{
	assert_refused_patch(good, off, &v, 1, field);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Where the saved bytes of two configurations first differ: the field that was changed. */
static size_t first_diff(const struct vm_config *a, const struct vm_config *b)
{
	struct snap_buf x, y;
	size_t off = 0;

	save_ok(a, &x);
	save_ok(b, &y);
	while (off < x.len && off < y.len && x.data[off] == y.data[off])
		off++;
	assert_true(off < x.len && off < y.len);
	snap_buf_free(&x);
	snap_buf_free(&y);
	return off;
}

static void test_truncation_everywhere(void **state)
{
	struct vm_config c;
	struct snap_buf b;
	(void)state;

	fill_config(&c, 4);
	save_ok(&c, &b);
	for (size_t len = 0; len < b.len; len++)
		assert_refused_bytes(b.data, len, "truncated");
	snap_buf_free(&b);
	config_clear(&c);
}

static void test_trailing_bytes(void **state)
{
	struct vm_config c;
	struct snap_buf b;
	(void)state;

	fill_config(&c, 5);
	save_ok(&c, &b);
	snap_put_u8(&b, 0);
	assert_refused_bytes(b.data, b.len, "bytes after the last field");
	snap_buf_free(&b);
	config_clear(&c);
}

/* The section opens with the u64 memory size and the u32 vCPU count. */
static void test_hostile_machine(void **state)
{
	struct vm_config c;
	struct snap_buf b;
	uint8_t v[8];
	(void)state;

	small_config(&c);
	save_ok(&c, &b);
	put_le(v, 0, 4);
	assert_refused_patch(&b, 8, v, 4, "vCPU count");
	put_le(v, VMON_MAX_CPUS + 1, 4);
	assert_refused_patch(&b, 8, v, 4, "vCPU count");
	put_le(v, UINT32_MAX, 4);
	assert_refused_patch(&b, 8, v, 4, "vCPU count");
	put_le(v, VMON_MIN_MEMORY + 512, 8);
	assert_refused_patch(&b, 0, v, 8, "memory size");
	put_le(v, VMON_MIN_MEMORY - 4096, 8);
	assert_refused_patch(&b, 0, v, 8, "memory size");
	put_le(v, VMON_MAX_MEMORY + 4096, 8);
	assert_refused_patch(&b, 0, v, 8, "memory size");
	snap_buf_free(&b);
	config_clear(&c);
}

static void test_hostile_counts(void **state)
{
	struct vm_config a, b;
	struct snap_buf good;
	size_t off;
	(void)state;

	fill_config(&a, 6);
	fill_config(&b, 6);
	disk_config_clear(&b.disks[--b.nr_disks]);
	off = first_diff(&a, &b);
	save_ok(&a, &good);
	assert_int_equal(good.data[off], VMON_MAX_DISKS);
	assert_refused_u8(&good, off, VMON_MAX_DISKS + 1, "number of drives");
	assert_refused_u8(&good, off, 0xff, "number of drives");
	snap_buf_free(&good);
	config_clear(&b);

	fill_config(&b, 6);
	net_config_clear(&b.nets[--b.nr_nets]);
	off = first_diff(&a, &b);
	save_ok(&a, &good);
	assert_int_equal(good.data[off], VMON_MAX_NETS);
	assert_refused_u8(&good, off, VMON_MAX_NETS + 1, "number of network interfaces");
	snap_buf_free(&good);
	config_clear(&b);

	/* nets[1] has every port forward. */
	fill_config(&b, 6);
	b.nets[1].nr_fwd--;
	off = first_diff(&a, &b);
	save_ok(&a, &good);
	assert_int_equal(good.data[off], NET_MAX_HOSTFWD);
	assert_refused_u8(&good, off, NET_MAX_HOSTFWD + 1, "number of port forwards");
	assert_refused_u8(&good, off, 0xff, "number of port forwards");
	snap_buf_free(&good);
	config_clear(&b);

	fill_config(&b, 6);
	shm_config_clear(&b.shms[--b.nr_shms]);
	off = first_diff(&a, &b);
	save_ok(&a, &good);
	assert_int_equal(good.data[off], VMON_MAX_SHMS);
	assert_refused_u8(&good, off, VMON_MAX_SHMS + 1, "number of shm devices");
	snap_buf_free(&good);
	config_clear(&b);
	config_clear(&a);
}

/* The byte where `b`, a copy of `a` with one field changed, saves differently, patched to v. */
static void assert_field_refused(struct vm_config *a, struct vm_config *b, uint8_t v,
				 const char *field)
{
	struct snap_buf good;
	size_t off = first_diff(a, b);

	save_ok(a, &good);
	assert_refused_u8(&good, off, v, field);
	snap_buf_free(&good);
	config_clear(b);
}

static void test_hostile_transports_and_flags(void **state)
{
	struct vm_config a, b;
	(void)state;

	fill_config(&a, 7);
	fill_config(&b, 7);
	b.transport = TRANSPORT_MMIO;
	assert_field_refused(&a, &b, 3, "virtio transport");
	fill_config(&b, 7);
	b.disks[0].transport = TRANSPORT_PCI;
	assert_field_refused(&a, &b, 3, "virtio transport");
	fill_config(&b, 7);
	b.nets[3].transport = TRANSPORT_DEFAULT;
	assert_field_refused(&a, &b, 3, "virtio transport");
	fill_config(&b, 7);
	b.rng_transport = TRANSPORT_PCI;
	assert_field_refused(&a, &b, 0xff, "virtio transport");
	fill_config(&b, 7);
	b.thp = false;
	assert_field_refused(&a, &b, 2, "transparent huge pages flag");
	fill_config(&b, 7);
	b.disks[5].readonly = false;
	assert_field_refused(&a, &b, 2, "drive read-only flag");
	fill_config(&b, 7);
	b.nets[1].has_mac = false;
	assert_field_refused(&a, &b, 2, "interface MAC flag");
	fill_config(&b, 7);
	b.nets[1].fwd[3].udp = false;
	assert_field_refused(&a, &b, 2, "port forward protocol");
	fill_config(&b, 7);
	b.rng_limiter.set = false;
	assert_field_refused(&a, &b, 2, "rate limiter");
	config_clear(&a);
}

/* A string's presence byte of 2, and an absent string given a presence of 2. */
static void test_hostile_presence(void **state)
{
	struct vm_config a, b;
	(void)state;

	fill_config(&a, 8);
	fill_config(&b, 8);
	free(b.disks[2].partuuid);
	b.disks[2].partuuid = NULL;
	assert_field_refused(&a, &b, 2, "drive partuuid");
	fill_config(&b, 8);
	free(b.nets[0].tap);
	b.nets[0].tap = NULL;
	assert_field_refused(&a, &b, 2, "interface host_dev_name");
	fill_config(&b, 8);
	free(b.accel);
	b.accel = NULL;
	assert_field_refused(&a, &b, 2, "machine backend");
	config_clear(&a);
	/* Where the string is absent (disks[3] has no serial), the next field follows. */
	fill_config(&a, 8);
	fill_config(&b, 8);
	set_str(&b.disks[3].serial, "x");
	assert_field_refused(&a, &b, 2, "drive serial");
	config_clear(&a);
}

static void test_hostile_accel(void **state)
{
	static const char kvm[] = "\x03\0\0\0kvm"; /* the string as snap_put_str() writes it */
	struct vm_config c;
	struct snap_buf b;
	const uint8_t *at;
	(void)state;

	fill_config(&c, 9);
	save_ok(&c, &b);
	at = memmem(b.data, b.len, kvm, sizeof(kvm) - 1);
	assert_non_null(at);
	assert_refused_u8(&b, (size_t)(at - b.data) + 6, 'x', "machine backend");
	assert_refused_patch(&b, (size_t)(at - b.data) + 4, "KVM", 3, "machine backend");
	snap_buf_free(&b);
	config_clear(&c);
}

/* A present string as put_opt_str() writes it: 1, the u32 length, the bytes. */
static size_t encode_string(uint8_t *out, const char *s, size_t n)
{
	out[0] = 1;
	put_le(out + 1, n, 4);
	memcpy(out + 5, s, n);
	return 5 + n;
}

/* The saved string `from` made to[0..to_len) (NULL: absent, a presence byte of 0). */
static void assert_refused_string(const struct snap_buf *good, const char *from, const char *to,
				  size_t to_len, const char *field)
{
	uint8_t enc[PATH_MAX + 16], *p = malloc(good->len + sizeof(enc));
	size_t n = encode_string(enc, from, strlen(from)), len;
	const uint8_t *at = memmem(good->data, good->len, enc, n);

	assert_non_null(at);
	assert_null(memmem(at + 1, good->len - (size_t)(at + 1 - good->data), enc, n));
	len = (size_t)(at - good->data);
	memcpy(p, good->data, len);
	if (to) {
		len += encode_string(p + len, to, to_len);
	} else {
		p[len++] = 0;
	}
	memcpy(p + len, at + n, good->len - (size_t)(at + n - good->data));
	len += good->len - (size_t)(at + n - good->data);
	assert_refused_bytes(p, len, field);
	free(p);
}

static void assert_refused_str(const struct snap_buf *good, const char *from, const char *to,
			       const char *field)
{
	assert_refused_string(good, from, to, to ? strlen(to) : 0, field);
}

/* The saved string `from` with its length made n (the bytes stay). */
static void assert_refused_len(const struct snap_buf *good, const char *from, uint32_t n,
			       const char *field)
{
	uint8_t enc[64], v[4];
	const uint8_t *at = memmem(good->data, good->len, enc, encode_string(enc, from, strlen(from)));

	assert_non_null(at);
	put_le(v, n, 4);
	assert_refused_patch(good, (size_t)(at - good->data) + 1, v, 4, field);
}

/* n copies of ch, NUL-terminated, in buf. */
static char *repeat(char *buf, char ch, size_t n)
{
	memset(buf, ch, n);
	buf[n] = '\0';
	return buf;
}

/* What the builder and the API rely on: ids and the console there, names that fit. */
static void test_hostile_strings(void **state)
{
	char buf[PATH_MAX + 1];
	struct vm_config c;
	struct snap_buf b;
	(void)state;

	fill_config(&c, 12);
	set_str(&c.disks[1].id, "drive-one");
	set_str(&c.nets[2].id, "net-two");
	set_str(&c.nets[0].tap, "tap0");
	set_str(&c.console, "stdio");
	set_str(&c.disks[6].path, "/disk6");
	save_ok(&c, &b);
	assert_refused_str(&b, "stdio", NULL, "console");
	assert_refused_str(&b, "drive-one", NULL, "drive id");
	assert_refused_str(&b, "drive-one", repeat(buf, 'i', VMON_ID_MAX), "drive id");
	assert_refused_str(&b, "0badc0de-02", repeat(buf, 'u', VMON_ID_MAX), "drive partuuid");
	assert_refused_str(&b, "net-two", NULL, "interface id");
	assert_refused_str(&b, "/disk6", NULL, "drive path");
	assert_refused_str(&b, "/disk6", "", "drive path");
	assert_refused_str(&b, "/disk6", repeat(buf, 'p', PATH_MAX), "drive path");
	assert_refused_str(&b, "serial-1", "serial-0123456789abcd", "drive serial");
	assert_refused_str(&b, "tap0", "", "interface host_dev_name");
	assert_refused_str(&b, "tap0", "../../etc", "interface host_dev_name");
	assert_refused_str(&b, "tap0", "tap-0123456789ab", "interface host_dev_name");
	assert_refused_str(&b, "kvm", "", "machine backend");
	/* A NUL inside, and lengths too long for any string: the field, not a truncation. */
	assert_refused_string(&b, "drive-one", "drive\0one", 9, "drive id");
	assert_refused_string(&b, "stdio", "stdio\0", 6, "console");
	assert_refused_len(&b, "net-two", UINT32_MAX, "interface id");
	assert_refused_len(&b, "net-two", PATH_MAX + 8, "interface id");
	snap_buf_free(&b);
	/* The longest each may be is restored. */
	set_str(&c.disks[1].serial, "serial-0123456789abc");
	set_str(&c.disks[1].id, "%s", repeat(buf, 'i', VMON_ID_MAX - 1));
	set_str(&c.disks[2].partuuid, "%s", repeat(buf, 'u', VMON_ID_MAX - 1));
	set_str(&c.nets[0].tap, "tap-0123456789a");
	assert_roundtrip(&c);
	config_clear(&c);
}

static void test_hostile_net_values(void **state)
{
	struct vm_config a, b;
	struct snap_buf good;
	uint8_t v[2];
	size_t off;
	(void)state;

	fill_config(&a, 13);
	fill_config(&b, 13);
	b.nets[1].mtu++;
	off = first_diff(&a, &b);
	save_ok(&a, &good);
	assert_int_equal(get_le16(good.data + off), a.nets[1].mtu);
	put_le(v, 67, 2);
	assert_refused_patch(&good, off, v, 2, "interface MTU");
	put_le(v, 1, 2);
	assert_refused_patch(&good, off, v, 2, "interface MTU");
	snap_buf_free(&good);
	config_clear(&b);

	fill_config(&b, 13);
	b.nets[0].mac[0] ^= 2;
	off = first_diff(&a, &b);
	save_ok(&a, &good);
	assert_refused_u8(&good, off, a.nets[0].mac[0] | 1, "interface MAC");
	snap_buf_free(&good);
	config_clear(&b);
	config_clear(&a);
}

/* With huge pages, memory in whole 2 MiB pages (what the allocator asks). */
static void test_hostile_huge_pages(void **state)
{
	struct vm_config c;
	struct snap_buf b;
	uint8_t v[8];
	(void)state;

	fill_config(&c, 14);
	save_ok(&c, &b);
	put_le(v, c.memory + 4096, 8);
	assert_refused_patch(&b, 0, v, 8, "2 MiB");
	snap_buf_free(&b);
	c.hugepages = false;
	c.memory += 4096;
	assert_roundtrip(&c);
	config_clear(&c);
}

static void test_versions(void **state)
{
	struct vm_config c, target = { 0 };
	struct snap_buf b;
	struct snap_rd r;
	(void)state;

	small_config(&c);
	save_ok(&c, &b);
	snap_rd_init(&r, b.data, b.len);
	assert_int_equal(config_restore(&target, &r, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(config_restore(&target, &r, CONFIG_STATE_VERSION + 1, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "version"));
	assert_int_equal(r.pos, 0);
	assert_int_equal(target.cpus, 0);
	snap_buf_free(&b);
	config_clear(&c);
}

/*
 * Version 1, written by hand: no token bucket flags, a bucket with any value non-zero is
 * set. A small machine with an entropy device whose ops bucket the API was not given.
 */
static void test_version_1(void **state)
{
	struct vm_config c = { 0 };
	struct snap_buf b;
	struct snap_rd r;
	(void)state;

	snap_buf_init(&b);
	snap_put_u64(&b, 64 * MiB);
	snap_put_u32(&b, 2);
	snap_put_bytes(&b, "\0\1\0\0\1", 5);     /* hugepages ... host_quirks */
	snap_put_u8(&b, TRANSPORT_MMIO);
	snap_put_u8(&b, 0);                         /* accel */
	snap_put_u8(&b, 1);
	snap_put_str(&b, "stdio");
	snap_put_u8(&b, 1);                         /* rng */
	snap_put_u8(&b, TRANSPORT_PCI);
	snap_put_u8(&b, 1);                         /* its limiter: bandwidth, then ops */
	snap_put_u64(&b, 4096);
	snap_put_u64(&b, 0);
	snap_put_u64(&b, 100);
	for (int i = 0; i < 3; i++)
		snap_put_u64(&b, 0);
	snap_put_bytes(&b, "\0\0\0\0", 4);     /* virtio console, its transport, no devices */
	snap_rd_init(&r, b.data, b.len);
	assert_int_equal(config_restore(&c, &r, 1, err, sizeof(err)), 0);
	assert_true(c.memory == 64 * MiB);
	assert_int_equal(c.cpus, 2);
	assert_true(c.thp && c.host_quirks && !c.hugepages);
	assert_string_equal(c.console, "stdio");
	assert_true(c.rng && c.rng_limiter.set && c.rng_limiter.bandwidth.set);
	assert_true(c.rng_limiter.bandwidth.size == 4096 && c.rng_limiter.bandwidth.refill_time_ms == 100);
	assert_false(c.rng_limiter.ops.set);
	assert_int_equal(c.nr_disks + c.nr_nets, 0);
	snap_buf_free(&b);
	config_clear(&c);
}

/* A console file path as long as PATH_MAX allows, as PUT /serial takes it, goes through. */
static void test_longest_strings(void **state)
{
	char path[PATH_MAX];
	struct vm_config c;
	(void)state;

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	fill_config(&c, 10);
	set_str(&c.console, "file:%s", path);
	set_str(&c.disks[4].path, "%s", path);
	assert_roundtrip(&c);
	config_clear(&c);
}

/* What restore would refuse, save refuses first and writes nothing. */
static void assert_save_refuses(struct vm_config *c)
{
	struct snap_buf b;

	snap_buf_init(&b);
	assert_int_equal(config_save(c, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	snap_buf_free(&b);
	config_clear(c);
}

static void test_save_refuses_invalid(void **state)
{
	char path[PATH_MAX + 8];
	struct vm_config c;
	(void)state;

	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	fill_config(&c, 11);
	set_str(&c.console, "file:%s", path);
	assert_save_refuses(&c);
	fill_config(&c, 11);
	set_str(&c.disks[7].path, "%s", path);
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.cpus = VMON_MAX_CPUS + 1;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.memory += 512;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.nets[2].transport = (enum virtio_transport)3;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	set_str(&c.accel, "qemu");
	assert_save_refuses(&c);
	fill_config(&c, 11);
	free(c.disks[0].path);
	c.disks[0].path = NULL;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.nets[0].nr_fwd = NET_MAX_HOSTFWD + 1;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	free(c.console);
	c.console = NULL;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	free(c.nets[3].id);
	c.nets[3].id = NULL;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	set_str(&c.disks[5].serial, "serial-0123456789abcd");
	assert_save_refuses(&c);
	fill_config(&c, 11);
	set_str(&c.nets[0].tap, "a/b");
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.nets[1].mtu = 67;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.nets[1].mac[0] |= 1;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.memory += 4096;
	assert_save_refuses(&c);
	/* Only ivshmem-plain on a file is in a snapshot; its size a power of two. */
	fill_config(&c, 11);
	set_str(&c.shms[1].socket, "/run/ivshmem.sock");
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.shms[2].memfd = true;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	c.shms[0].size = 12288;
	assert_save_refuses(&c);
	fill_config(&c, 11);
	set_str(&c.shms[3].id, "an id with spaces");
	assert_save_refuses(&c);
}

/* A version 3 section (before ivshmem) restores with no shm device: the same bytes, minus
 * version 4's and 5's fields; a version 4 one without the pmem count. */
static void test_version_3_no_vsock_shm_or_mmds(void **state)
{
	struct vm_config c, back = { 0 };
	struct snap_buf b;
	struct snap_rd r;
	(void)state;

	/* Version 4's fields: the vsock (flag, u32 CID, uds_path and vsock_id absent), the shm
	 * count and the MMDS flag -- 9 bytes; then version 5's balloon free_page_reporting flag
	 * and pmem count: 11 bytes, all zero here. */
	small_config(&c);
	save_ok(&c, &b);
	for (size_t i = b.len - 11; i < b.len; i++)
		assert_int_equal(b.data[i], 0);
	snap_rd_init(&r, b.data, b.len - 11);
	assert_int_equal(config_restore(&back, &r, 3, err, sizeof(err)), 0);
	assert_int_equal(back.nr_shms, 0);
	assert_false(back.vsock);
	assert_false(back.mmds);
	snap_rd_init(&r, b.data, b.len - 11);
	assert_int_equal(config_restore(&back, &r, 4, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
	snap_rd_init(&r, b.data, b.len - 2);
	assert_int_equal(config_restore(&back, &r, 4, err, sizeof(err)), 0);
	assert_int_equal(back.nr_pmems, 0);
	snap_rd_init(&r, b.data, b.len - 1);
	assert_int_equal(config_restore(&back, &r, 5, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
	snap_buf_free(&b);
	config_clear(&c);
	config_clear(&back);
}

/*
 * A version 4 section (before pmem) written by a full configuration restores with the same
 * devices and no pmem; the pmem fields of version 5 are checked: a count past the last, a
 * root flag of 2, a root that is not the first device, a root drive next to a root pmem.
 */
static void test_version_4_and_pmem_fields(void **state)
{
	struct vm_config c, back = { 0 };
	struct snap_buf b, nopm;
	struct snap_rd r;
	uint8_t v;
	(void)state;

	fill_config(&c, 9);
	save_ok(&c, &b);
	assert_roundtrip(&c);
	for (int i = 0; i < c.nr_pmems; i++)
		pmem_config_clear(&c.pmems[i]);
	c.nr_pmems = 0;
	save_ok(&c, &nopm);
	snap_rd_init(&r, nopm.data, nopm.len - 2); /* v5: the balloon flag, the pmem count */
	assert_int_equal(config_restore(&back, &r, 4, err, sizeof(err)), 0);
	assert_int_equal(back.nr_pmems, 0);
	assert_int_equal(back.nr_shms, VMON_MAX_SHMS);
	assert_true(back.mmds);
	/* The count is the first byte after the v4 fields. */
	size_t count_at = nopm.len - 1;
	v = VMON_MAX_PMEMS + 1;
	assert_refused_patch(&b, count_at, &v, 1, "number of pmem devices");
	/* The last device's root flag is the last byte; read-only the one before. */
	v = 2;
	assert_refused_patch(&b, b.len - 1, &v, 1, "pmem root flag");
	assert_refused_patch(&b, b.len - 2, &v, 1, "pmem read-only flag");
	v = 1;
	assert_refused_patch(&b, b.len - 1, &v, 1, "pmem root device");
	snap_buf_free(&b);
	snap_buf_free(&nopm);
	/* A root drive and a root pmem device (assert_save_refuses clears c). */
	config_clear(&c);
	fill_config(&c, 9);
	c.disks[0].root = true;
	assert_save_refuses(&c);
	config_clear(&back);
}

/*
 * MMDS: its fields end the section (flag, version, address, imds_compat, interface bits);
 * a bad version, an address outside 169.254/16, no interface or one past the last are
 * refused, and without MMDS only the flag is written.
 */
static void test_mmds_fields(void **state)
{
	struct vm_config c, back = { 0 };
	struct snap_buf b, off;
	uint8_t v;
	(void)state;

	fill_config(&c, 5);
	for (int i = 0; i < c.nr_pmems; i++) /* then MMDS ends where the pmem count starts */
		pmem_config_clear(&c.pmems[i]);
	c.nr_pmems = 0;
	save_ok(&c, &b);
	assert_int_equal(b.data[b.len - 10], 1);
	assert_int_equal(b.data[b.len - 3], 0x0a); /* nets 1 and 3; then the v5 flag and pmem count */
	v = 3;
	assert_refused_patch(&b, b.len - 9, &v, 1, "MMDS version");
	const uint8_t ten[4] = { 1, 0, 0, 10 };
	assert_refused_patch(&b, b.len - 8, ten, 4, "MMDS address");
	v = 0;
	assert_refused_patch(&b, b.len - 3, &v, 1, "MMDS interfaces");
	v = 0x10;
	assert_refused_patch(&b, b.len - 3, &v, 1, "MMDS interfaces");
	v = 2;
	assert_refused_patch(&b, b.len - 10, &v, 1, "MMDS flag");
	c.mmds = false;
	save_ok(&c, &off);
	assert_int_equal(off.len, b.len - 7);
	assert_int_equal(restore_bytes(&back, off.data, off.len), 0);
	assert_false(back.mmds);
	for (int i = 0; i < back.nr_nets; i++)
		assert_false(back.nets[i].mmds);
	snap_buf_free(&b);
	snap_buf_free(&off);
	config_clear(&back);
	config_clear(&c);
}

/*
 * Version 5 appends the balloon's free_page_reporting flag: 1 here, a 2 is refused, and the
 * same bytes without it are a version 4 section with reporting off.
 */
static void test_version_5_reporting(void **state)
{
	struct vm_config c, back = { 0 };
	struct snap_buf b;
	struct snap_rd r;
	(void)state;

	fill_config(&c, 7);
	for (int i = 0; i < c.nr_pmems; i++) /* then the flag is just before the pmem count */
		pmem_config_clear(&c.pmems[i]);
	c.nr_pmems = 0;
	save_ok(&c, &b);
	assert_int_equal(b.data[b.len - 2], 1);
	assert_refused_u8(&b, b.len - 2, 2, "balloon free_page_reporting");
	snap_rd_init(&r, b.data, b.len - 2);
	assert_int_equal(config_restore(&back, &r, 4, err, sizeof(err)), 0);
	assert_true(back.balloon);
	assert_false(back.balloon_free_page_reporting);
	snap_rd_init(&r, b.data, b.len - 1);
	assert_int_equal(config_restore(&back, &r, 5, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
	snap_buf_free(&b);
	config_clear(&c);
	config_clear(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_field),
		cmocka_unit_test(test_each_flag_alone),
		cmocka_unit_test(test_restore_replaces),
		cmocka_unit_test(test_truncation_everywhere),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_hostile_machine),
		cmocka_unit_test(test_hostile_counts),
		cmocka_unit_test(test_hostile_transports_and_flags),
		cmocka_unit_test(test_hostile_presence),
		cmocka_unit_test(test_hostile_accel),
		cmocka_unit_test(test_hostile_strings),
		cmocka_unit_test(test_hostile_net_values),
		cmocka_unit_test(test_hostile_huge_pages),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_version_1),
		cmocka_unit_test(test_longest_strings),
		cmocka_unit_test(test_save_refuses_invalid),
		cmocka_unit_test(test_version_3_no_vsock_shm_or_mmds),
		cmocka_unit_test(test_mmds_fields),
		cmocka_unit_test(test_version_5_reporting),
		cmocka_unit_test(test_version_4_and_pmem_fields),
	};

	log_threshold = LOG_OFF; /* save logs each refusal; here they are expected */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
