/* The VM's configuration, from the command line (and later the API and config files). It owns its strings. */
#ifndef VMON_CONFIG_H
#define VMON_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include "boot/loader.h"
#include "net/backend.h"
#include "util/ratelimit.h"
#include "util/util.h"

#define VMON_VERSION "0.1.0"
#define VMON_MAX_CPUS 64
#define VMON_MIN_MEMORY (8 * MiB)
#define VMON_DEFAULT_MEMORY (512 * MiB)

#define VMON_MAX_DISKS 8

enum virtio_transport { TRANSPORT_DEFAULT, TRANSPORT_MMIO, TRANSPORT_PCI };

struct disk_config {
	enum virtio_transport transport;
	char *path;
	bool readonly;
	bool sync;          /* io_engine=sync: no io_uring */
	char *serial;
	struct rate_limiter_spec limiter;
};

#define VMON_MAX_NETS 4

struct net_config {
	enum virtio_transport transport;
	char *tap;          /* TAP interface name (created if missing); NULL: user-mode (slirp) */
	uint8_t mac[6];
	bool has_mac;
	uint16_t mtu;       /* 0: the driver's default */
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	int nr_fwd;
	struct rate_limiter_spec rx_limiter, tx_limiter;
};

struct vm_config {
	char *kernel;
	char *initrd;
	char *cmdline;           /* NULL: the default command line */
	uint64_t memory;
	int cpus;
	char *console;           /* "stdio", "file:PATH", "none" */
	bool hugepages;
	bool thp;                /* transparent huge pages (madvise) */
	bool track_dirty_pages;  /* KVM dirty-page log on every memory slot */
	enum boot_protocol protocol;
	bool no_host_decompress;
	bool testdev;
	bool host_quirks;        /* add this host's guest command-line workarounds */
	struct disk_config disks[VMON_MAX_DISKS];
	int nr_disks;
	bool rng;
	enum virtio_transport rng_transport;
	struct rate_limiter_spec rng_limiter;
	bool virtio_console;     /* console input goes to hvc0 (output from both) */
	enum virtio_transport console_transport;
	struct net_config nets[VMON_MAX_NETS];
	int nr_nets;
	bool no_net;             /* --net none: no default user-mode interface */
	enum virtio_transport transport; /* for devices that do not choose: mmio unless set */
	int log_level;
	char *api_sock;          /* also serve the management API there */
};

enum config_result { CONFIG_OK, CONFIG_EXIT_OK, CONFIG_ERROR };

/*
 * Parse `vmon run ...` style arguments (argv[0] is the subcommand). Prints help/version
 * itself (CONFIG_EXIT_OK) or writes the problem into err (CONFIG_ERROR). Whatever the
 * result, config_clear() frees what cfg holds afterwards.
 */
enum config_result config_parse(struct vm_config *cfg, int argc, char **argv, char *err,
				size_t errlen);

/* Replace the string in *slot by a copy of value (NULL: none). 0 or -ENOMEM. */
int config_set(char **slot, const char *value) __must_check;

/* Free what an entry or the whole configuration holds; it is left zeroed. */
void disk_config_clear(struct disk_config *d);
void net_config_clear(struct net_config *n);
void config_clear(struct vm_config *cfg);

/* The command line the guest gets: the user's or the default, plus host quirks. malloc'd. */
char *config_guest_cmdline(const struct vm_config *cfg);

void config_usage(FILE *out);

#endif
