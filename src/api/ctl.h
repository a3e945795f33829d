/* `vmon ctl --api-sock PATH COMMAND`: drive a running vmon through its API. */
#ifndef VMON_CTL_H
#define VMON_CTL_H

/* argv[0] is the program ("vmon-ctl"). Returns the exit status: 0 done, 1 refused or unreachable, 2 usage. */
int ctl_main(int argc, char **argv);

#endif
