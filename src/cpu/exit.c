/* The exit table: one handler per exit reason, each returning continue, stop or error. */
#include <stdio.h>
#include <string.h>

#include "cpu/vcpu.h"
#include "util/log.h"
#include "vmm/vm.h"

typedef enum exit_action (*exit_handler)(struct vcpu *vcpu, struct vcpu_exit *e);

static enum exit_action handle_io(struct vcpu *vcpu, struct vcpu_exit *e)
{
	struct bus *pio = &vcpu->vm->pio;

	for (uint32_t i = 0; i < e->io.count; i++) {
		uint8_t *data = e->io.data + (size_t)i * e->io.size;

		if (e->io.out)
			bus_write(pio, e->io.port, data, e->io.size);
		else
			bus_read(pio, e->io.port, data, e->io.size);
	}
	return EXIT_CONTINUE;
}

static enum exit_action handle_mmio(struct vcpu *vcpu, struct vcpu_exit *e)
{
	struct bus *mmio = &vcpu->vm->mmio;

	if (e->mmio.len == 0 || e->mmio.len > 8)
		return EXIT_CONTINUE;
	if (e->mmio.write)
		bus_write(mmio, e->mmio.addr, e->mmio.data, e->mmio.len);
	else
		bus_read(mmio, e->mmio.addr, e->mmio.data, e->mmio.len);
	return EXIT_CONTINUE;
}

/* Only without an in-kernel LAPIC; vmon's irqchip keeps HLT in the kernel. */
static enum exit_action handle_hlt(struct vcpu *vcpu, struct vcpu_exit *e)
{
	(void)e;
	pr_info("vCPU %d halted with no way to wake it", vcpu->index);
	vm_request_stop(vcpu->vm, VMON_EXIT_POWEROFF, "guest halted");
	return EXIT_STOP;
}

static enum exit_action handle_shutdown(struct vcpu *vcpu, struct vcpu_exit *e)
{
	(void)e;
	pr_err("vCPU %d: triple fault (KVM_EXIT_SHUTDOWN)", vcpu->index);
	vm_request_stop(vcpu->vm, VMON_EXIT_TRIPLE_FAULT, "triple fault");
	return EXIT_ERROR;
}

static enum exit_action handle_system_event(struct vcpu *vcpu, struct vcpu_exit *e)
{
	switch (e->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, VMON_EXIT_POWEROFF, "guest shut down");
		return EXIT_STOP;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, VMON_EXIT_RESET, "guest reset");
		return EXIT_STOP;
	default:
		pr_err("vCPU %d: system event %u (crash)", vcpu->index, e->system_event.type);
		vm_request_stop(vcpu->vm, VMON_EXIT_INTERNAL_ERROR, "guest crashed");
		return EXIT_ERROR;
	}
}

static enum exit_action handle_fail_entry(struct vcpu *vcpu, struct vcpu_exit *e)
{
	pr_err("vCPU %d: KVM could not enter the guest (hardware reason 0x%llx)", vcpu->index,
	       (unsigned long long)e->fail_entry.hw_reason);
	vm_request_stop(vcpu->vm, VMON_EXIT_INTERNAL_ERROR, "entry failed");
	return EXIT_ERROR;
}

static enum exit_action handle_internal_error(struct vcpu *vcpu, struct vcpu_exit *e)
{
	char data[256] = "";
	size_t off = 0;

	for (uint32_t i = 0; i < e->internal.ndata && off < sizeof(data); i++)
		off += (size_t)snprintf(data + off, sizeof(data) - off, " 0x%llx",
					(unsigned long long)e->internal.data[i]);
	pr_err("vCPU %d: KVM internal error, suberror %u%s%s", vcpu->index, e->internal.suberror,
	       e->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (instruction emulation failed)"
								     : "",
	       data);
	vm_request_stop(vcpu->vm, VMON_EXIT_INTERNAL_ERROR, "KVM internal error");
	return EXIT_ERROR;
}

/* A kick: the run loop re-checks whether the VM is stopping. */
static enum exit_action handle_intr(struct vcpu *vcpu, struct vcpu_exit *e)
{
	(void)vcpu, (void)e;
	return EXIT_CONTINUE;
}

static enum exit_action handle_unknown(struct vcpu *vcpu, struct vcpu_exit *e)
{
	pr_err("vCPU %d: unhandled exit reason %u", vcpu->index, e->raw_reason);
	vm_request_stop(vcpu->vm, VMON_EXIT_INTERNAL_ERROR, "unhandled exit");
	return EXIT_ERROR;
}

static const struct {
	exit_handler fn;
	const char *name;
} exit_table[VCPU_EXIT__MAX] = {
	[VCPU_EXIT_IO] = { handle_io, "io" },
	[VCPU_EXIT_MMIO] = { handle_mmio, "mmio" },
	[VCPU_EXIT_HLT] = { handle_hlt, "hlt" },
	[VCPU_EXIT_SHUTDOWN] = { handle_shutdown, "shutdown" },
	[VCPU_EXIT_SYSTEM_EVENT] = { handle_system_event, "system_event" },
	[VCPU_EXIT_FAIL_ENTRY] = { handle_fail_entry, "fail_entry" },
	[VCPU_EXIT_INTERNAL_ERROR] = { handle_internal_error, "internal_error" },
	[VCPU_EXIT_INTR] = { handle_intr, "intr" },
	[VCPU_EXIT_UNKNOWN] = { handle_unknown, "unknown" },
};

const char *exit_reason_name(enum vcpu_exit_reason r)
{
	return r < VCPU_EXIT__MAX ? exit_table[r].name : "?";
}

enum exit_action exit_dispatch(struct vcpu *vcpu, struct vcpu_exit *exit)
{
	if (exit->reason >= VCPU_EXIT__MAX)
		return handle_unknown(vcpu, exit);
	return exit_table[exit->reason].fn(vcpu, exit);
}
