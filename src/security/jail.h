/*
 * `vmon jail`: run vmon the way Firecracker's jailer runs firecracker -- in new mount, PID
 * and IPC (and optionally network) namespaces, pivot_root'ed into a per-VM directory that
 * holds only what the VM needs, in a cgroup with CPU and memory limits, as an unprivileged
 * uid/gid with no capabilities.
 */
#ifndef VMON_JAIL_H
#define VMON_JAIL_H

/* argv[0] is "jail". Returns the jailed vmon's exit status, or 1/2 for setup/usage errors. */
int jail_main(int argc, char **argv);

#endif
