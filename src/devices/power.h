/* Power events devices raise (ACPI sleep register, i8042 reset line, test device). */
#ifndef VMON_POWER_H
#define VMON_POWER_H

/* vmon's exit status for each way a VM can end (documented in README.md and --help). */
enum vmon_exit_status {
	VMON_EXIT_POWEROFF = 0,       /* guest powered off (or the user quit with Ctrl-A x) */
	VMON_EXIT_SETUP = 1,          /* setup failed: bad file, missing KVM capability, ... */
	VMON_EXIT_USAGE = 2,          /* bad command line */
	VMON_EXIT_RESET = 3,          /* guest reset/reboot */
	VMON_EXIT_TRIPLE_FAULT = 4,   /* guest triple fault (KVM_EXIT_SHUTDOWN) */
	VMON_EXIT_INTERNAL_ERROR = 5, /* KVM internal error, failed entry, unhandled exit */
	VMON_EXIT_SIGNAL = 6,         /* stopped by SIGINT/SIGTERM */
	VMON_EXIT_SECCOMP = 7,        /* a thread made a system call its seccomp filter forbids */
};

enum power_event { POWER_OFF, POWER_RESET, POWER_TEST_EXIT };

/* Devices hold a power_sink and call it; the VM implements it (tests use a fake). */
struct power_sink {
	void (*event)(struct power_sink *sink, enum power_event ev, int code);
};

static inline void power_event(struct power_sink *sink, enum power_event ev, int code)
{
	sink->event(sink, ev, code);
}

#endif
