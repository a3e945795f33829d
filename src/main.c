/*
 * vmon: argv -> config -> vm_build() -> vm_run(); nothing else. `vmon --api-sock` hands the
 * process to the management API (api/process.c), `vmon ctl` is that API's client.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "security/jail.h"
#include "util/log.h"
#include "api/process.h"
#include "vmm/shm_server.h"
#include "vmm/snapshot_cli.h"
#include "util/util.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/* Signals the main loop handles, and the vCPU kick, are blocked in every thread. */
static void block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* `vmon ctl ...` is vmon-ctl, installed beside vmon. */
static int exec_ctl(char **argv)
{
	exec_sibling("vmon-ctl", argv + 1);
	return VMON_EXIT_SETUP;
}

/* vmon run without the API: build, run, tear down. */
static int run(const struct vm_config *cfg)
{
	char err[512] = "";
	struct vm vm;

	if (vm_build(&vm, cfg, err, sizeof(err))) {
		fprintf(stderr, "vmon: %s\n", err);
		return VMON_EXIT_SETUP;
	}
	int status = vm_run(&vm);
	vm_destroy(&vm);
	return status;
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	char err[512] = "";

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		config_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? VMON_EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("vmon %s\n", VMON_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "ctl"))
		return exec_ctl(argv);
	if (!strcmp(argv[1], "jail"))
		return jail_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "snapshot"))
		return snapshot_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "shm-server"))
		return shm_server_main(argc - 1, argv + 1);
	if (!strncmp(argv[1], "--", 2)) {
		block_signals();
		return vmm_main(argc, argv);
	}
	if (strcmp(argv[1], "run")) {
		fprintf(stderr, "vmon: unknown command '%s' (see vmon --help)\n", argv[1]);
		return VMON_EXIT_USAGE;
	}
	switch (config_parse(&cfg, argc - 1, argv + 1, err, sizeof(err))) {
	case CONFIG_EXIT_OK:
		config_clear(&cfg);
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "vmon: %s\n", err);
		config_clear(&cfg);
		return VMON_EXIT_USAGE;
	case CONFIG_OK:
		break;
	}
	log_threshold = (enum log_level)cfg.log_level;
	block_signals();
	int status = cfg.restore_state ? vmm_run_restore(&cfg) : cfg.api_sock ? vmm_run_cli(&cfg) : run(&cfg);
	config_clear(&cfg);
	return status;
}
