/* `vmon snapshot create|merge`: snapshots from the command line. */
#ifndef VMON_SNAPSHOT_CLI_H
#define VMON_SNAPSHOT_CLI_H

/* argv[0] is "snapshot". Returns the exit status (or execs vmon-ctl). */
int snapshot_main(int argc, char **argv);

#endif
