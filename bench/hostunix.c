/* The vsock benchmark's baseline: the same traffic over a host Unix socket pair. */
/*
 * hostunix BYTES PINGS: one process writes BYTES in 64 KiB writes to the other, which reads
 * and drops them (MB/s), then PINGS 1-byte round trips (ns each): what the guest's vsock
 * tool does against a peer on the host, with no VM in the way.
 *   prints: MBPS=<x> PING_NS=<y>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static char buf[CHUNK];
	long long bytes = argc > 1 ? atoll(argv[1]) : 64LL << 20, pings = argc > 2 ? atoll(argv[2]) : 10000;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return perror("socketpair"), 1;
	if ((pid = fork()) == 0) {
		long long got = 0;
		ssize_t r;

		close(sv[0]);
		while (got < bytes && (r = read(sv[1], buf, sizeof(buf))) > 0)
			got += r;
		if (write(sv[1], "k", 1) != 1)
			_exit(1);
		for (long long i = 0; i < pings; i++)
			if (read(sv[1], buf, 1) != 1 || write(sv[1], buf, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(sv[1]);
	double t0 = now();
	for (long long sent = 0; sent < bytes;) {
		ssize_t w = write(sv[0], buf, sizeof(buf));
		if (w <= 0)
			return perror("write"), 1;
		sent += w;
	}
	if (read(sv[0], buf, 1) != 1) /* the reader has everything */
		return 1;
	double t1 = now();
	for (long long i = 0; i < pings; i++)
		if (write(sv[0], buf, 1) != 1 || read(sv[0], buf, 1) != 1)
			return 1;
	double t2 = now();
	int st;
	waitpid(pid, &st, 0);
	printf("MBPS=%.1f PING_NS=%.0f\n", (double)bytes / (t1 - t0) / 1e6, (t2 - t1) / (double)pings * 1e9);
	return 0;
}
