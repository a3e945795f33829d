/* vmon-ctl (`vmon ctl`): the API's command-line client (libcurl over the Unix socket). */
#include "api/ctl.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/top.h"

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

int ctl_fetch_q(const char *sock, const char *method, const char *path, const char *body,
		       json_t **reply, bool quiet)
{
	struct buf out = { 0 };
	char url[512];
	long status = 0;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = curl_easy_init();
	int ret = 1;

	*reply = NULL;
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
		if (!quiet)
			fprintf(stderr, "vmon ctl: %s: %s\n", sock, curl_easy_strerror(rc));
		ret = 2;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	json_t *j = out.len ? json_loads(out.data, 0, NULL) : NULL;
	if (status >= 200 && status < 300) {
		*reply = j;
		ret = 0;
	} else {
		const char *fault = json_string_value(json_object_get(j, "fault_message"));
		fprintf(stderr, "vmon ctl: %s %s: %ld %s\n", method, path, status,
			fault ? fault : out.data ? out.data : "");
		json_decref(j);
	}
out:
	free(out.data);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

static int ctl_fetch(const char *sock, const char *method, const char *path, const char *body,
		     json_t **reply)
{
	return ctl_fetch_q(sock, method, path, body, reply, false);
}

/* One request, its answer printed. */
static int ctl_request(const char *sock, const char *method, const char *path, const char *body)
{
	json_t *j;
	int ret = ctl_fetch(sock, method, path, body, &j);

	if (!ret && j) {
		char *s = json_dumps(j, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	}
	json_decref(j);
	return ret;
}

static uint64_t jint(json_t *o, const char *k)
{
	return (uint64_t)json_integer_value(json_object_get(o, k));
}

/* Follow GET /migration until it ends: a line in place on a terminal, plain lines otherwise. */
static int ctl_follow_migration(const char *sock)
{
	bool tty = isatty(STDOUT_FILENO);
	uint64_t last_pass = UINT64_MAX;

	for (;;) {
		json_t *j;
		int ret = ctl_fetch_q(sock, "GET", "/migration", NULL, &j, last_pass != UINT64_MAX);
		/* The source stops once the destination runs the VM: its socket goes with it. */
		if (ret == 2 && last_pass != UINT64_MAX) {
			printf("%smigration: the source VMM has exited (after an acknowledged migration "
			       "it always does; see the destination)\n", tty ? "\n" : "");
			return 0;
		}
		if (ret)
			return 1;
		const char *st = json_string_value(json_object_get(j, "state"));
		uint64_t total = jint(j, "ram_total"), sent = jint(j, "ram_sent"), pass = jint(j, "pass");
		uint64_t throttle = jint(j, "throttle_percent");
		char thr[48] = "";
		if (throttle)
			snprintf(thr, sizeof(thr), ", vCPUs throttled %llu%%", (unsigned long long)throttle);
		if (st && !strcmp(st, "active") && (tty || pass != last_pass))
			printf("%smigration: pass %llu, %llu%% of RAM sent, %.1f MB/s, dirtying %.1f MB/s%s%s",
			       tty ? "\r" : "", (unsigned long long)pass,
			       (unsigned long long)(total ? sent * 100 / total : 0), jint(j, "bandwidth") / 1e6,
			       jint(j, "dirty_rate") / 1e6, thr, tty ? "   " : "\n");
		fflush(stdout);
		last_pass = pass;
		if (!st || strcmp(st, "active")) {
			int ok = st && !strcmp(st, "completed");
			printf("%smigration %s%s%s, downtime %llu ms\n", tty ? "\n" : "", st ? st : "?",
			       ok ? "" : ": ", ok ? "" : json_string_value(json_object_get(j, "error")) ?: "",
			       (unsigned long long)jint(j, "downtime_ms"));
			json_decref(j);
			return ok ? 0 : 1;
		}
		json_decref(j);
		usleep(200 * 1000);
	}
}

/* vmon ctl migrate --to URL [--downtime-limit MS] [--max-bandwidth MBPS] [--local] */
static int ctl_migrate(const char *sock, int argc, char **argv)
{
	const char *to = NULL;
	unsigned long long downtime = 300, bw = 0;
	bool local = false;
	char body[768];

	for (int i = 0; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--to"))
			to = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--downtime-limit"))
			downtime = strtoull(argv[++i], NULL, 10);
		else if (i + 1 < argc && !strcmp(argv[i], "--max-bandwidth"))
			bw = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--local"))
			local = true;
		else
			to = NULL, argc = 0;
	}
	if (!to || strlen(to) > 256 || strpbrk(to, "\"\\")) {
		fprintf(stderr, "usage: vmon ctl --api-sock PATH migrate --to tcp:ADDR:PORT|unix:PATH "
				"[--downtime-limit MS] [--max-bandwidth MBPS] [--local]\n");
		return 2;
	}
	snprintf(body, sizeof(body), "{\"url\": \"%s\", \"downtime_limit_ms\": %llu, "
		 "\"max_bandwidth_mbps\": %llu, \"local\": %s}", to, downtime, bw,
		 local ? "true" : "false");
	json_t *j;
	if (ctl_fetch(sock, "PUT", "/migration/send", body, &j))
		return 1;
	json_decref(j);
	return ctl_follow_migration(sock);
}

/* vmon ctl cpu [--weight W] [--max Q/P|max] [--vcpu-weight I=W,...]: PATCH /vmon/cpu
 * with what is given (the server checks the values), or without options show it. */
static int ctl_cpu(const char *sock, int argc, char **argv)
{
	static const char *const opts[][2] = {
		{ "--weight", "weight" }, { "--max", "max" }, { "--vcpu-weight", "vcpu_weights" },
	};
	json_t *body = json_object();
	int ret = 0;

	for (int i = 0; body && i < argc; i++) {
		size_t k = 0;
		while (k < 3 && strcmp(argv[i], opts[k][0]))
			k++;
		if (k == 3 || i + 1 == argc) {
			fprintf(stderr, "usage: vmon ctl --api-sock PATH cpu [--weight W] "
					"[--max QUOTA/PERIOD|max] [--vcpu-weight I=W[,I=W]...]\n");
			json_decref(body);
			return 2;
		}
		const char *v = argv[++i];
		char *end;
		long long n = strtoll(v, &end, 10);
		/* A weight goes as a number when it is one; anything else the server refuses. */
		json_object_set_new(body, opts[k][1], k == 0 && *v && !*end && n >= 0 ? json_integer(n)
									 : json_string(v));
	}
	if (!body)
		return 1;
	if (!argc) {
		ret = ctl_request(sock, "GET", "/vmon/cpu", NULL);
	} else {
		char *s = json_dumps(body, JSON_COMPACT);
		ret = s ? ctl_request(sock, "PATCH", "/vmon/cpu", s) : 1;
		free(s);
	}
	json_decref(body);
	return ret;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* vmon ctl top [--interval S] [--count N]: the live exit view (api/top.h), redrawn in place
 * on a terminal, one block per interval otherwise. Until the VMM goes or N refreshes. */
static int ctl_top(const char *sock, int argc, char **argv)
{
	double interval = 1;
	long count = -1;
	bool tty = isatty(STDOUT_FILENO);
	static char view[16384];

	for (int i = 0; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--interval"))
			interval = atof(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--count"))
			count = atol(argv[++i]);
		else
			interval = 0;
	}
	if (interval < 0.1 || interval > 3600) {
		fprintf(stderr, "usage: vmon ctl --api-sock PATH top [--interval SECONDS] [--count N]\n");
		return 2;
	}
	json_t *before, *after;
	if (ctl_fetch_q(sock, "GET", "/metrics", NULL, &before, false))
		return 1;
	double t0 = mono_s();
	for (long n = 0; count < 0 || n < count; n++) {
		usleep((useconds_t)(interval * 1e6));
		int ret = ctl_fetch_q(sock, "GET", "/metrics", NULL, &after, n > 0);
		if (ret) {
			json_decref(before);
			if (ret == 2 && n > 0) {
				printf("vmon top: the VMM has gone\n");
				return 0;
			}
			return 1;
		}
		double t1 = mono_s();
		top_render(before, after, t1 - t0, view, sizeof(view));
		/* In place on a terminal: home, the view, clear what the last one left below. */
		printf("%s%s", tty ? "\033[H\033[2J" : n ? "\n" : "", view);
		fflush(stdout);
		json_decref(before);
		before = after, t0 = t1;
	}
	json_decref(before);
	return 0;
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
		"  migrate --to URL [--downtime-limit MS] [--max-bandwidth MBPS] [--local]\n"
		"                  live-migrate the VM (tcp:ADDR:PORT or unix:PATH), following it;\n"
		"                  --local: to a vmon on this host, passing RAM instead of copying it\n"
		"  top [--interval S] [--count N]\n"
		"                  live view: exits/s by reason with handling-time percentiles,\n"
		"                  the busiest port and MMIO ranges, devices, interrupts\n"
		"  cpu [--weight W] [--max QUOTA/PERIOD|max] [--vcpu-weight I=W[,I=W]...]\n"
		"                  change the VM's CPU weight, cap and per-vCPU weights, also\n"
		"                  while it runs (PATCH /vmon/cpu); without options show them\n"
		"  profile --seconds N [--hz HZ] [--vmlinux PATH | --kallsyms FILE] [--out DIR]\n"
		"                  sample every vCPU's RIP and CPL (and the guest kernel's stack by\n"
		"                  frame pointers; user mode is leaf only) at HZ (default 1000, at\n"
		"                  most 5000) for N s (at most 300); write top.txt, stacks.folded and\n"
		"                  flamegraph.svg into DIR (default: .), the top 10 to stdout\n"
		"  ctrl-alt-del    press Ctrl+Alt+Del on the guest's keyboard\n"
		"  powerdown       press the ACPI power button (acpid in the guest powers off;\n"
		"                  a guest suspended to RAM wakes)\n"
		"  wake            wake a guest suspended to RAM (S3)\n"
		"  stop [--timeout S] [--ctrl-alt-del]\n"
		"                  press the power button (or Ctrl+Alt+Del) and wait up to S\n"
		"                  seconds (default 30) for the VMM to exit: 0 once it has, 1 if\n"
		"                  it still runs (what a service manager's stop command needs)\n"
		"  get PATH | put PATH JSON | patch PATH JSON   any request\n");
}

static int ctl_action(const char *sock, const char *action)
{
	char body[96];

	snprintf(body, sizeof(body), "{\"action_type\": \"%s\"}", action);
	return ctl_request(sock, "PUT", "/actions", body);
}

/*
 * stop: ask the guest to shut down and wait for the VMM to go. The VMM is gone when its
 * socket stops answering (vmon removes it on exit); a VMM that still answers after the
 * timeout is left to the caller (systemd then sends SIGTERM, which vmon also obeys).
 */
static int ctl_stop(const char *sock, int argc, char **argv)
{
	const char *action = "PowerButton";
	long timeout = 30;
	json_t *j;

	for (int k = 0; k < argc; k++) {
		char *end;
		if (!strcmp(argv[k], "--ctrl-alt-del")) {
			action = "SendCtrlAltDel";
		} else if (!strcmp(argv[k], "--timeout") && k + 1 < argc) {
			timeout = strtol(argv[++k], &end, 10);
			if (*end || end == argv[k] || timeout < 0 || timeout > 86400) {
				fprintf(stderr, "vmon ctl stop: --timeout '%s': use 0 to 86400 seconds\n", argv[k]);
				return 2;
			}
		} else {
			ctl_usage(stderr);
			return 2;
		}
	}
	char body[96];
	snprintf(body, sizeof(body), "{\"action_type\": \"%s\"}", action);
	int ret = ctl_fetch(sock, "PUT", "/actions", body, &j);
	json_decref(j);
	if (ret)
		return ret == 2 ? 0 : 1;	/* 2: nothing answers, so nothing runs */
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ctl_fetch_q(sock, "GET", "/", NULL, &j, true) == 2)
			return 0;
		json_decref(j);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000000000LL + (now.tv_nsec - t0.tv_nsec) >= timeout * 1000000000LL)
			break;
		usleep(100 * 1000);
	}
	fprintf(stderr, "vmon ctl stop: %s still runs %ld s after %s\n", sock, timeout,
		strcmp(action, "PowerButton") ? "Ctrl+Alt+Del" : "the power button");
	return 1;
}

int ctl_main(int argc, char **argv)
{
	const char *sock = NULL;
	int i = 1;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
		ctl_usage(stdout);
		return 0;
	}
	if (i + 1 < argc && !strcmp(argv[i], "--api-sock"))
		sock = argv[i + 1], i += 2;
	/* Also after the command (vmon ctl profile --api-sock PATH ...): taken out of its words. */
	for (int k = i + 1; !sock && k + 1 < argc; k++) {
		if (strcmp(argv[k], "--api-sock"))
			continue;
		sock = argv[k + 1];
		memmove(&argv[k], &argv[k + 2], (size_t)(argc - k - 2) * sizeof(*argv));
		argc -= 2;
	}
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
	if (!strcmp(cmd, "powerdown") && !rest)
		return ctl_action(sock, "PowerButton");
	if (!strcmp(cmd, "wake") && !rest)
		return ctl_action(sock, "Wake");
	if ((!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) && !rest)
		return ctl_request(sock, "PATCH", "/vm",
				   cmd[0] == 'p' ? "{\"state\": \"Paused\"}" : "{\"state\": \"Resumed\"}");
	if (!strcmp(cmd, "migrate"))
		return ctl_migrate(sock, rest, argv + i + 1);
	if (!strcmp(cmd, "top"))
		return ctl_top(sock, rest, argv + i + 1);
	if (!strcmp(cmd, "cpu"))
		return ctl_cpu(sock, rest, argv + i + 1);
	if (!strcmp(cmd, "stop"))
		return ctl_stop(sock, rest, argv + i + 1);
	if (!strcmp(cmd, "profile"))
		return ctl_profile(sock, rest, argv + i + 1);
	if (!strcmp(cmd, "get") && rest == 1)
		return ctl_request(sock, "GET", argv[i + 1], NULL);
	if ((!strcmp(cmd, "put") || !strcmp(cmd, "patch")) && rest == 2)
		return ctl_request(sock, cmd[1] == 'u' ? "PUT" : "PATCH", argv[i + 1], argv[i + 2]);
	ctl_usage(stderr);
	return 2;
}
