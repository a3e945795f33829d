/* The VMM process behind the management API (see process.c). */
#ifndef VMON_PROCESS_H
#define VMON_PROCESS_H

#include <stdio.h>
#include "vmm/config.h"

/* `vmon --api-sock PATH ...` / `vmon --config-file F --no-api`: returns the exit status. */
int vmm_main(int argc, char **argv);
void vmm_usage(FILE *out);

/*
 * `vmon run ... --api-sock PATH`: the command line's VM, controlled through the API on
 * cfg->api_sock. Takes over what cfg holds (it is left empty); returns the exit status.
 */
int vmm_run_cli(struct vm_config *cfg);

/* `vmon run --restore STATE --mem FILE [--api-sock PATH] [--resume]`: the exit status. */
int vmm_run_restore(struct vm_config *cfg);

#endif
