/*
 * vm_build(): the ordered bring-up of a VM, and the one place that knows every part.
 * hypervisor -> guest RAM -> irqchip -> devices on their buses, with their interrupt lines
 * and doorbells -> ACPI -> kernel -> vCPUs -> console.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/layout.h"
#include "boot/loader.h"
#include "devices/legacy/port80.h"
#include "gdb/gdb_server.h"
#include "mem/dirty.h"
#include "security/seccomp.h"
#include "util/log.h"
#include "vmm/layout.h"
#include "vmm/snapshot.h"
#include "vmm/vm.h"
#include "net/mmds_stack.h"

static void vm_power_event(struct power_sink *sink, enum power_event ev, int code)
{
	struct vm *vm = (struct vm *)((char *)sink - offsetof(struct vm, power));

	switch (ev) {
	case POWER_OFF:
		vm_request_stop(vm, VMON_EXIT_POWEROFF, "guest powered off");
		break;
	case POWER_RESET:
		vm_request_stop(vm, VMON_EXIT_RESET, "guest reset");
		break;
	case POWER_TEST_EXIT:
		vm_request_stop(vm, code, "test device exit");
		break;
	case POWER_SLEEP:
	case POWER_WAKE:
		vm_power_request(vm, ev == POWER_WAKE);
		break;
	}
}

/* The RTC's alarm went off with its interrupt enabled: an ACPI wake event too. */
static void vm_rtc_alarm(void *opaque)
{
	struct vm *vm = opaque;

	acpi_pm_rtc_alarm(&vm->acpi_pm);
}

/* The guest armed or disarmed the RTC alarm: the main loop's poll timeout changes. */
static void vm_rtc_armed(void *opaque)
{
	struct vm *vm = opaque;
	uint64_t one = 1;

	if (vm->power_fd >= 0 && write(vm->power_fd, &one, sizeof(one)) < 0)
		pr_warn("cannot wake the main loop for the RTC alarm: %s", strerror(errno));
}

/* The devices with state of their own, in bring-up order (the PCI bus before its functions). */
static int vm_register_legacy(struct vm *vm)
{
	struct device_list *l = &vm->devices;
	int ret = 0;

	ret = ret ?: device_list_add(l, &i8250_state_ops, "i8250-com1", &vm->com1);
	ret = ret ?: device_list_add(l, &i8042_state_ops, "i8042", &vm->i8042);
	ret = ret ?: device_list_add(l, &mc146818_state_ops, "mc146818", &vm->rtc);
	ret = ret ?: device_list_add(l, &acpi_pm_state_ops, "acpi-pm", &vm->acpi_pm);
	ret = ret ?: device_list_add(l, &pci_bus_state_ops, "pci-bus", &vm->pci);
	ret = ret ?: device_list_add(l, &pci_device_state_ops, "pci-host", &vm->host_bridge);
	return ret;
}

static uint64_t serial_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* COM1's output: what the serial rate limiter lets through goes to the console; the rest
 * is dropped and counted, as Firecracker's serial device does (no guest stalls). */
static void vm_serial_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;
	uint64_t wait;
	bool ok = true;

	if (vm->cfg->serial_limiter.set) {
		pthread_mutex_lock(&vm->serial_lock);
		ok = rate_limiter_consume(&vm->serial_rl, len, serial_now_ns(), &wait);
		pthread_mutex_unlock(&vm->serial_lock);
	}
	if (ok)
		console_output(&vm->console, buf, len);
	else
		atomic_fetch_add(&vm->serial_dropped, len);
}

/* The port-I/O and MMIO map of the machine, in address order. */
static int vm_wire_devices(struct vm *vm)
{
	int ret = 0;

	ret = vm->hv_ops->line_gsi(vm->hv, &vm->com1_irq, LAYOUT_GSI_COM1, IRQ_LEVEL);
	ret = ret ?: vm->hv_ops->line_gsi(vm->hv, &vm->kbd_irq, LAYOUT_GSI_KBD, IRQ_LEVEL);
	ret = ret ?: vm->hv_ops->line_gsi(vm->hv, &vm->sci_irq, LAYOUT_GSI_SCI, IRQ_LEVEL);
	ret = ret ?: vm->hv_ops->line_gsi(vm->hv, &vm->rtc_irq, LAYOUT_GSI_RTC, IRQ_LEVEL);
	if (ret)
		return ret;
	i8250_init(&vm->com1, &vm->com1_irq, vm_serial_output, vm);
	struct rate_limiter_spec rl = { .set = vm->cfg->serial_limiter.set,
					.bandwidth = vm->cfg->serial_limiter };
	pthread_mutex_init(&vm->serial_lock, NULL);
	rate_limiter_init(&vm->serial_rl, &rl, serial_now_ns());
	i8042_init(&vm->i8042, &vm->power, &vm->kbd_irq);
	/* 00:00.0: the host bridge Linux's PCI sanity check looks for. */
	pci_bus_init(&vm->pci, &vm->mmio, LAYOUT_PCI_WINDOW_START, LAYOUT_PCI_WINDOW_END);
	vm->host_bridge.name = "pci-host";
	pci_device_init(&vm->host_bridge, 0x1b36, 0x0008, 0x06000000, 0x1af4, 0x1100);
	if (pci_bus_add(&vm->pci, &vm->host_bridge) < 0)
		return -ENOSPC;
	mc146818_init(&vm->rtc, vm->mem.size);
	vm->rtc.irq = &vm->rtc_irq;
	vm->rtc.alarm = vm_rtc_alarm;
	vm->rtc.armed = vm_rtc_armed;
	vm->rtc.opaque = vm;
	vm->acpi_pm.power = &vm->power;
	vm->acpi_pm.sci = &vm->sci_irq;

	ret = ret ?: bus_register(&vm->pio, I8042_DATA_PORT, 1, &i8042_data_ops, &vm->i8042, "i8042");
	ret = ret ?: bus_register(&vm->pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, &vm->i8042, "i8042");
	ret = ret ?: bus_register(&vm->pio, MC146818_BASE, MC146818_NR_PORTS, &mc146818_ops,
				  &vm->rtc, "mc146818");
	ret = ret ?: bus_register(&vm->pio, PORT80_BASE, 1, &port80_ops, NULL, "port80");
	ret = ret ?: bus_register(&vm->pio, I8250_COM1_BASE, I8250_NR_PORTS, &i8250_ops, &vm->com1,
				  "i8250-com1");
	ret = ret ?: bus_register(&vm->pio, ACPI_PM_BASE, ACPI_PM_NR_PORTS, &acpi_pm_ops,
				  &vm->acpi_pm, "acpi-pm");
	ret = ret ?: bus_register(&vm->pio, PCI_CONFIG_ADDRESS, 8, &pci_config_ops, &vm->pci, "pci-conf1");
	ret = ret ?: vm_register_legacy(vm);
	if (ret || !vm->cfg->testdev)
		return ret;
	testdev_init(&vm->testdev, &vm->power);
	ret = ret ?: bus_register(&vm->pio, TESTDEV_REPORT_PORT, TESTDEV_NR_PORTS, &testdev_pio_ops,
				  &vm->testdev, "testdev");
	ret = ret ?: bus_register(&vm->mmio, LAYOUT_TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, &testdev_mmio_ops,
				  &vm->testdev, "testdev");
	return ret;
}

static const uint32_t virtio_mmio_gsis[LAYOUT_MAX_VIRTIO_MMIO] = LAYOUT_VIRTIO_MMIO_GSIS;

/* The transports' doorbells, bound to the hypervisor's notifications (MMIO addresses). */
static int vm_doorbell(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
		       bool add)
{
	struct vm *vm = opaque;
	struct hv_notify n = { .addr = addr, .len = len, .datamatch = datamatch, .fd = fd };

	return add ? vm->hv_ops->notify_add(vm->hv, &n) : vm->hv_ops->notify_remove(vm->hv, &n);
}

static int vm_doorbell_add(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	return vm_doorbell(opaque, addr, len, datamatch, fd, true);
}

static int vm_doorbell_remove(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	return vm_doorbell(opaque, addr, len, datamatch, fd, false);
}

/* On PCI: MSI-X vectors as MSI lines, INTA# of its slot as a level line. */
static int vm_add_virtio_pci(struct vm *vm, struct vm_virtio *v, const struct virtio_device_ops *ops)
{
	const struct virtio_doorbells db = { vm_doorbell_add, vm_doorbell_remove, vm };
	int ret;

	virtio_device_init(&v->dev, ops, v->dev.priv, &vm->mem, NULL, v->id);
	v->on_pci = true;
	v->transport_up = true;
	ret = virtio_pci_init(&v->pci, &v->dev, &vm->io, &db);
	for (int i = 0; !ret && i < VIRTIO_PCI_VECTORS; i++)
		ret = vm->hv_ops->line_msi(vm->hv, &v->pci.vector_line[i]);
	if (ret)
		return ret;
	ret = pci_bus_add(&vm->pci, &v->pci.pci);
	if (ret < 0)
		return ret;
	/* INTA# of this slot, as the DSDT's _PRT routes it. */
	ret = vm->hv_ops->line_gsi(vm->hv, &v->intx, ACPI_PCI_SLOT_GSI((unsigned)ret), IRQ_LEVEL);
	v->pci.intx = &v->intx;
	return ret;
}

/* On MMIO: the next slot, an edge line, a doorbell per queue, announced on the command line. */
static int vm_add_virtio_mmio(struct vm *vm, struct vm_virtio *v, const struct virtio_device_ops *ops)
{
	int i = vm->nr_virtio_mmio;
	uint64_t base = LAYOUT_VIRTIO_MMIO_BASE + (uint64_t)i * LAYOUT_VIRTIO_MMIO_STRIDE;
	char *words;
	int ret;

	if (i == LAYOUT_MAX_VIRTIO_MMIO)
		return -ENOSPC;
	ret = vm->hv_ops->line_gsi(vm->hv, &v->irq, virtio_mmio_gsis[i], IRQ_EDGE);
	if (ret)
		return ret;
	virtio_device_init(&v->dev, ops, v->dev.priv, &vm->mem, &v->irq, v->id);
	v->transport_up = true;
	ret = virtio_mmio_init(&v->mmio, &v->dev, base, &vm->io);
	for (int q = 0; !ret && q < ops->nr_queues; q++)
		ret = vm_doorbell_add(vm, base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, (uint64_t)q,
				      virtio_mmio_notify_fd(&v->mmio, q));
	ret = ret ?: bus_register(&vm->mmio, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, &v->mmio, v->id);
	if (ret)
		return ret;
	if (asprintf(&words, "%s%svirtio_mmio.device=4K@0x%llx:%u", vm->virtio_cmdline ?: "",
		     vm->virtio_cmdline ? " " : "", (unsigned long long)base, virtio_mmio_gsis[i]) < 0)
		return -ENOMEM;
	free(vm->virtio_cmdline);
	vm->virtio_cmdline = words;
	vm->nr_virtio_mmio++;
	return 0;
}

/*
 * A fresh virtio device entry, already in the VM's list so that vm_destroy() releases
 * whatever a failure part-way through its set-up leaves behind.
 */
static struct vm_virtio *vm_virtio_new(struct vm *vm, const char *kind)
{
	struct vm_virtio *v;

	if (vm->nr_virtio == VM_MAX_VIRTIO || !(v = calloc(1, sizeof(*v))))
		return NULL;
	snprintf(v->id, sizeof(v->id), "%s%d", kind, vm->nr_virtio);
	v->irq.fd = v->intx.fd = -1;
	v->cfg_index = -1;
	vm->virtio[vm->nr_virtio++] = v;
	return v;
}

static int vm_add_virtio(struct vm *vm, struct vm_virtio *v, const struct virtio_device_ops *ops,
			 enum virtio_transport transport, char *err, size_t errlen)
{
	int ret;

	if (transport == TRANSPORT_DEFAULT)
		transport = vm->cfg->transport;
	ret = transport == TRANSPORT_PCI ? vm_add_virtio_pci(vm, v, ops) : vm_add_virtio_mmio(vm, v, ops);
	/* Its state (core, queues, transport, type) is one section: the transport's. */
	if (!ret)
		ret = device_list_add(&vm->devices, v->on_pci ? &virtio_pci_state_ops : &virtio_mmio_state_ops,
				      v->id, v->on_pci ? (void *)&v->pci : (void *)&v->mmio);
	if (ret)
		snprintf(err, errlen, "cannot set up %s: %s", v->id,
			 ret == -ENOSPC ? "too many virtio devices" : strerror(-ret));
	return ret;
}

/* Release what one virtio entry holds, in reverse order of its set-up. */
static void vm_virtio_destroy(struct vm *vm, struct vm_virtio *v)
{
	const struct virtio_device_ops *ops = v->dev.ops;

	if (v->transport_up && v->on_pci) {
		virtio_pci_destroy(&v->pci);
		for (int i = 0; i < VIRTIO_PCI_VECTORS; i++)
			vm->hv_ops->line_release(vm->hv, &v->pci.vector_line[i]);
	} else if (v->transport_up) {
		virtio_mmio_destroy(&v->mmio);
	}
	vm->hv_ops->line_release(vm->hv, &v->irq);
	vm->hv_ops->line_release(vm->hv, &v->intx);
	if (ops && ops->destroy)
		ops->destroy(&v->dev);
	free(v);
}

static int vm_wire_disk(struct vm *vm, int i, char *err, size_t errlen)
{
	const struct disk_config *d = &vm->cfg->disks[i];
	struct vm_virtio *v = vm_virtio_new(vm, "virtio-blk");
	int ret;

	if (!v)
		return -ENOMEM;
	ret = virtio_blk_open(&v->blk, d->path, d->readonly, d->serial, err, errlen);
	if (ret)
		return ret;
	v->dev.ops = &virtio_blk_ops; /* from here vm_destroy closes the disk */
	v->dev.priv = &v->blk;
	v->cfg_index = i;
	if ((ret = vm_add_virtio(vm, v, &virtio_blk_ops, d->transport, err, errlen)))
		return ret;
	if (d->readonly)
		v->dev.features |= VIRTIO_BLK_F_RO;
	if ((ret = virtio_blk_throttle(&v->blk, &v->dev, &vm->io, &d->limiter)))
		return ret;
	if (!d->sync && !virtio_blk_use_uring(&v->blk, &v->dev, &vm->io))
		pr_info("%s: io_uring unavailable, synchronous I/O on the I/O thread", v->id);
	return 0;
}

static int vm_wire_net(struct vm *vm, int i, char *err, size_t errlen)
{
	const struct net_config *nc = &vm->cfg->nets[i];
	struct vm_virtio *v = vm_virtio_new(vm, "virtio-net");
	int ret;

	if (!v)
		return -ENOMEM;
	v->net.rx_throttle.timer_fd = v->net.tx_throttle.timer_fd = v->net.announce_fd = -1;
	v->net.be = nc->tap ? net_tap_open(nc->tap, err, errlen)
			    : net_slirp_open(nc->fwd, nc->nr_fwd, err, errlen);
	if (!v->net.be)
		return -EINVAL;
	v->dev.ops = &virtio_net_ops; /* from here vm_destroy closes the backend */
	/* Locally administered default MAC, QEMU's prefix, one per interface. */
	const uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + i) };
	memcpy(v->net.mac, nc->has_mac ? nc->mac : def, 6);
	v->net.mtu = nc->mtu;
	v->dev.priv = &v->net;
	if (vm->cfg->mmds && nc->mmds) {
		v->net.mmds_ipv4 = vm->cfg->mmds_ipv4;
		if (!(v->net.mmds = mmds_stack_open(vm->mmds, vm->cfg->mmds_ipv4, err, errlen)))
			return -EINVAL;
	}
	v->cfg_index = i;
	if ((ret = vm_add_virtio(vm, v, &virtio_net_ops, nc->transport, err, errlen)))
		return ret;
	ret = virtio_net_attach(&v->net, &v->dev, &vm->io, &nc->rx_limiter, &nc->tx_limiter);
	if (ret)
		snprintf(err, errlen, "%s: cannot poll its %s backend: %s", v->id, v->net.be->kind,
			 strerror(-ret));
	return ret;
}

static int vm_wire_rng(struct vm *vm, char *err, size_t errlen)
{
	struct vm_virtio *v = vm_virtio_new(vm, "virtio-rng");
	int ret;

	if (!v)
		return -ENOMEM;
	v->rng.throttle.timer_fd = -1;
	v->dev.ops = &virtio_rng_ops;
	v->dev.priv = &v->rng;
	if ((ret = vm_add_virtio(vm, v, &virtio_rng_ops, vm->cfg->rng_transport, err, errlen)))
		return ret;
	return virtio_rng_init(&v->rng, &v->dev, &vm->io, &vm->cfg->rng_limiter);
}

static int vm_wire_console(struct vm *vm, char *err, size_t errlen)
{
	struct vm_virtio *v = vm_virtio_new(vm, "virtio-console");
	int ret;

	if (!v)
		return -ENOMEM;
	v->con.tx = console_output;
	v->con.tx_opaque = &vm->console;
	v->dev.priv = &v->con;
	ret = vm_add_virtio(vm, v, &virtio_console_ops, vm->cfg->console_transport, err, errlen);
	if (!ret)
		vm->vcon = &v->dev;
	return ret;
}

static int vm_wire_balloon(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	struct vm_virtio *v = vm_virtio_new(vm, "virtio-balloon");
	const struct virtio_device_ops *ops;
	int ret;

	if (c->hugepages) {
		snprintf(err, errlen, "the balloon cannot give back 4 KiB pages of hugetlb RAM: "
			 "use it without huge_pages");
		return -EINVAL;
	}
	if (c->balloon_mib > c->memory >> 20) {
		snprintf(err, errlen, "the balloon's %u MiB are more than the guest's %llu MiB",
			 c->balloon_mib, (unsigned long long)(c->memory >> 20));
		return -EINVAL;
	}
	if (!v)
		return -ENOMEM;
	v->balloon.timer_fd = -1;
	ops = c->balloon_free_page_reporting ? &virtio_balloon_reporting_ops : &virtio_balloon_ops;
	v->dev.ops = ops;
	v->dev.priv = &v->balloon;
	if ((ret = vm_add_virtio(vm, v, ops, c->transport, err, errlen)))
		return ret;
	return virtio_balloon_init(&v->balloon, &v->dev, &vm->io,
				   c->balloon_mib << (20 - BALLOON_PAGE_SHIFT),
				   c->balloon_deflate_on_oom, c->balloon_stats_s,
				   c->balloon_free_page_reporting);
}

static int vm_wire_vsock(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	struct vm_virtio *v = vm_virtio_new(vm, "virtio-vsock");
	int ret;

	if (!v)
		return -ENOMEM;
	v->vsock.listen_fd = v->vsock.ep_fd = v->vsock.timer_fd = -1;
	v->dev.ops = &virtio_vsock_ops; /* from here vm_destroy closes its sockets */
	v->dev.priv = &v->vsock;
	if ((ret = vm_add_virtio(vm, v, &virtio_vsock_ops, c->transport, err, errlen)))
		return ret;
	return virtio_vsock_init(&v->vsock, &v->dev, &vm->io, c->vsock_cid, c->vsock_uds, err,
				 errlen);
}

/* The data store MMDS answers from: the VMM's, or the VM's own with --metadata loaded. */
static int vm_mmds_service(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	struct mmds_shared *s = c->mmds_service;

	if (!s) {
		if (!(s = vm->own_mmds = mmds_shared_new(MMDS_DEFAULT_LIMIT, "anonymous-instance")))
			return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	s->m.version = c->mmds_version == MMDS_V2 ? MMDS_V2 : MMDS_V1;
	s->m.imds_compat = c->mmds_imds_compat;
	pthread_mutex_unlock(&s->lock);
	vm->mmds = s;
	if (c->metadata && mmds_shared_load(s, c->metadata, err, errlen))
		return -EINVAL;
	return 0;
}

/* ---- virtio-pmem: each file a read-write (or read-only) slot of its own above RAM ---- */

/* The guest's physical address width on every host vmon runs on (CPUID 0x80000008: >= 39). */
#define PMEM_GPA_LIMIT (1ULL << 39)

static int vm_pmem_open(const struct pmem_config *c, int *fd, uint64_t *size, char *err,
			size_t errlen)
{
	struct stat st;

	*fd = open(c->path, (c->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &st)) {
		snprintf(err, errlen, "pmem %s: cannot open %s%s: %s", c->id, c->path,
			 c->read_only ? "" : " for reading and writing", strerror(errno));
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	if (!S_ISREG(st.st_mode) || !*size || *size % PMEM_ALIGN) {
		snprintf(err, errlen, "pmem %s: %s is %s of %llu bytes; virtio-pmem maps whole 2 MiB "
			 "blocks: make it a regular file whose size is a non-zero multiple of 2 MiB "
			 "(truncate -s)", c->id, c->path, S_ISREG(st.st_mode) ? "a file" : "not a "
			 "regular file", (unsigned long long)*size);
		return -EINVAL;
	}
	return 0;
}

static int vm_wire_pmem(struct vm *vm, int i, uint64_t start, int fd, uint64_t size,
			char *err, size_t errlen)
{
	const struct pmem_config *c = &vm->cfg->pmems[i];
	struct vm_virtio *v = vm_virtio_new(vm, "virtio-pmem");
	void *host;
	int ret;

	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	host = mmap(NULL, size, PROT_READ | (c->read_only ? 0 : PROT_WRITE), MAP_SHARED, fd, 0);
	if (host == MAP_FAILED) {
		snprintf(err, errlen, "pmem %s: cannot map %s: %s", c->id, c->path, strerror(errno));
		close(fd);
		return -EINVAL;
	}
	v->cfg_index = i;
	v->dev.ops = &virtio_pmem_ops; /* from here vm_destroy unmaps and closes the file */
	virtio_pmem_init(&v->pmem, &v->dev, fd, host, start, size, c->read_only);
	if ((ret = vm->hv_ops->map_extra(vm->hv, VMON_MAX_SHMS + (uint32_t)i, start, size, host,
					 c->read_only))) {
		snprintf(err, errlen, "pmem %s: cannot map it at guest-physical 0x%llx: %s", c->id,
			 (unsigned long long)start, strerror(-ret));
		return ret;
	}
	return vm_add_virtio(vm, v, &virtio_pmem_ops, vm->cfg->transport, err, errlen);
}

static int vm_wire_pmems(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	const struct gm_region *last = &vm->mem.regions[vm->mem.nr_regions - 1];
	uint64_t sizes[VMON_MAX_PMEMS], starts[VMON_MAX_PMEMS];
	int fds[VMON_MAX_PMEMS], ret = 0, n = 0;

	for (int i = 0; pmem_config_root(c) && i < c->nr_disks; i++)
		if (c->disks[i].root) {
			snprintf(err, errlen, "pmem %s and drive %s cannot both be the root device",
				 c->pmems[0].id, c->disks[i].id);
			return -EINVAL;
		}
	for (; !ret && n < c->nr_pmems; n++)
		ret = vm_pmem_open(&c->pmems[n], &fds[n], &sizes[n], err, errlen);
	if (!ret && pmem_layout(last->gpa + last->size, PMEM_GPA_LIMIT, sizes, n, starts)) {
		snprintf(err, errlen, "the pmem devices do not fit below guest-physical %llu GiB",
			 PMEM_GPA_LIMIT >> 30);
		ret = -EINVAL;
	}
	if (ret) {
		for (int i = 0; i < n; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return ret;
	}
	for (int i = 0; i < n; i++) {
		if (!ret)
			ret = vm_wire_pmem(vm, i, starts[i], fds[i], sizes[i], err, errlen);
		else
			close(fds[i]);
	}
	return ret;
}

static int vm_wire_virtio(struct vm *vm, char *err, size_t errlen)
{
	int ret = 0;

	if (vm->cfg->mmds)
		ret = vm_mmds_service(vm, err, errlen);
	for (int i = 0; !ret && i < vm->cfg->nr_disks; i++)
		ret = vm_wire_disk(vm, i, err, errlen);
	for (int i = 0; !ret && i < vm->cfg->nr_nets; i++)
		ret = vm_wire_net(vm, i, err, errlen);
	if (!ret && vm->cfg->rng)
		ret = vm_wire_rng(vm, err, errlen);
	if (!ret && vm->cfg->virtio_console)
		ret = vm_wire_console(vm, err, errlen);
	if (!ret && vm->cfg->balloon)
		ret = vm_wire_balloon(vm, err, errlen);
	if (!ret && vm->cfg->vsock)
		ret = vm_wire_vsock(vm, err, errlen);
	if (!ret && vm->cfg->nr_pmems)
		ret = vm_wire_pmems(vm, err, errlen);
	return ret;
}

/* ---- ivshmem: the shared memory as a slot of its own, wherever the guest puts BAR2 ---- */

static int vm_shm_map(void *opaque, uint64_t gpa, uint64_t size, void *host)
{
	struct vm_shm *m = opaque;

	return m->vm->hv_ops->map_extra(m->vm->hv, m->slot, gpa, size, host, false);
}

static void vm_shm_unmap(void *opaque)
{
	struct vm_shm *m = opaque;

	if (m->vm->hv_ops->map_extra(m->vm->hv, m->slot, 0, 0, NULL, false))
		pr_warn("%s: cannot remove the shared memory's slot", m->dev.id);
}

/* ivshmem-plain's memory: the file (created, grown to size) or a memfd of its own. */
static int vm_shm_open(const struct shm_config *c, char *err, size_t errlen)
{
	struct stat st;
	int fd = c->memfd ? memfd_create("vmon-ivshmem", MFD_CLOEXEC)
			  : open(c->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 || fstat(fd, &st) ||
	    ((uint64_t)st.st_size < c->size && ftruncate(fd, (off_t)c->size))) {
		snprintf(err, errlen, "%s: cannot open %s as shared memory of %llu bytes: %s", c->id,
			 c->memfd ? "a memfd" : c->path, (unsigned long long)c->size, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int vm_wire_shm(struct vm *vm, int i, char *err, size_t errlen)
{
	const struct shm_config *c = &vm->cfg->shms[i];
	struct vm_shm *m = calloc(1, sizeof(*m));
	struct ivshmem *s;
	int ret, fd;

	if (!m)
		return -ENOMEM;
	vm->shm[vm->nr_shm++] = m;
	m->vm = vm;
	m->slot = (uint32_t)i;
	s = &m->dev;
	const struct ivshmem_region_ops region = { vm_shm_map, vm_shm_unmap, m };
	if (c->socket) {
		ret = ivshmem_init_doorbell(s, c->id, c->socket, c->vectors ?: 1, &vm->io, &region,
					    err, errlen);
	} else {
		if ((fd = vm_shm_open(c, err, errlen)) < 0)
			return -EINVAL;
		ret = ivshmem_init_plain(s, c->id, fd, c->size, &region, err, errlen);
		close(fd); /* the device keeps its mapping */
		s->saveable = !c->memfd; /* the file keeps its bytes for a restore */
	}
	m->up = true; /* from here vm_destroy() releases what it holds */
	for (uint32_t v = 0; !ret && s->doorbell && v < s->nr_vectors; v++)
		ret = vm->hv_ops->line_msi(vm->hv, &s->vector_line[v]);
	if (ret)
		return ret;
	ret = pci_bus_add(&vm->pci, &s->pci);
	if (ret < 0) {
		snprintf(err, errlen, "%s: no room in the PCI window for %llu MiB of shared memory",
			 c->id, (unsigned long long)(s->shm_size >> 20));
		return ret;
	}
	ret = vm->hv_ops->line_gsi(vm->hv, &s->intx, ACPI_PCI_SLOT_GSI((unsigned)ret), IRQ_LEVEL);
	return ret ?: device_list_add(&vm->devices, &ivshmem_state_ops, s->id, s);
}

static int vm_wire_shms(struct vm *vm, char *err, size_t errlen)
{
	int ret = 0;

	for (int i = 0; !ret && i < vm->cfg->nr_shms; i++)
		ret = vm_wire_shm(vm, i, err, errlen);
	return ret;
}

int vm_shm_check_saveable(struct vm *vm, bool migrate, char *err, size_t errlen)
{
	for (int i = 0; i < vm->nr_shm; i++) {
		const struct ivshmem *s = &vm->shm[i]->dev;
		if (!migrate && s->saveable)
			continue;
		snprintf(err, errlen, "%s shares memory %s, so the VM cannot be %s while it is attached.",
			 s->id, s->doorbell ? "with other VMs through an ivshmem server (the memory and "
			 "the peers live there, as with QEMU's ivshmem-doorbell)" : s->saveable ?
			 "in a file on this host (ivshmem-plain: a snapshot keeps its path, a migration "
			 "would not carry it)" : "in a memfd (ivshmem-plain: a snapshot would lose it)",
			 migrate ? "migrated" : "saved");
		return -EBUSY;
	}
	if (migrate && vm->cfg->nr_pmems) {
		snprintf(err, errlen, "pmem %s maps %s on this host, which a migration would not "
			 "carry (a snapshot keeps its path), so the VM cannot be migrated while it has "
			 "a pmem device.", vm->cfg->pmems[0].id, vm->cfg->pmems[0].path);
		return -EBUSY;
	}
	return 0;
}

static void vm_shm_destroy(struct vm *vm, struct vm_shm *m)
{
	if (m->up) {
		ivshmem_destroy(&m->dev);
		for (int v = 0; v < IVSHMEM_MAX_VECTORS; v++)
			vm->hv_ops->line_release(vm->hv, &m->dev.vector_line[v]);
		vm->hv_ops->line_release(vm->hv, &m->dev.intx);
	}
	free(m);
}

static int vm_write_acpi(struct vm *vm)
{
	struct acpi_config acfg = {
		.nr_cpus = vm->cfg->cpus,
		.pm1a_evt_port = ACPI_PM1A_EVT,
		.pm1a_cnt_port = ACPI_PM1A_CNT,
		.reset_port = ACPI_PM_RESET,
		.reset_value = ACPI_PM_RESET_VALUE,
		.ioapic_addr = LAYOUT_IOAPIC_ADDR,
		.lapic_addr = LAYOUT_LAPIC_ADDR,
	};
	uint8_t *buf = gm_translate_w(&vm->mem, BOOT_ACPI_ADDR, BOOT_ACPI_MAX);

	if (!buf)
		return -EFAULT;
	int n = acpi_build(&acfg, BOOT_ACPI_ADDR, buf, BOOT_ACPI_MAX);
	return n < 0 ? n : 0;
}

static int vm_load_kernel(struct vm *vm, struct boot_entry *entry, char *err, size_t errlen)
{
	char *base = config_guest_cmdline(vm->cfg), *cmdline = NULL;

	if (base && asprintf(&cmdline, "%s%s%s", base, vm->virtio_cmdline ? " " : "",
			     vm->virtio_cmdline ?: "") < 0)
		cmdline = NULL;
	free(base);
	struct boot_config bc = {
		.kernel_path = vm->cfg->kernel,
		.initrd_path = vm->cfg->initrd,
		.cmdline = cmdline,
		.protocol = vm->cfg->protocol,
		.no_host_decompress = vm->cfg->no_host_decompress,
		.rsdp_addr = BOOT_ACPI_ADDR,
	};

	if (!cmdline)
		return -ENOMEM;
	int ret = boot_load(&bc, &vm->mem, entry, err, errlen);
	if (!ret)
		pr_info("booting %s via %s at 0x%llx, command line: %s", vm->cfg->kernel,
			entry->protocol, (unsigned long long)entry->rip, cmdline);
	free(cmdline);
	return ret;
}

#define BUILD_STEP(call, ...)                                      \
	do {                                                       \
		ret = (call);                                      \
		if (ret) {                                         \
			if (!err[0])                               \
				snprintf(err, errlen, __VA_ARGS__); \
			goto fail;                                 \
		}                                                  \
	} while (0)

static void vm_io_thread_init(void)
{
	seccomp_thread_start(SECCOMP_IO, "vmon-io");
}

static void vm_stop_sink(void *opaque, int status, const char *why)
{
	vm_request_stop(opaque, status, why);
}

/* The vCPU layer sees the buses, guest memory and a stop sink; nothing else of the VM. */
static int vm_create_vcpus(struct vm *vm, const struct boot_entry *entry, char *err, size_t errlen)
{
	const struct vcpu_env env = {
		.pio = &vm->pio, .mmio = &vm->mmio, .mem = &vm->mem,
		.stop = vm_stop_sink, .opaque = vm,
	};

	int ret;

	vcpus_init(&vm->vcpus, vm->hv_ops->vcpu, vm->hv, &env);
	vm->vcpus.tmpl = vm->cfg->cpu_template;
	ret = vcpus_create(&vm->vcpus, vm->cfg->cpus, entry);
	if (ret && vm->vcpus.tmpl_err[0])
		snprintf(err, errlen, "The CPU template cannot be applied: %s.", vm->vcpus.tmpl_err);
	for (int i = 0; !ret && i < vm->vcpus.nr; i++)
		vm->vcpus.vcpus[i].affinity = config_vcpu_affinity(vm->cfg, i);
	return ret;
}

/* Guest RAM: fresh, or a snapshot's (mapped copy-on-write from its file, or page-served). */
static int vm_create_memory(struct vm *vm, const struct vm_restore_mem *src, char *err,
			    size_t errlen)
{
	const struct vm_config *cfg = vm->cfg;
	int ret;

	if (src && src->kind == RESTORE_MEM_FRESH)
		src = NULL; /* migration: fresh RAM, filled by the stream */
	if (src && src->kind == RESTORE_MEM_MEMFD)
		return gm_create_from_memfd(&vm->mem, src->fd, cfg->memory, cfg->hugepages, err, errlen);
	if (src && src->kind == RESTORE_MEM_FILE)
		return gm_create_from_file(&vm->mem, src->path, cfg->memory, cfg->hugepages, err, errlen);
	if (src) {
		ret = gm_create_anon(&vm->mem, cfg->memory, cfg->hugepages);
		if (ret) {
			snprintf(err, errlen, "cannot reserve %llu MiB of guest RAM: %s",
				 (unsigned long long)(cfg->memory / MiB), strerror(-ret));
			return ret;
		}
		/* Before anything touches RAM: every page comes from the handler. */
		return uffd_register(&vm->uffd, &vm->mem, src->path, err, errlen);
	}
	ret = gm_create(&vm->mem, cfg->memory, cfg->hugepages);
	if (ret)
		snprintf(err, errlen, "cannot allocate %llu MiB of guest RAM%s: %s",
			 (unsigned long long)(cfg->memory / MiB),
			 cfg->hugepages ? " in huge pages (are enough reserved in /proc/sys/vm/nr_hugepages?)" : "",
			 strerror(-ret));
	return ret;
}

/* Up to the hypervisor's VM and its RAM, for both a boot and a restore. */
static int vm_build_core(struct vm *vm, const struct vm_config *cfg,
			 const struct vm_restore_mem *src, char *err, size_t errlen)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	err[0] = '\0';
	vm->cfg = cfg;
	vm->hv_ops = hv_find(cfg->accel ? cfg->accel : "kvm");
	vm->power.event = vm_power_event;
	vm->mem.fd = -1;
	vm->uffd.uffd = vm->uffd.sock = -1;
	vm->com1_irq.fd = vm->kbd_irq.fd = vm->sci_irq.fd = vm->rtc_irq.fd = -1;
	vm->console.in_fd = vm->console.out_fd = vm->console.listen_fd = -1;
	vm->io.epfd = vm->io.stop_fd = vm->io.pause_fd = -1;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	device_list_init(&vm->devices);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->power_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0 || vm->power_fd < 0) {
		snprintf(err, errlen, "out of memory or file descriptors");
		return -ENOMEM;
	}
	if (!vm->hv_ops) {
		snprintf(err, errlen, "no machine backend called '%s'", cfg->accel);
		return -EINVAL;
	}
	BUILD_STEP(vm->hv_ops->vm_create(&vm->hv, err, errlen), "cannot open KVM");
	BUILD_STEP(vm_create_memory(vm, src, err, errlen), "cannot set up guest RAM");
	/* Transparent huge pages: a hint; the kernel may not honour it for shared memory. */
	if (cfg->thp && madvise(vm->mem.base, vm->mem.size, MADV_HUGEPAGE))
		pr_warn("transparent huge pages unavailable for guest RAM: %s", strerror(errno));
	/* Tracking from the first byte the loaders write, so a diff after boot is complete. */
	if (cfg->track_dirty_pages)
		BUILD_STEP(gm_dirty_enable(&vm->mem), "no memory for the dirty-page bitmap");
	BUILD_STEP(vm->hv_ops->map_memory(vm->hv, &vm->mem, cfg->track_dirty_pages),
		   "cannot map guest RAM into KVM");
	vm->dirty_log = cfg->track_dirty_pages;
	BUILD_STEP(vm->hv_ops->irqchip_create(vm->hv), "cannot create the in-kernel irqchip and PIT");
	BUILD_STEP(vm_snapshot_register_machine(vm), "cannot list the machine's state");
	return 0;
fail:
	return ret;
}

static int vm_build_with(struct vm *vm, const struct vm_config *cfg,
			 const struct vm_restore_mem *src, char *err, size_t errlen)
{
	struct boot_entry entry;
	int ret;

	ret = vm_build_core(vm, cfg, src, err, errlen);
	if (ret)
		goto fail;
	BUILD_STEP(config_check_affinity(cfg, err, errlen), "bad thread affinity");
	BUILD_STEP(vm_sched_apply(vm, &cfg->sched, err, errlen), "cannot set up the VM's cgroup");
	BUILD_STEP(eventloop_init(&vm->io), "cannot create the I/O thread's event loop");
	vm->io.thread_init = vm_io_thread_init;
	vm->io.affinity = cfg->io_affinity.set ? &cfg->io_affinity.cpus : NULL;
	BUILD_STEP(vm_wire_devices(vm), "cannot place devices on the buses");
	BUILD_STEP(vm_wire_virtio(vm, err, errlen), "cannot set up virtio devices");
	BUILD_STEP(vm_wire_shms(vm, err, errlen), "cannot set up the ivshmem devices");
	if (!src) {
		BUILD_STEP(vm_write_acpi(vm), "cannot build ACPI tables");
		BUILD_STEP(vm_load_kernel(vm, &entry, err, errlen), "cannot load the kernel");
	}
	BUILD_STEP(vm_create_vcpus(vm, src ? NULL : &entry, err, errlen), "cannot create %d vCPUs: %s", cfg->cpus,
		   strerror(-ret));
	BUILD_STEP(vm_snapshot_register_late(vm), "cannot list the vCPUs' state");
	/* A restored or migrated VM goes on writing where its console file ended. */
	BUILD_STEP(console_open(&vm->console, cfg->console, src != NULL, err, errlen),
		   "cannot open the console");
	/* Last: its hook sees every vCPU exit from the first. */
	if (cfg->gdb && !src)
		BUILD_STEP(vm_gdb_start(vm, cfg->gdb, cfg->gdb_wait, err, errlen),
			   "cannot start the GDB stub");
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "%s", strerror(-ret));
	vm_destroy(vm);
	return ret;
}

int vm_build(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	return vm_build_with(vm, cfg, NULL, err, errlen);
}

int vm_build_restore(struct vm *vm, const struct vm_config *cfg, const struct vm_restore_mem *src,
		     char *err, size_t errlen)
{
	return vm_build_with(vm, cfg, src, err, errlen);
}

/* Everything vm_build() took, in reverse order; safe on a VM built only part-way. */
void vm_destroy(struct vm *vm)
{
	gdb_server_stop(vm->gdb, true); /* a vCPU it holds would never leave its loop */
	vm_stop_threads(vm);
	vm_cgroup_destroy(&vm->cgroup); /* its threads are gone */
	gdb_server_free(vm->gdb); /* the vCPU threads, whose hook it is, are gone */
	vm->gdb = NULL;
	eventloop_destroy(&vm->io);
	device_list_destroy(&vm->devices);
	for (int i = vm->nr_virtio - 1; i >= 0; i--)
		vm_virtio_destroy(vm, vm->virtio[i]);
	vm->nr_virtio = vm->nr_virtio_mmio = 0;
	for (int i = vm->nr_shm - 1; i >= 0; i--)
		vm_shm_destroy(vm, vm->shm[i]);
	vm->nr_shm = 0;
	vm->vcon = NULL;
	mmds_shared_free(vm->own_mmds); /* its stacks went with the interfaces */
	vm->own_mmds = vm->mmds = NULL;
	free(vm->virtio_cmdline);
	vm->virtio_cmdline = NULL;
	console_close(&vm->console);
	vcpus_destroy(&vm->vcpus);
	if (vm->hv) {
		vm->hv_ops->line_release(vm->hv, &vm->com1_irq);
		vm->hv_ops->line_release(vm->hv, &vm->kbd_irq);
		vm->hv_ops->line_release(vm->hv, &vm->sci_irq);
		vm->hv_ops->line_release(vm->hv, &vm->rtc_irq);
		vm->hv_ops->vm_destroy(vm->hv);
	}
	vm->hv = NULL;
	uffd_close(&vm->uffd);
	gm_destroy(&vm->mem);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	vm->stop_fd = -1;
	if (vm->power_fd >= 0)
		close(vm->power_fd);
	vm->power_fd = -1;
}

struct device *vm_find_device(struct vm *vm, const char *id)
{
	return device_list_find(&vm->devices, id);
}
