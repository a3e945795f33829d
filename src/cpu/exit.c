/* The exit table: one handler per exit reason, each returning continue, stop or error. */
#include <stdio.h>
#include <string.h>

#include "cpu/vcpu.h"
#include "util/exit_status.h"
#include "util/log.h"

typedef struct exit_outcome (*exit_handler)(const struct vcpu_env *env, struct vcpu *vcpu,
					    struct vcpu_exit *e);

#define CONTINUE ((struct exit_outcome){ EXIT_CONTINUE, 0, NULL })
#define STOP(status, why) ((struct exit_outcome){ EXIT_STOP, (status), (why) })
#define ERROR(status, why) ((struct exit_outcome){ EXIT_ERROR, (status), (why) })

static struct exit_outcome handle_io(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	struct bus *pio = env->pio;

	for (uint32_t i = 0; i < e->io.count; i++) {
		uint8_t *data = e->io.data + (size_t)i * e->io.size;

		if (e->io.out)
			bus_write(pio, e->io.port, data, e->io.size);
		else
			bus_read(pio, e->io.port, data, e->io.size);
	}
	return CONTINUE;
}

static struct exit_outcome handle_mmio(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	struct bus *mmio = env->mmio;

	if (e->mmio.len == 0 || e->mmio.len > 8)
		return CONTINUE;
	if (e->mmio.write)
		bus_write(mmio, e->mmio.addr, e->mmio.data, e->mmio.len);
	else
		bus_read(mmio, e->mmio.addr, e->mmio.data, e->mmio.len);
	return CONTINUE;
}

/* Only without an in-kernel LAPIC; vmon's irqchip keeps HLT in the kernel. */
static struct exit_outcome handle_hlt(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	(void)e;
	pr_info("vCPU %d halted with no way to wake it", vcpu->index);
	return STOP(VMON_EXIT_POWEROFF, "guest halted");
}

static struct exit_outcome handle_shutdown(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	(void)e;
	pr_err("vCPU %d: triple fault (KVM_EXIT_SHUTDOWN)", vcpu->index);
	return ERROR(VMON_EXIT_TRIPLE_FAULT, "triple fault");
}

static struct exit_outcome handle_system_event(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	switch (e->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		return STOP(VMON_EXIT_POWEROFF, "guest shut down");
	case KVM_SYSTEM_EVENT_RESET:
		return STOP(VMON_EXIT_RESET, "guest reset");
	default:
		pr_err("vCPU %d: system event %u (crash)", vcpu->index, e->system_event.type);
		return ERROR(VMON_EXIT_INTERNAL_ERROR, "guest crashed");
	}
}

static struct exit_outcome handle_fail_entry(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	pr_err("vCPU %d: KVM could not enter the guest (hardware reason 0x%llx)", vcpu->index,
	       (unsigned long long)e->fail_entry.hw_reason);
	return ERROR(VMON_EXIT_INTERNAL_ERROR, "entry failed");
}

static struct exit_outcome handle_internal_error(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
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
	return ERROR(VMON_EXIT_INTERNAL_ERROR, "KVM internal error");
}

/* A kick: the run loop re-checks whether the VM is stopping. */
static struct exit_outcome handle_intr(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	(void)vcpu, (void)e;
	return CONTINUE;
}

/* A debug exit with no debugger's hook to take it (a stale breakpoint): carry on. */
static struct exit_outcome handle_debug(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	(void)env;
	pr_ratelimited(LOG_WARN, "vCPU %d: debug exit at 0x%llx with no debugger attached",
		       vcpu->index, (unsigned long long)e->debug.pc);
	return CONTINUE;
}

static struct exit_outcome handle_unknown(const struct vcpu_env *env, struct vcpu *vcpu,
					struct vcpu_exit *e)
{
	pr_err("vCPU %d: unhandled exit reason %u", vcpu->index, e->raw_reason);
	return ERROR(VMON_EXIT_INTERNAL_ERROR, "unhandled exit");
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
	[VCPU_EXIT_DEBUG] = { handle_debug, "debug" },
	[VCPU_EXIT_UNKNOWN] = { handle_unknown, "unknown" },
};

const char *exit_reason_name(enum vcpu_exit_reason r)
{
	return r < VCPU_EXIT__MAX ? exit_table[r].name : "?";
}

struct exit_outcome exit_dispatch(const struct vcpu_env *env, struct vcpu *vcpu,
				  struct vcpu_exit *exit)
{
	if (exit->reason >= VCPU_EXIT__MAX)
		return handle_unknown(env, vcpu, exit);
	return exit_table[exit->reason].fn(env, vcpu, exit);
}
