/*
 * The API's transport: libmicrohttpd on a Unix socket vmon creates, one internal thread,
 * request bodies collected up to API_MAX_BODY, replies as JSON.
 */
#include "api/api.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "security/seccomp.h"
#include "util/log.h"

#define API_MAX_CONNECTIONS 16
#define API_CONNECTION_TIMEOUT_S 30

struct api_server {
	struct vmm *vmm;
	struct MHD_Daemon *daemon;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* One request in progress: its body so far. */
struct api_conn {
	char body[API_MAX_BODY];
	size_t len;
	size_t total;   /* bytes the client sent, also beyond the limit */
};

static enum MHD_Result api_send(struct MHD_Connection *c, const struct api_reply *r)
{
	char *text = NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->status >= 400) {
		json_t *o = json_pack("{s:s}", "fault_message", r->fault);
		text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	} else if (r->body) {
		text = json_dumps(r->body, JSON_COMPACT);
	}
	resp = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (char *)"",
					       MHD_RESPMEM_MUST_COPY);
	free(text);
	if (!resp)
		return MHD_NO;
	if (r->status != 204)
		MHD_add_response_header(resp, "Content-Type", "application/json");
	if (r->deprecation)
		MHD_add_response_header(resp, "Deprecation", "true");
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result api_request(void *cls, struct MHD_Connection *c, const char *url,
				   const char *method, const char *version, const char *upload,
				   size_t *upload_size, void **con_cls)
{
	struct api_server *s = cls;
	struct api_conn *conn = *con_cls;
	struct api_reply r;

	if (!conn) {
		conn = calloc(1, sizeof(*conn));
		if (!conn)
			return MHD_NO;
		*con_cls = conn;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t room = sizeof(conn->body) - conn->len, n = MIN(room, *upload_size);
		memcpy(conn->body + conn->len, upload, n);
		conn->len += n;
		conn->total += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (conn->total > API_MAX_BODY) {
		memset(&r, 0, sizeof(r));
		api_bad(&r, "Request payload with size %zu is larger than the limit of %d allowed by "
			    "server.", conn->total, API_MAX_BODY);
	} else {
		api_dispatch(s->vmm, method, url, conn->len ? conn->body : NULL, conn->len, &r);
	}
	if (r.status >= 400)
		pr_info("API: %s %s -> %d %s", method, url, r.status, r.fault);
	else
		pr_debug("API: %s %s -> %d", method, url, r.status);
	enum MHD_Result ret = api_send(c, &r);
	json_decref(r.body);
	return ret;
}

static void api_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

static void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	if (log_threshold < LOG_DEBUG)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	pr_debug("API (libmicrohttpd): %s", buf);
}

static int api_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "API socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 16)) {
		int e = errno;
		snprintf(err, errlen, "cannot listen on the API socket '%s': %s%s", path, strerror(e),
			 e == EADDRINUSE ? " (remove the stale socket first)" : "");
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
}

static void *api_daemon_thread(void *arg)
{
	struct api_server *s = arg;

	seccomp_thread_start(SECCOMP_API, "vmon-api");
	s->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		api_request, s, MHD_OPTION_LISTEN_SOCKET, s->fd, MHD_OPTION_NOTIFY_COMPLETED,
		api_completed, s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONNECTION_TIMEOUT_S,
		MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, NULL, MHD_OPTION_END);
	return NULL;
}

struct api_server *api_server_start(struct vmm *vmm, const char *path, char *err, size_t errlen)
{
	struct api_server *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->vmm = vmm;
	s->fd = api_listen(path, err, errlen);
	if (s->fd < 0) {
		free(s);
		return NULL;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	/*
	 * The daemon is started from a short-lived thread that first installs the API's seccomp
	 * filter: libmicrohttpd's own thread inherits it, and the main thread stays unfiltered
	 * until the VM runs.
	 */
	pthread_t t;
	if (pthread_create(&t, NULL, api_daemon_thread, s) == 0)
		pthread_join(t, NULL);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot start the API server on '%s'", path);
		close(s->fd);
		unlink(path);
		free(s);
		return NULL;
	}
	pr_info("API server listening on %s", path);
	return s;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon); /* also closes the listening socket */
	unlink(s->path);
	free(s);
}
