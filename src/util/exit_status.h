/* vmon's exit statuses: what the process tells its caller about how the VM ended. */
#ifndef VMON_EXIT_STATUS_H
#define VMON_EXIT_STATUS_H

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

#endif
