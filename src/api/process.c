/*
 * The VMM process with the management API: `vmon --api-sock PATH` (Firecracker's command
 * line: configure over the API, or --config-file), and `vmon run ... --api-sock PATH` (a VM
 * from the command line that the API then controls). Either way the main thread runs the VM.
 */
#include "api/process.h"
#include "net/mmds_stack.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "migration/migrate.h"
#include "security/seccomp.h"
#include "util/log.h"

void vmm_usage(FILE *out)
{
	fprintf(out,
		"usage: vmon --api-sock PATH [--config-file FILE] [options]\n"
		"       vmon --config-file FILE --no-api [options]\n"
		"\n"
		"Serve Firecracker's REST API (HTTP/1.1 + JSON) on a Unix socket; the VM is\n"
		"configured and started through it (or from FILE, Firecracker's JSON config format).\n"
		"\n"
		"  --api-sock PATH      the API socket (must not exist yet)\n"
		"  --config-file FILE   configure from FILE and start the VM at once\n"
		"  --no-api             no API socket (needs --config-file)\n"
		"  --id ID              the instance id GET / reports (default anonymous-instance)\n"
		"  --log-path PATH      log to PATH (file or FIFO) instead of stderr\n"
		"  --level LEVEL        Error, Warning (default), Info, Debug, Trace or Off\n"
		"  --metrics-path PATH  write metrics lines to PATH (as PUT /metrics)\n"
		"  --no-seccomp         no seccomp filters (debugging only)\n"
		"  --incoming URL       wait for a VM migrated to tcp:ADDR:PORT or unix:PATH\n"
		"  --metadata FILE      MMDS's data store from FILE (JSON), as PUT /mmds\n"
		"  --mmds-size-limit N  the most bytes MMDS's data store may hold (default 51200)\n"
		"\n"
		"Firecracker's own flags, for its guides and clients:\n"
		"  --enable-pci         virtio devices on PCI (as --virtio-transport pci)\n"
		"  --show-level, --show-log-origin, --module MODULE   as PUT /logger's fields\n"
		"  --http-api-max-payload-size N   at most 51200 (vmon's fixed limit)\n"
		"  --start-time-us N, --start-time-cpu-us N, --parent-cpu-time-us N, --boot-timer\n"
		"                       the jailer's timing hints: accepted, not used\n"
		"  --seccomp-filter, --snapshot-version, --describe-snapshot\n"
		"                       refused, saying why\n"
		"\n"
		"Exit status as for `vmon run` (see vmon run --help).\n");
}

enum { O_API = 256, O_CONFIG, O_NO_API, O_ID, O_LOG, O_LEVEL, O_METRICS, O_HELP, O_NO_SECCOMP,
       O_INCOMING, O_PCI, O_SHOW_LEVEL, O_SHOW_ORIGIN, O_MODULE, O_PAYLOAD, O_IGNORED,
       O_IGNORED_ARG, O_REFUSED, O_REFUSED_ARG, O_METADATA, O_MMDS_LIMIT };

static const struct option opts[] = {
	{ "api-sock", required_argument, NULL, O_API },
	{ "config-file", required_argument, NULL, O_CONFIG },
	{ "no-api", no_argument, NULL, O_NO_API },
	{ "id", required_argument, NULL, O_ID },
	{ "log-path", required_argument, NULL, O_LOG },
	{ "level", required_argument, NULL, O_LEVEL },
	{ "metrics-path", required_argument, NULL, O_METRICS },
	{ "no-seccomp", no_argument, NULL, O_NO_SECCOMP },
	{ "incoming", required_argument, NULL, O_INCOMING },
	{ "enable-pci", no_argument, NULL, O_PCI },
	{ "show-level", no_argument, NULL, O_SHOW_LEVEL },
	{ "show-log-origin", no_argument, NULL, O_SHOW_ORIGIN },
	{ "module", required_argument, NULL, O_MODULE },
	{ "http-api-max-payload-size", required_argument, NULL, O_PAYLOAD },
	{ "boot-timer", no_argument, NULL, O_IGNORED },
	{ "start-time-us", required_argument, NULL, O_IGNORED_ARG },
	{ "start-time-cpu-us", required_argument, NULL, O_IGNORED_ARG },
	{ "parent-cpu-time-us", required_argument, NULL, O_IGNORED_ARG },
	/* Firecracker's, refused with the reason (vmon_refused_flag()). */
	{ "seccomp-filter", required_argument, NULL, O_REFUSED_ARG },
	{ "describe-snapshot", required_argument, NULL, O_REFUSED_ARG },
	{ "snapshot-version", no_argument, NULL, O_REFUSED },
	{ "metadata", required_argument, NULL, O_METADATA },
	{ "mmds-size-limit", required_argument, NULL, O_MMDS_LIMIT },
	{ "help", no_argument, NULL, O_HELP },
	{ 0 },
};

/* Why a Firecracker flag vmon knows is not taken. */
static const char *vmon_refused_flag(const char *flag)
{
	if (!strcmp(flag, "--seccomp-filter"))
		return "vmon installs its own seccomp filter per thread (libseccomp), not a "
		       "Firecracker BPF file; --no-seccomp turns them off";
	if (!strcmp(flag, "--mmds-size-limit"))
		return "vmon has no MMDS yet";
	return "vmon's snapshot format is its own (VMONSNAP 1.0), not Firecracker's";
}

/* A migration still sending when the VM ends must let go of it before it is torn down. */
static void vmm_stop_migration(struct vmm *vmm)
{
	struct mig_progress *pr = vmm->migration;

	if (!pr || atomic_load(&pr->state) != MIG_ACTIVE)
		return;
	atomic_store(&pr->cancel, true);
	for (int i = 0; i < 400 && atomic_load(&pr->state) == MIG_ACTIVE; i++)
		usleep(100 * 1000);
}

/* Run the started VM on this thread, then take everything down. */
static int vmm_finish(struct vmm *vmm, struct api_server *api)
{
	int status = vm_run(&vmm->vm);

	vmm_stop_migration(vmm);
	api_server_stop(api);
	pthread_mutex_lock(&vmm->lock);
	if (metrics_flush(&vmm->metrics) == -EIO)
		pr_warn("cannot write the last metrics line");
	pthread_mutex_unlock(&vmm->lock);
	metrics_stop(&vmm->metrics);
	vm_destroy(&vmm->vm);
	return status;
}

/* vmon --api-sock: metrics, the API, the config file; then wait for InstanceStart and run. */
/* --incoming URL: listen now; the main thread takes the VM as PUT /migration/receive does. */
static int vmm_incoming(struct vmm *vmm, const char *url)
{
	char err[512];
	uint64_t one = 1;
	int fd = mig_listen(url, err, sizeof(err));

	if (fd < 0) {
		fprintf(stderr, "vmon: %s\n", err);
		return -1;
	}
	vmm->incoming_fd = fd;
	vmm->receive = mig_receive;
	vmm->receive_requested = vmm->configured = true;
	return write(vmm->start_fd, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

static int vmm_serve(struct vmm *vmm, const char *api_sock, const char *config, const char *metrics,
		     const char *incoming)
{
	char err[1024] = "";
	struct api_server *api = NULL;

	if (metrics && metrics_configure(&vmm->metrics, metrics, false, NULL)) {
		fprintf(stderr, "vmon: cannot open the metrics file '%s'\n", metrics);
		return VMON_EXIT_SETUP;
	}
	/* A request that arrives before the main thread reaches vmm_wait_start() must still be
	 * built there, never on the API thread (whose seccomp filter forbids it). */
	if (!config) {
		pthread_mutex_lock(&vmm->lock);
		vmm->main_waiting = true;
		pthread_mutex_unlock(&vmm->lock);
	}
	if (incoming && (config || vmm_incoming(vmm, incoming)))
		return config ? (fprintf(stderr, "vmon: --incoming and --config-file exclude each other\n"),
				 VMON_EXIT_USAGE) : VMON_EXIT_SETUP;
	if (api_sock && !(api = api_server_start(vmm, api_sock, err, sizeof(err)))) {
		fprintf(stderr, "vmon: %s\n", err);
		return VMON_EXIT_SETUP;
	}
	if (config && api_config_file(vmm, config, err, sizeof(err))) {
		fprintf(stderr, "vmon: %s\n", err);
		api_server_stop(api);
		return VMON_EXIT_SETUP;
	}
	int started = config ? 1 : vmm_wait_start(vmm);
	if (started <= 0) {
		api_server_stop(api);
		/* SIGTERM before InstanceStart, or an incoming migration that failed */
		return started < 0 ? VMON_EXIT_SETUP : VMON_EXIT_SIGNAL;
	}
	return vmm_finish(vmm, api);
}

int vmm_main(int argc, char **argv)
{
	const char *api_sock = NULL, *config = NULL, *id = NULL, *log_path = NULL, *metrics = NULL;
	const char *incoming = NULL, *module = NULL, *metadata = NULL;
	unsigned long mmds_limit = MMDS_DEFAULT_LIMIT;
	bool no_api = false, pci = false, show_level = true, show_origin = false;
	char *end;
	char err[512];
	int level = -2, opt, status;
	struct vmm *vmm;

	/* `vmon --api-sock --help` asks for this text; getopt would take --help for the path. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return vmm_usage(stdout), 0;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case O_API: api_sock = optarg; break;
		case O_CONFIG: config = optarg; break;
		case O_NO_API: no_api = true; break;
		case O_ID: id = optarg; break;
		case O_LOG: log_path = optarg; break;
		case O_METRICS: metrics = optarg; break;
		case O_LEVEL:
			level = log_level_parse(optarg);
			if (level < LOG_OFF) {
				fprintf(stderr, "vmon: --level '%s': use Error, Warning, Info, Debug, Trace or Off\n", optarg);
				return VMON_EXIT_USAGE;
			}
			break;
		case O_NO_SECCOMP: seccomp_enabled = false; break;
		case O_INCOMING: incoming = optarg; break;
		case O_PCI: pci = true; break;
		case O_SHOW_LEVEL: show_level = true; break;
		case O_SHOW_ORIGIN: show_origin = true; break;
		case O_MODULE: module = optarg; break;
		case O_PAYLOAD:
			errno = 0;
			unsigned long long max = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || !max || max > API_MAX_BODY) {
				fprintf(stderr, "vmon: --http-api-max-payload-size '%s': use 1 to %d "
						"(vmon's request buffer is fixed)\n", optarg, API_MAX_BODY);
				return VMON_EXIT_USAGE;
			}
			break;
		case O_IGNORED: break;
		case O_REFUSED:
		case O_REFUSED_ARG: {
			/* "--flag value" is two words, "--flag=value" one */
			const char *flag = argv[optind - 1];
			if (opt == O_REFUSED_ARG && !(flag[0] == '-' && strchr(flag, '=')))
				flag = argv[optind - 2];
			char name[40];
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(flag, "="), flag);
			fprintf(stderr, "vmon: %s is not supported: %s\n", name, vmon_refused_flag(name));
			return VMON_EXIT_USAGE;
		}
		case O_IGNORED_ARG:
			errno = 0;
			(void)strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end) {
				fprintf(stderr, "vmon: %s '%s': want a number of microseconds\n",
					argv[optind - 2], optarg);
				return VMON_EXIT_USAGE;
			}
			break;
		case O_METADATA: metadata = optarg; break;
		case O_MMDS_LIMIT:
			errno = 0;
			mmds_limit = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || !mmds_limit || mmds_limit > 64ul << 20 ||
			    optarg[0] == '-') {
				fprintf(stderr, "vmon: --mmds-size-limit '%s': use 1 to %lu bytes\n", optarg, 64ul << 20);
				return VMON_EXIT_USAGE;
			}
			break;
		case O_HELP: vmm_usage(stdout); return 0;
		default:
			fprintf(stderr, "vmon: unknown or incomplete option '%s' (see vmon --help)\n", argv[optind - 1]);
			return VMON_EXIT_USAGE;
		}
	}
	if (optind < argc || (!api_sock && !no_api) || (no_api && !config) || (no_api && api_sock)) {
		fprintf(stderr, "vmon: give --api-sock PATH, or --config-file FILE --no-api (see vmon --help)\n");
		return VMON_EXIT_USAGE;
	}
	if (id && (!*id || strlen(id) >= VMON_ID_MAX)) {
		fprintf(stderr, "vmon: --id: use 1 to %d characters\n", VMON_ID_MAX - 1);
		return VMON_EXIT_USAGE;
	}
	if (level >= LOG_OFF)
		log_threshold = (enum log_level)level;
	if (module && (!*module || strlen(module) >= 32)) {
		fprintf(stderr, "vmon: --module: use 1 to 31 characters\n");
		return VMON_EXIT_USAGE;
	}
	if ((log_path || module || show_origin) &&
	    log_configure(log_path, show_level, show_origin, module)) {
		fprintf(stderr, "vmon: cannot open the log file '%s'\n", log_path);
		return VMON_EXIT_SETUP;
	}
	if (!(vmm = malloc(sizeof(*vmm))) || vmm_init(vmm, id)) {
		fprintf(stderr, "vmon: out of memory or file descriptors\n");
		status = VMON_EXIT_SETUP;
	} else if ((vmm->mmds->m.store.limit = mmds_limit) && metadata &&
		   mmds_shared_load(vmm->mmds, metadata, err, sizeof(err))) {
		fprintf(stderr, "vmon: %s\n", err);
		status = VMON_EXIT_SETUP;
	} else {
		vmm->cfg.log_level = log_threshold;
		if (pci)
			vmm->cfg.transport = TRANSPORT_PCI;
		status = vmm_serve(vmm, api_sock, config, metrics, incoming);
	}
	if (vmm)
		vmm_destroy(vmm);
	free(vmm);
	return status;
}

/* Build the command line's VM from the configuration the VMM took over, then serve it. */
static int vmm_serve_cli(struct vmm *vmm)
{
	char err[512] = "";
	struct api_server *api;

	if (vm_build(&vmm->vm, &vmm->cfg, err, sizeof(err))) {
		fprintf(stderr, "vmon: %s\n", err);
		return VMON_EXIT_SETUP;
	}
	vmm->vm.api_lock = &vmm->lock;
	vmm->state = VMM_RUNNING;
	if (!(api = api_server_start(vmm, vmm->cfg.api_sock, err, sizeof(err)))) {
		fprintf(stderr, "vmon: %s\n", err);
		vm_destroy(&vmm->vm);
		return VMON_EXIT_SETUP;
	}
	return vmm_finish(vmm, api);
}

/* A VMM for the command line's VM: set up, `serve` it, take it down. */
static int with_vmm(int (*serve)(struct vmm *vmm, struct vm_config *cfg), struct vm_config *cfg)
{
	struct vmm *vmm = malloc(sizeof(*vmm));
	int status;

	if (!vmm || vmm_init(vmm, NULL)) {
		fprintf(stderr, "vmon: out of memory or file descriptors\n");
		status = VMON_EXIT_SETUP;
	} else {
		status = serve(vmm, cfg);
	}
	if (vmm)
		vmm_destroy(vmm);
	free(vmm);
	return status;
}

static int vmm_adopt_and_serve(struct vmm *vmm, struct vm_config *cfg)
{
	vmm_adopt(vmm, cfg);
	return vmm_serve_cli(vmm);
}

int vmm_run_cli(struct vm_config *cfg)
{
	return with_vmm(vmm_adopt_and_serve, cfg);
}

/* vmon run --restore: the snapshot's VM, with the API on --api-sock if given. */
static int vmm_restore_cli(struct vmm *vmm, struct vm_config *cfg)
{
	struct snapshot_load l = { .uffd = cfg->restore_uffd, .resume = cfg->restore_resume,
				   .track_dirty_pages = cfg->track_dirty_pages };
	char err[1024] = "";
	struct api_server *api = NULL;

	l.state_path = cfg->restore_state, cfg->restore_state = NULL;
	l.mem_path = cfg->restore_mem, cfg->restore_mem = NULL;
	/* Without the API nothing could resume it later. */
	if (!cfg->api_sock)
		l.resume = true;
	vmm->cfg.api_sock = cfg->api_sock, cfg->api_sock = NULL;
	vmm->cfg.log_level = cfg->log_level;
	/* --vcpu-affinity, --cpu-weight etc.: this host's, not the snapshot's. */
	if (config_keep_placement(&vmm->cfg, cfg)) {
		fprintf(stderr, "vmon: out of memory\n");
		return VMON_EXIT_SETUP;
	}
	pthread_mutex_lock(&vmm->lock);
	int ret = vmm_snapshot_load(vmm, &l, err, sizeof(err));
	pthread_mutex_unlock(&vmm->lock);
	if (ret) {
		fprintf(stderr, "vmon: %s\n", err);
		return VMON_EXIT_SETUP;
	}
	if (vmm->cfg.api_sock && !(api = api_server_start(vmm, vmm->cfg.api_sock, err, sizeof(err)))) {
		fprintf(stderr, "vmon: %s\n", err);
		vm_destroy(&vmm->vm);
		return VMON_EXIT_SETUP;
	}
	return vmm_finish(vmm, api);
}

int vmm_run_restore(struct vm_config *cfg)
{
	return with_vmm(vmm_restore_cli, cfg);
}
