/* vmon shm-server: the shared memfd, one eventfd per vector and peer, and the peers' socket. */
#include "vmm/shm_server.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/ivshmem_proto.h"
#include "util/exit_status.h"
#include "util/fdmsg.h"
#include "util/util.h"

#define PLAN_MAX (3 + 2 * IVSHMEM_MAX_PEERS * IVSHMEM_MAX_VECTORS + IVSHMEM_MAX_VECTORS)

struct shm_server {
	int listen_fd;
	int shm_fd;
	int vectors;
	uint16_t next_id;
	struct ivshmem_peers peers;          /* each peer's eventfds */
	int sock[IVSHMEM_MAX_PEERS];         /* its socket, at its index in peers.p */
	struct ivshmem_msg plan[PLAN_MAX];
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int peer_index(const struct shm_server *s, uint16_t id)
{
	for (int i = 0; i < s->peers.nr; i++)
		if (s->peers.p[i].id == id)
			return i;
	return -1;
}

/*
 * Send a plan. Peers' sockets never block the server: one that cannot take a message (it
 * stopped reading, or it is gone) is shut down, and poll() reports the hang-up that drops it.
 */
static void send_plan(struct shm_server *s, int n)
{
	bool dead[IVSHMEM_MAX_PEERS] = { 0 };

	for (int i = 0; i < n; i++) {
		int k = peer_index(s, s->plan[i].to), ret;
		if (k < 0 || dead[k] || (ret = fdmsg_send(s->sock[k], s->plan[i].value, s->plan[i].fd)) == 0)
			continue;
		dead[k] = true;
		if (ret != -EPIPE && ret != -ECONNRESET) /* a peer already gone says so itself */
			fprintf(stderr, "shm-server: cannot send to peer %u (%s); dropping it\n",
				s->plan[i].to, strerror(-ret));
		shutdown(s->sock[k], SHUT_RDWR);
	}
}

static void peer_close(struct shm_server *s, int k)
{
	uint16_t id = s->peers.p[k].id;
	int fds[IVSHMEM_MAX_VECTORS];
	int last = s->peers.nr - 1;
	int sock = s->sock[k];
	int n = ivshmem_peer_remove(&s->peers, id, fds);

	/* ivshmem_peer_remove() moved the last entry into slot k: its socket moves too. */
	s->sock[k] = s->sock[last];
	close(sock);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	n = ivshmem_server_leave_plan(&s->peers, id, s->plan, PLAN_MAX);
	if (n > 0)
		send_plan(s, n);
	printf("shm-server: peer %u left (%d connected)\n", id, s->peers.nr);
	fflush(stdout);
}

static void peer_accept(struct shm_server *s)
{
	int sock = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int id, n, k;
	struct ivshmem_peer *p;

	if (sock < 0)
		return;
	id = ivshmem_server_alloc_id(&s->peers, &s->next_id);
	if (id < 0 || ivshmem_peer_add(&s->peers, (uint16_t)id)) {
		fprintf(stderr, "shm-server: %d peers already connected; refusing one more\n", s->peers.nr);
		close(sock);
		return;
	}
	k = s->peers.nr - 1;
	s->sock[k] = sock;
	p = &s->peers.p[k];
	for (int v = 0; v < s->vectors; v++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0) {
			fprintf(stderr, "shm-server: cannot create an eventfd: %s\n", strerror(errno));
			peer_close(s, k);
			return;
		}
		p->fds[p->nr++] = fd;
	}
	n = ivshmem_server_join_plan(&s->peers, p, s->shm_fd, s->plan, PLAN_MAX);
	if (n > 0)
		send_plan(s, n);
	printf("shm-server: peer %d joined (%d connected)\n", id, s->peers.nr);
	fflush(stdout);
}

static int serve(struct shm_server *s)
{
	struct pollfd pfd[IVSHMEM_MAX_PEERS + 1];

	while (!stop_requested) {
		int n = s->peers.nr;

		pfd[0] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		for (int i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){ .fd = s->sock[i], .events = POLLIN };
		if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "shm-server: poll: %s\n", strerror(errno));
			return VMON_EXIT_SETUP;
		}
		/* Peers send nothing: anything readable is a hang-up (or bytes we drop). */
		for (int i = n - 1; i >= 0; i--) {
			char junk[64];
			if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if ((pfd[i + 1].revents & (POLLHUP | POLLERR)) ||
			    recv(s->sock[i], junk, sizeof(junk), MSG_DONTWAIT) <= 0)
				peer_close(s, i);
		}
		if (pfd[0].revents & POLLIN)
			peer_accept(s);
	}
	return 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "vmon shm-server: socket path '%s' is too long\n", path);
		return -1;
	}
	/* A stale socket of an earlier server goes; any other file stays. */
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "vmon shm-server: %s exists and is no socket\n", path);
			return -1;
		}
		unlink(path);
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)) {
		fprintf(stderr, "vmon shm-server: cannot listen on %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vmon shm-server --socket PATH --size SIZE [--vectors N]\n"
		   "  Shared memory for ivshmem-doorbell devices (vmon --shm socket=PATH, or QEMU's\n"
		   "  -device ivshmem-doorbell): SIZE a power of two from 4K (K/M/G suffixes),\n"
		   "  N interrupt vectors per peer (1-%d, default 1).\n", IVSHMEM_MAX_VECTORS);
}

int shm_server_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' },
		{ "vectors", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct shm_server *s = calloc(1, sizeof(*s));
	const char *path = NULL;
	uint64_t size = 0;
	char *end;
	int c, status;

	if (!s)
		return VMON_EXIT_SETUP;
	s->vectors = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'z':
			if (parse_size(optarg, &size) || size < 4096 || (size & (size - 1)) ||
			    size > 64ULL * GiB) {
				fprintf(stderr, "vmon shm-server: --size '%s': need a power of two from 4K to 64G\n",
					optarg);
				free(s);
				return VMON_EXIT_USAGE;
			}
			break;
		case 'n':
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > IVSHMEM_MAX_VECTORS) {
				fprintf(stderr, "vmon shm-server: --vectors '%s': need 1 to %d\n", optarg,
					IVSHMEM_MAX_VECTORS);
				free(s);
				return VMON_EXIT_USAGE;
			}
			s->vectors = (int)v;
			break;
		case 'h': usage(stdout); free(s); return 0;
		default: usage(stderr); free(s); return VMON_EXIT_USAGE;
		}
	}
	if (!path || !size || optind < argc) {
		fprintf(stderr, "vmon shm-server: %s\n", optind < argc ? "unexpected argument" :
			"--socket PATH and --size SIZE are needed");
		free(s);
		return VMON_EXIT_USAGE;
	}
	s->shm_fd = memfd_create("vmon-ivshmem", MFD_CLOEXEC);
	if (s->shm_fd < 0 || ftruncate(s->shm_fd, (off_t)size)) {
		fprintf(stderr, "vmon shm-server: cannot create %llu bytes of shared memory: %s\n",
			(unsigned long long)size, strerror(errno));
		free(s);
		return VMON_EXIT_SETUP;
	}
	s->listen_fd = listen_on(path);
	if (s->listen_fd < 0) {
		close(s->shm_fd);
		free(s);
		return VMON_EXIT_SETUP;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	printf("shm-server: listening on %s (%llu bytes, %d vector%s per peer)\n", path,
	       (unsigned long long)size, s->vectors, s->vectors == 1 ? "" : "s");
	fflush(stdout);
	status = serve(s);
	while (s->peers.nr)
		peer_close(s, s->peers.nr - 1);
	unlink(path);
	close(s->listen_fd);
	close(s->shm_fd);
	free(s);
	return status;
}
