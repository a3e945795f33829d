/* `vmon ctl --api-sock PATH COMMAND`: drive a running vmon through its API. */
#ifndef VMON_CTL_H
#define VMON_CTL_H

#include <jansson.h>
#include <stdbool.h>

/* argv[0] is the program ("vmon-ctl"). Returns the exit status: 0 done, 1 refused or unreachable, 2 usage. */
int ctl_main(int argc, char **argv);

/*
 * One request. 0 with the answer's JSON in *reply (NULL when it had no body; the caller
 * decrefs it) for a 2xx; 1 after printing the fault for anything else; 2 when the VMM could
 * not be reached (quiet if `quiet`).
 */
int ctl_fetch_q(const char *sock, const char *method, const char *path, const char *body,
		json_t **reply, bool quiet);

/* vmon ctl profile (api/ctl_profile.c): argv are the words after "profile". */
int ctl_profile(const char *sock, int argc, char **argv);

#endif
