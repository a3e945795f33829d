/*
 * vm_build(): the ordered bring-up of a VM, and the one place that knows every part.
 * KVM -> guest RAM -> irqchip -> devices on their buses -> ACPI -> kernel -> vCPUs -> console.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/layout.h"
#include "boot/loader.h"
#include "devices/legacy/port80.h"
#include "util/log.h"
#include "vmm/vm.h"

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
	}
}

/* The port-I/O and MMIO map of the machine, in address order. */
static int vm_wire_devices(struct vm *vm)
{
	int ret = 0;

	irqchip_line_init(&vm->com1_irq, vm->kvm.vm_fd, IRQ_COM1);
	i8250_init(&vm->com1, &vm->com1_irq, console_output, &vm->console);
	irqchip_line_init(&vm->kbd_irq, vm->kvm.vm_fd, I8042_KBD_IRQ);
	i8042_init(&vm->i8042, &vm->power, &vm->kbd_irq);
	/* 00:00.0: the host bridge Linux's PCI sanity check looks for. */
	pci_bus_init(&vm->pci, &vm->mmio);
	irq_routing_init(&vm->routing, vm->kvm.vm_fd);
	vm->host_bridge.name = "pci-host";
	pci_device_init(&vm->host_bridge, 0x1b36, 0x0008, 0x06000000, 0x1af4, 0x1100);
	if (pci_bus_add(&vm->pci, &vm->host_bridge) < 0)
		return -ENOSPC;
	mc146818_init(&vm->rtc, vm->mem.size);
	vm->acpi_pm.power = &vm->power;

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
	if (ret || !vm->cfg->testdev)
		return ret;
	testdev_init(&vm->testdev, &vm->power);
	ret = ret ?: bus_register(&vm->pio, TESTDEV_REPORT_PORT, TESTDEV_NR_PORTS, &testdev_pio_ops,
				  &vm->testdev, "testdev");
	ret = ret ?: bus_register(&vm->mmio, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, &testdev_mmio_ops,
				  &vm->testdev, "testdev");
	return ret;
}

/* GSIs free for virtio-mmio devices: ISA IRQs no legacy device of vmon's uses. */
static const uint32_t virtio_gsis[VM_MAX_VIRTIO] = { 5, 6, 7, 10, 11, 12, 14, 15 };

/*
 * Put one virtio device on the MMIO bus at the next slot, announced on the command line.
 * Takes ownership of v (freed on failure).
 */
static int vm_add_virtio_pci(struct vm *vm, struct vm_virtio *v, const struct virtio_device_ops *ops)
{
	virtio_device_init(&v->dev, ops, v->dev.priv, &vm->mem, NULL, v->id);
	int ret = virtio_pci_init(&v->pci, &v->dev, &vm->routing, &vm->io, vm->kvm.vm_fd);
	if (ret)
		return ret;
	ret = pci_bus_add(&vm->pci, &v->pci.pci);
	if (ret < 0)
		return ret;
	/* INTA# of this slot, as the DSDT's _PRT routes it. */
	irqchip_line_init(&v->intx, vm->kvm.vm_fd, ACPI_PCI_SLOT_GSI((unsigned)ret));
	v->pci.intx = &v->intx;
	v->on_pci = true;
	vm->virtio[vm->nr_virtio++] = v;
	return 0;
}

static int vm_add_virtio(struct vm *vm, struct vm_virtio *v, const struct virtio_device_ops *ops,
			 const char *kind, enum virtio_transport transport, char *err, size_t errlen)
{
	int i = vm->nr_virtio_mmio;
	uint64_t base = VIRTIO_MMIO_BASE + (uint64_t)i * VIRTIO_MMIO_SIZE;
	char *words;
	int ret = -ENOSPC;

	if (transport == TRANSPORT_DEFAULT)
		transport = vm->cfg->transport;
	snprintf(v->id, sizeof(v->id), "%s%d", kind, vm->nr_virtio);
	if (vm->nr_virtio == VM_MAX_VIRTIO)
		goto fail;
	if (transport == TRANSPORT_PCI) {
		ret = vm_add_virtio_pci(vm, v, ops);
		if (ret)
			goto fail;
		return 0;
	}
	ret = irqfd_line_init(&v->irq, vm->kvm.vm_fd, virtio_gsis[i]);
	if (ret)
		goto fail;
	virtio_device_init(&v->dev, ops, v->dev.priv, &vm->mem, &v->irq, v->id);
	ret = virtio_mmio_init(&v->mmio, &v->dev, base, &vm->io, vm->kvm.vm_fd);
	ret = ret ?: bus_register(&vm->mmio, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, &v->mmio, v->id);
	if (ret)
		goto fail;
	ret = -ENOMEM;
	if (asprintf(&words, "%s%svirtio_mmio.device=4K@0x%llx:%u", vm->virtio_cmdline ?: "",
		     vm->virtio_cmdline ? " " : "", (unsigned long long)base, virtio_gsis[i]) < 0)
		goto fail;
	free(vm->virtio_cmdline);
	vm->virtio_cmdline = words;
	vm->virtio[vm->nr_virtio++] = v;
	vm->nr_virtio_mmio++;
	return 0;
fail:
	snprintf(err, errlen, "cannot set up %s: %s", v->id,
		 ret == -ENOSPC ? "too many virtio devices" : strerror(-ret));
	free(v);
	return ret;
}

static int vm_wire_virtio(struct vm *vm, char *err, size_t errlen)
{
	struct vm_virtio *v;
	int ret;

	for (int i = 0; i < vm->cfg->nr_disks; i++) {
		const struct disk_config *d = &vm->cfg->disks[i];

		if (!(v = calloc(1, sizeof(*v))))
			return -ENOMEM;
		ret = virtio_blk_open(&v->blk, d->path, d->readonly, d->serial, err, errlen);
		if (ret) {
			free(v);
			return ret;
		}
		v->dev.priv = &v->blk;
		v->cfg_index = i;
		if ((ret = vm_add_virtio(vm, v, &virtio_blk_ops, "virtio-blk", d->transport, err, errlen)))
			return ret;
		if (d->readonly)
			v->dev.features |= VIRTIO_BLK_F_RO;
		if ((ret = virtio_blk_throttle(&v->blk, &v->dev, &vm->io, &d->limiter)))
			return ret;
		if (!d->sync && !virtio_blk_use_uring(&v->blk, &v->dev, &vm->io))
			pr_info("%s: io_uring unavailable, synchronous I/O on the I/O thread", v->id);
	}
	for (int i = 0; i < vm->cfg->nr_nets; i++) {
		const struct net_config *nc = &vm->cfg->nets[i];

		if (!(v = calloc(1, sizeof(*v))))
			return -ENOMEM;
		v->net.be = nc->tap ? net_tap_open(nc->tap, err, errlen)
				    : net_slirp_open(nc->fwd, nc->nr_fwd, err, errlen);
		if (!v->net.be) {
			free(v);
			return -EINVAL;
		}
		/* Locally administered default MAC, QEMU's prefix, one per interface. */
		const uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + i) };
		memcpy(v->net.mac, nc->has_mac ? nc->mac : def, 6);
		v->net.mtu = nc->mtu;
		v->dev.priv = &v->net;
		v->cfg_index = i;
		if ((ret = vm_add_virtio(vm, v, &virtio_net_ops, "virtio-net", nc->transport, err, errlen)))
			return ret;
		ret = virtio_net_attach(&v->net, &v->dev, &vm->io, &nc->rx_limiter, &nc->tx_limiter);
		if (ret) {
			snprintf(err, errlen, "%s: cannot poll its %s backend: %s", v->id, v->net.be->kind,
				 strerror(-ret));
			return ret;
		}
	}
	if (vm->cfg->rng) {
		if (!(v = calloc(1, sizeof(*v))))
			return -ENOMEM;
		v->dev.priv = &v->rng;
		if ((ret = vm_add_virtio(vm, v, &virtio_rng_ops, "virtio-rng", vm->cfg->rng_transport, err, errlen)))
			return ret;
		if ((ret = virtio_rng_init(&v->rng, &v->dev, &vm->io, &vm->cfg->rng_limiter)))
			return ret;
	}
	if (vm->cfg->virtio_console) {
		if (!(v = calloc(1, sizeof(*v))))
			return -ENOMEM;
		v->con.tx = console_output;
		v->con.tx_opaque = &vm->console;
		v->dev.priv = &v->con;
		if ((ret = vm_add_virtio(vm, v, &virtio_console_ops, "virtio-console", vm->cfg->console_transport, err,
				   errlen)))
			return ret;
		vm->vcon = &v->dev;
	}
	return 0;
}

static int vm_write_acpi(struct vm *vm)
{
	struct acpi_config acfg = {
		.nr_cpus = vm->nr_vcpus,
		.pm1a_evt_port = ACPI_PM1A_EVT,
		.pm1a_cnt_port = ACPI_PM1A_CNT,
		.reset_port = ACPI_PM_RESET,
		.reset_value = ACPI_PM_RESET_VALUE,
		.ioapic_addr = IOAPIC_ADDR,
		.lapic_addr = LAPIC_ADDR,
	};
	uint8_t *buf = gm_translate(&vm->mem, BOOT_ACPI_ADDR, BOOT_ACPI_MAX);

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

int vm_build(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct boot_entry entry;
	int ret;

	memset(vm, 0, sizeof(*vm));
	err[0] = '\0';
	vm->cfg = cfg;
	vm->cpu = &kvm_cpu_backend;
	vm->nr_vcpus = cfg->cpus;
	vm->power.event = vm_power_event;
	vm->kvm.sys_fd = vm->kvm.vm_fd = vm->mem.fd = -1;
	vm->console.in_fd = vm->console.out_fd = vm->console.listen_fd = -1;
	vm->io.epfd = vm->io.stop_fd = -1;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0) {
		snprintf(err, errlen, "out of memory or file descriptors");
		ret = -ENOMEM;
		goto fail;
	}

	BUILD_STEP(kvm_open(&vm->kvm, err, errlen), "cannot open KVM");
	BUILD_STEP(gm_create(&vm->mem, cfg->memory, cfg->hugepages),
		   "cannot allocate %llu MiB of guest RAM%s: %s",
		   (unsigned long long)(cfg->memory / MiB),
		   cfg->hugepages ? " in huge pages (are enough reserved in /proc/sys/vm/nr_hugepages?)" : "",
		   strerror(-ret));
	/* Transparent huge pages: a hint; the kernel may not honour it for shared memory. */
	if (cfg->thp && madvise(vm->mem.base, vm->mem.size, MADV_HUGEPAGE))
		pr_warn("transparent huge pages unavailable for guest RAM: %s", strerror(errno));
	BUILD_STEP(kvm_map_memory(&vm->kvm, &vm->mem, cfg->track_dirty_pages), "cannot map guest RAM into KVM");
	BUILD_STEP(irqchip_create(vm->kvm.vm_fd), "cannot create the in-kernel irqchip and PIT");
	BUILD_STEP(eventloop_init(&vm->io), "cannot create the I/O thread's event loop");
	BUILD_STEP(vm_wire_devices(vm), "cannot place devices on the buses");
	BUILD_STEP(vm_wire_virtio(vm, err, errlen), "cannot set up virtio devices");
	BUILD_STEP(vm_write_acpi(vm), "cannot build ACPI tables");
	BUILD_STEP(vm_load_kernel(vm, &entry, err, errlen), "cannot load the kernel");
	BUILD_STEP(vcpus_create(vm, &entry), "cannot create %d vCPUs: %s", vm->nr_vcpus,
		   strerror(-ret));
	BUILD_STEP(console_open(&vm->console, cfg->console, err, errlen), "cannot open the console");
	return 0;
fail:
	vm_destroy(vm);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	eventloop_destroy(&vm->io);
	for (int i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i]->dev.ops == &virtio_blk_ops)
			virtio_blk_close(&vm->virtio[i]->blk);
		if (vm->virtio[i]->dev.ops == &virtio_net_ops)
			virtio_net_close(&vm->virtio[i]->net);
		if (vm->virtio[i]->dev.ops == &virtio_rng_ops)
			throttle_close(&vm->virtio[i]->rng.throttle);
		free(vm->virtio[i]);
	}
	vm->nr_virtio = 0;
	free(vm->virtio_cmdline);
	vm->virtio_cmdline = NULL;
	console_close(&vm->console);
	vcpus_destroy(vm);
	kvm_close(&vm->kvm);
	gm_destroy(&vm->mem);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	vm->stop_fd = -1;
}
