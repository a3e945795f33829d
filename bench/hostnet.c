/*
 * The host baseline for the virtio-net benchmark: COUNT messages of SIZE bytes over a
 * loopback TCP connection, read and discarded by a second thread.
 *
 *   hostnet COUNT SIZE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int conn_fd;

static void *sink(void *arg)
{
	char buf[65536];
	(void)arg;
	while (read(conn_fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s COUNT SIZE\n", argv[0]);
		return 2;
	}
	long count = atol(argv[1]), size = atol(argv[2]);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0), cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) || connect(cfd, (struct sockaddr *)&a, sizeof(a)) ||
	    (conn_fd = accept(lfd, NULL, NULL)) < 0) {
		perror("loopback TCP");
		return 1;
	}
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_t t;
	pthread_create(&t, NULL, sink, NULL);
	char *buf = calloc(1, (size_t)size);
	for (long i = 0; i < count; i++) {
		for (long off = 0; off < size;) {
			ssize_t n = write(cfd, buf + off, (size_t)(size - off));
			if (n <= 0) {
				perror("write");
				return 1;
			}
			off += n;
		}
	}
	shutdown(cfd, SHUT_WR);
	pthread_join(t, NULL);
	return 0;
}
