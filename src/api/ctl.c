/* vmon-ctl (`vmon ctl`): the API's command-line client (libcurl over the Unix socket). */
#include "api/ctl.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char *data;
	size_t len;
};

static size_t ctl_collect(char *p, size_t size, size_t n, void *opaque)
{
	struct buf *b = opaque;
	size_t add = size * n;
	char *d = realloc(b->data, b->len + add + 1);

	if (!d)
		return 0;
	memcpy(d + b->len, p, add);
	b->len += add;
	d[b->len] = '\0';
	b->data = d;
	return add;
}

/* One request; prints the body (pretty JSON) or the fault. Returns the exit status. */
static int ctl_request(const char *sock, const char *method, const char *path, const char *body)
{
	struct buf out = { 0 };
	char url[512];
	long status = 0;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = curl_easy_init();
	int ret = 1;

	if (!c)
		return 1;
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "vmon ctl: %s: %s\n", sock, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	json_t *j = out.len ? json_loads(out.data, 0, NULL) : NULL;
	if (status >= 200 && status < 300) {
		if (j) {
			char *s = json_dumps(j, JSON_INDENT(2));
			if (s)
				puts(s);
			free(s);
		}
		ret = 0;
	} else {
		const char *fault = json_string_value(json_object_get(j, "fault_message"));
		fprintf(stderr, "vmon ctl: %s %s: %ld %s\n", method, path, status,
			fault ? fault : out.data ? out.data : "");
	}
	json_decref(j);
out:
	free(out.data);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

static void ctl_usage(FILE *f)
{
	fprintf(f,
		"usage: vmon ctl --api-sock PATH COMMAND\n"
		"\n"
		"  info            instance id, state and version (GET /)\n"
		"  config          the whole VM configuration (GET /vm/config)\n"
		"  machine         vCPUs and memory (GET /machine-config)\n"
		"  metrics         the current metrics line (GET /metrics)\n"
		"  flush-metrics   write a line to the metrics sink now\n"
		"  start           InstanceStart\n"
		"  pause, resume   stop and restart every vCPU\n"
		"  ctrl-alt-del    press Ctrl+Alt+Del on the guest's keyboard\n"
		"  get PATH | put PATH JSON | patch PATH JSON   any request\n");
}

static int ctl_action(const char *sock, const char *action)
{
	char body[96];

	snprintf(body, sizeof(body), "{\"action_type\": \"%s\"}", action);
	return ctl_request(sock, "PUT", "/actions", body);
}

int ctl_main(int argc, char **argv)
{
	const char *sock = NULL;
	int i = 1;

	if (i + 1 < argc && !strcmp(argv[i], "--api-sock"))
		sock = argv[i + 1], i += 2;
	if (!sock || i >= argc) {
		ctl_usage(stderr);
		return 2;
	}
	const char *cmd = argv[i];
	int rest = argc - i - 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!strcmp(cmd, "info") && !rest)
		return ctl_request(sock, "GET", "/", NULL);
	if (!strcmp(cmd, "config") && !rest)
		return ctl_request(sock, "GET", "/vm/config", NULL);
	if (!strcmp(cmd, "machine") && !rest)
		return ctl_request(sock, "GET", "/machine-config", NULL);
	if (!strcmp(cmd, "metrics") && !rest)
		return ctl_request(sock, "GET", "/metrics", NULL);
	if (!strcmp(cmd, "flush-metrics") && !rest)
		return ctl_action(sock, "FlushMetrics");
	if (!strcmp(cmd, "start") && !rest)
		return ctl_action(sock, "InstanceStart");
	if (!strcmp(cmd, "ctrl-alt-del") && !rest)
		return ctl_action(sock, "SendCtrlAltDel");
	if ((!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) && !rest)
		return ctl_request(sock, "PATCH", "/vm",
				   cmd[0] == 'p' ? "{\"state\": \"Paused\"}" : "{\"state\": \"Resumed\"}");
	if (!strcmp(cmd, "get") && rest == 1)
		return ctl_request(sock, "GET", argv[i + 1], NULL);
	if ((!strcmp(cmd, "put") || !strcmp(cmd, "patch")) && rest == 2)
		return ctl_request(sock, cmd[1] == 'u' ? "PUT" : "PATCH", argv[i + 1], argv[i + 2]);
	ctl_usage(stderr);
	return 2;
}
