/* Snapshots: the machine's own sections (configuration, memory layout, irqchip, clock, vCPUs, backends), create and restore. */
#include "vmm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpu/vcpu_state.h"
#include "hv/irqchip_state.h"
#include "mem/dirty.h"
#include "snapshot/memfile.h"
#include "util/atomic_file.h"
#include "util/log.h"
#include "vmm/config_state.h"
#include "vmm/vm.h"

/* ---- the configuration: read before the VM is built, checked again as a section ---------- */

static int config_section_save(struct device *d, struct snap_buf *out)
{
	struct vm *vm = d->model;

	return config_save(vm->cfg, out);
}

/* The VM was built from this very section (snapshot_image_config): only check it parses. */
static int config_section_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct vm_config c = { 0 };
	char err[160];
	int ret = config_restore(&c, in, version, err, sizeof(err));

	config_clear(&c);
	return ret;
}

static const struct device_ops config_section_ops = {
	.kind = "configuration",
	.state_version = CONFIG_STATE_VERSION,
	.save = config_section_save,
	.restore = config_section_restore,
};

/* ---- the memory layout: the memory file must be the RAM this VM was built with ----------- */

static int memory_section_save(struct device *d, struct snap_buf *out)
{
	const struct guest_mem *gm = &((struct vm *)d->model)->mem;

	snap_put_u64(out, gm->size);
	snap_put_u32(out, (uint32_t)gm->nr_regions);
	for (int i = 0; i < gm->nr_regions; i++) {
		snap_put_u64(out, gm->regions[i].gpa);
		snap_put_u64(out, gm->regions[i].size);
		snap_put_u64(out, gm->regions[i].fd_offset);
	}
	return 0;
}

static int memory_section_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	const struct guest_mem *gm = &((struct vm *)d->model)->mem;
	bool same = snap_get_u64(in) == gm->size && snap_get_u32(in) == (uint32_t)gm->nr_regions;

	for (int i = 0; same && i < gm->nr_regions; i++)
		same = snap_get_u64(in) == gm->regions[i].gpa &&
		       snap_get_u64(in) == gm->regions[i].size &&
		       snap_get_u64(in) == gm->regions[i].fd_offset;
	return same ? 0 : -EINVAL;
}

static const struct device_ops memory_section_ops = {
	.kind = "memory layout",
	.state_version = 1,
	.save = memory_section_save,
	.restore = memory_section_restore,
};

/* ---- the interrupt controllers, the PIT and the clock (the hypervisor's) ----------------- */

static int irqchip_section_save(struct device *d, struct snap_buf *out)
{
	struct vm *vm = d->model;
	struct hv_irqchip_state st;
	int ret = vm->hv_ops->irqchip_save(vm->hv, &st);

	if (ret)
		return ret;
	/* The guest's clock stood still from the pause: that is the time it resumes from. */
	if (vm->paused_clock)
		st.clock_ns = vm->paused_clock;
	return hv_irqchip_state_save(&st, out);
}

static int irqchip_section_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct vm *vm = d->model;
	struct hv_irqchip_state st;
	int ret = hv_irqchip_state_restore(&st, in, version);

	if (ret)
		return ret;
	ret = vm->hv_ops->irqchip_restore(vm->hv, &st);
	if (!ret)
		vm->paused_clock = st.clock_ns; /* what vm_resume() writes back */
	return ret;
}

static const struct device_ops irqchip_section_ops = {
	.kind = "interrupt controllers",
	.state_version = HV_IRQCHIP_STATE_VERSION,
	.save = irqchip_section_save,
	.restore = irqchip_section_restore,
};

/* ---- the host's wall clock at the snapshot, for clock_realtime ---------------------------- */

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int clock_section_save(struct device *d, struct snap_buf *out)
{
	snap_put_u64(out, realtime_ns());
	return 0;
}

static int clock_section_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct vm *vm = d->model;

	vm->snapshot_realtime = snap_get_u64(in);
	return 0;
}

static const struct device_ops clock_section_ops = {
	.kind = "wall clock",
	.state_version = 1,
	.save = clock_section_save,
	.restore = clock_section_restore,
};

/* ---- vCPUs: every part of the context, in the order the backend needs -------------------- */

static int vcpu_section_save(struct device *d, struct snap_buf *out)
{
	struct vcpu *vcpu = d->model;
	struct vcpu_context *ctx = calloc(1, sizeof(*ctx));
	int ret;

	if (!ctx)
		return -ENOMEM;
	vcpu_context_all_msrs(vcpu, ctx);
	ret = vcpu->set->ops->vcpu_get_context(vcpu, ctx, VCPU_CTX_ALL);
	if (!ret)
		ret = vcpu_context_save(ctx, out);
	free(ctx);
	return ret;
}

static int vcpu_section_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct vcpu *vcpu = d->model;
	struct vcpu_context *ctx = calloc(1, sizeof(*ctx));
	int ret;

	if (!ctx)
		return -ENOMEM;
	ret = vcpu_context_restore(ctx, in, version);
	if (!ret)
		ret = vcpu->set->ops->vcpu_set_context(vcpu, ctx, VCPU_CTX_ALL);
	free(ctx);
	return ret;
}

static const struct device_ops vcpu_section_ops = {
	.kind = "vCPU",
	.state_version = VCPU_STATE_VERSION,
	.save = vcpu_section_save,
	.restore = vcpu_section_restore,
};

/* ---- network backends with state of their own (libslirp's connections and leases) -------- */

static int backend_section_save(struct device *d, struct snap_buf *out)
{
	struct net_backend *be = d->model;

	return be->save(be, out);
}

static int backend_section_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct net_backend *be = d->model;

	return be->restore(be, in);
}

static const struct device_ops backend_section_ops = {
	.kind = "network backend",
	.state_version = 1,
	.save = backend_section_save,
	.restore = backend_section_restore,
};

/* ---- registration --------------------------------------------------------------------- */

int vm_snapshot_register_machine(struct vm *vm)
{
	struct device_list *l = &vm->devices;
	int ret = 0;

	ret = ret ?: device_list_add(l, &config_section_ops, "vm-config", vm);
	ret = ret ?: device_list_add(l, &memory_section_ops, "memory", vm);
	ret = ret ?: device_list_add(l, &irqchip_section_ops, "irqchip", vm);
	ret = ret ?: device_list_add(l, &clock_section_ops, "clock", vm);
	return ret;
}

int vm_snapshot_register_late(struct vm *vm)
{
	struct device_list *l = &vm->devices;
	int ret = 0;

	for (int i = 0; !ret && i < vm->nr_virtio; i++) {
		struct vm_virtio *v = vm->virtio[i];

		if (v->dev.ops != &virtio_net_ops || !v->net.be || !v->net.be->save)
			continue;
		snprintf(v->backend_id, sizeof(v->backend_id), "%s-%s", v->id, v->net.be->kind);
		ret = device_list_add(l, &backend_section_ops, v->backend_id, v->net.be);
	}
	for (int i = 0; !ret && i < vm->vcpus.nr; i++) {
		struct vcpu *vcpu = &vm->vcpus.vcpus[i];

		snprintf(vcpu->id, sizeof(vcpu->id), "vcpu%d", i);
		ret = device_list_add(l, &vcpu_section_ops, vcpu->id, vcpu);
	}
	return ret;
}

/* ---- create --------------------------------------------------------------------------- */

static int state_file_write(const char *path, const struct snap_buf *b, char *err, size_t errlen)
{
	struct atomic_file af;
	int ret = atomic_file_open(&af, path);

	if (ret) {
		snprintf(err, errlen, "cannot create the state file '%s': %s", path, strerror(-ret));
		return ret;
	}
	for (size_t off = 0; off < b->len;) {
		ssize_t n = write(af.fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "cannot write the state file '%s': %s", path, strerror(-ret));
			atomic_file_abort(&af);
			return ret;
		}
		off += (size_t)n;
	}
	ret = atomic_file_commit(&af);
	if (ret)
		snprintf(err, errlen, "cannot write the state file '%s': %s", path, strerror(-ret));
	return ret;
}

/* Guest RAM into mem_path: all of it, or the pages dirtied since the previous snapshot. */
static int memory_write(struct vm *vm, enum snapshot_type type, const char *mem_path, char *err,
			size_t errlen)
{
	int ret;

	if (type == SNAPSHOT_DIFF && !vm->cfg->track_dirty_pages) {
		snprintf(err, errlen, "a Diff snapshot needs dirty page tracking: set "
			 "track_dirty_pages in the machine configuration");
		return -EINVAL;
	}
	if (vm->cfg->track_dirty_pages && (ret = vm_dirty_sync(vm))) {
		snprintf(err, errlen, "cannot read the dirty page log: %s", strerror(-ret));
		return ret;
	}
	if (type == SNAPSHOT_DIFF)
		return memfile_write_dirty(&vm->mem, mem_path, err, errlen);
	ret = memfile_write(&vm->mem, mem_path, err, errlen);
	/* A full snapshot is the base the next diff is taken against. */
	for (int r = 0; !ret && vm->cfg->track_dirty_pages && r < vm->mem.nr_regions; r++) {
		uint64_t *bits = calloc(gm_dirty_words(&vm->mem, r), sizeof(*bits));
		if (!bits || gm_dirty_harvest(&vm->mem, r, bits))
			pr_warn("snapshot: the next diff may hold more pages than changed");
		free(bits);
	}
	return ret;
}

int vm_snapshot_create(struct vm *vm, enum snapshot_type type, const char *state_path,
		       const char *mem_path, char *err, size_t errlen)
{
	struct snap_buf b;
	int ret;

	if (!strcmp(state_path, mem_path)) {
		snprintf(err, errlen, "the state file and the memory file must differ ('%s')", state_path);
		return -EINVAL;
	}
	snap_buf_init(&b);
	/* The state first, in memory: a device that cannot be saved fails before any file. */
	ret = device_list_save(&vm->devices, &b, err, errlen);
	if (!ret)
		ret = memory_write(vm, type, mem_path, err, errlen);
	if (!ret)
		ret = state_file_write(state_path, &b, err, errlen);
	snap_buf_free(&b);
	return ret;
}

/* ---- restore -------------------------------------------------------------------------- */

int snapshot_image_read(struct snapshot_image *img, const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	memset(img, 0, sizeof(*img));
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the state file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SNAP_MAX_FILE) {
		snprintf(err, errlen, "the state file '%s' is %s", path,
			 S_ISREG(st.st_mode) ? "larger than any vmon snapshot" : "not a regular file");
		ret = -EINVAL;
		goto out;
	}
	img->len = (size_t)st.st_size;
	img->data = malloc(img->len ? img->len : 1);
	if (!img->data || pread(fd, img->data, img->len, 0) != (ssize_t)img->len) {
		ret = img->data ? -EIO : -ENOMEM;
		snprintf(err, errlen, "cannot read the state file '%s'", path);
		goto out;
	}
	char why[256];
	ret = snap_file_parse(&img->file, img->data, img->len, why, sizeof(why));
	if (ret)
		snprintf(err, errlen, "the state file '%s': %s", path, why);
out:
	if (fd >= 0)
		close(fd);
	if (ret)
		snapshot_image_free(img);
	return ret;
}

void snapshot_image_free(struct snapshot_image *img)
{
	free(img->data);
	img->data = NULL;
	img->len = 0;
}

int snapshot_image_config(const struct snapshot_image *img, struct vm_config *cfg, char *err,
			  size_t errlen)
{
	const struct snap_section *s = snap_file_find(&img->file, "vm-config");
	struct snap_rd rd;

	if (!s) {
		snprintf(err, errlen, "the snapshot holds no VM configuration");
		return -EINVAL;
	}
	snap_rd_init(&rd, s->payload, s->len);
	return config_restore(cfg, &rd, s->version, err, errlen);
}

int vm_snapshot_restore(struct vm *vm, const struct snapshot_image *img, bool clock_realtime,
			char *err, size_t errlen)
{
	int ret = device_list_restore(&vm->devices, &img->file, err, errlen);

	if (ret)
		return ret;
	/* The clock as Firecracker does it: continue from the snapshot, or jump to real time. */
	uint64_t now = realtime_ns();
	if (clock_realtime && vm->snapshot_realtime && now > vm->snapshot_realtime)
		vm->paused_clock += now - vm->snapshot_realtime;
	return 0;
}
