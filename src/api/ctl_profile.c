/*
 * vmon ctl profile: run a guest profile through the API (PUT /profile, then GET /profile
 * until it has ended), symbolise the samples against the guest kernel's vmlinux or a
 * kallsyms listing, and write top.txt, stacks.folded and flamegraph.svg; the top ten
 * functions go to stdout too.
 */
#include "api/ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile/flamegraph.h"
#include "profile/report.h"

#define POLL_US 200000
/* How long past its end a profile may take to be reported before the client gives up. */
#define GRACE_S 30

struct profile_opts {
	uint64_t hz, seconds;
	const char *vmlinux, *kallsyms, *out;
};

static int usage(void)
{
	fprintf(stderr, "usage: vmon ctl --api-sock PATH profile --seconds N [--hz HZ] "
			"[--vmlinux PATH | --kallsyms FILE] [--out DIR]\n");
	return 2;
}

static bool number(const char *s, uint64_t *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && !*end;
}

static int parse(int argc, char **argv, struct profile_opts *o)
{
	*o = (struct profile_opts){ .hz = PROFILE_DEFAULT_HZ, .out = "." };
	bool have_seconds = false;

	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--seconds") && number(v, &o->seconds))
			have_seconds = true;
		else if (!strcmp(argv[i], "--hz") && number(v, &o->hz))
			;
		else if (!strcmp(argv[i], "--vmlinux") && v)
			o->vmlinux = v;
		else if (!strcmp(argv[i], "--kallsyms") && v)
			o->kallsyms = v;
		else if (!strcmp(argv[i], "--out") && v)
			o->out = v;
		else {
			fprintf(stderr, "vmon ctl profile: cannot understand '%s%s%s'\n", argv[i],
				v ? " " : "", v ? v : "");
			return usage();
		}
		i++;
	}
	char err[256];
	if (!have_seconds) {
		fprintf(stderr, "vmon ctl profile: --seconds N is needed\n");
		return usage();
	}
	if (o->vmlinux && o->kallsyms) {
		fprintf(stderr, "vmon ctl profile: give --vmlinux or --kallsyms, not both\n");
		return 2;
	}
	if (profile_check_request(o->hz, o->seconds, err, sizeof(err))) {
		fprintf(stderr, "vmon ctl profile: %s\n", err);
		return 2;
	}
	return 0;
}

/* The output directory, made if missing; 0, or 2 after saying why. */
static int out_dir(const char *dir)
{
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "vmon ctl profile: cannot make the output directory '%s': %s\n", dir,
			strerror(errno));
		return 2;
	}
	if (access(dir, W_OK | X_OK)) {
		fprintf(stderr, "vmon ctl profile: cannot write into '%s': %s\n", dir, strerror(errno));
		return 2;
	}
	return 0;
}

/* GET /profile until it is no longer running; 0 with its JSON in *j. */
static int wait_done(const char *sock, const struct profile_opts *o, json_t **j)
{
	for (uint64_t waited = 0; waited <= (o->seconds + GRACE_S) * 1000000; waited += POLL_US) {
		usleep(waited ? POLL_US : (useconds_t)MIN(o->seconds * 1000000, 1000000));
		int ret = ctl_fetch_q(sock, "GET", "/profile", NULL, j, true);
		if (ret == 2) {
			fprintf(stderr, "vmon ctl profile: the VMM has gone before the profile ended\n");
			return 1;
		}
		if (ret)
			return 1;
		const char *st = json_string_value(json_object_get(*j, "state"));
		if (st && strcmp(st, "running"))
			return 0;
		json_decref(*j);
		*j = NULL;
	}
	fprintf(stderr, "vmon ctl profile: the profile did not end within %d s of its time\n", GRACE_S);
	return 1;
}

static uint64_t jint(const json_t *o, const char *k)
{
	return (uint64_t)json_integer_value(json_object_get(o, k));
}

/* Count every sample of the answer; 0 or 1 after saying why. */
static int fill_report(const json_t *j, struct report *r, const struct symtab *syms)
{
	const json_t *samples = json_object_get(j, "samples"), *v;
	struct profile_sample s;
	size_t i;

	if (report_init(r, syms, (int)jint(j, "vcpus")) || !json_is_array(samples)) {
		fprintf(stderr, "vmon ctl profile: the VMM's answer holds no samples\n");
		return 1;
	}
	json_array_foreach(samples, i, v) {
		const char *line = json_string_value(v);
		if (!line || profile_sample_parse(line, &s) || report_add(r, &s)) {
			fprintf(stderr, "vmon ctl profile: sample %zu is not one: '%.80s'\n", i, line ? line : "");
			return 1;
		}
	}
	return 0;
}

/* The title line: what was profiled, how, and what went missing. */
static void title(const json_t *j, const struct profile_opts *o, char *buf, size_t len)
{
	uint64_t dropped = 0, missed = 0, failed = 0, ticks = jint(j, "ticks");
	const json_t *per = json_object_get(j, "per_vcpu"), *v;
	size_t i;
	int n;

	json_array_foreach(per, i, v) {
		dropped += jint(v, "dropped");
		missed += jint(v, "missed");
		failed += jint(v, "failed");
	}
	n = snprintf(buf, len, "vmon profile: %" PRIu64 " s at %" PRIu64 " Hz, %" PRIu64 " vCPU%s, "
		     "kernel symbols from %s", o->seconds, o->hz, jint(j, "vcpus"),
		     jint(j, "vcpus") == 1 ? "" : "s", o->vmlinux ? o->vmlinux : o->kallsyms ? o->kallsyms :
		     "nowhere (no --vmlinux or --kallsyms: kernel functions show as [unknown])");
	if (n > 0 && (size_t)n < len && jint(j, "paused_ticks"))
		n += snprintf(buf + n, len - (size_t)n, "; paused for %" PRIu64 " of %" PRIu64 " ticks",
			      jint(j, "paused_ticks"), ticks + jint(j, "paused_ticks"));
	if (n > 0 && (size_t)n < len && (dropped || missed || failed))
		snprintf(buf + n, len - (size_t)n, "; not sampled: %" PRIu64 " (buffer full) + %" PRIu64
			 " (vCPU still busy with the last request) + %" PRIu64 " (registers unreadable)",
			 dropped, missed, failed);
}

static FILE *out_open(const char *dir, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "vmon ctl profile: cannot write '%s': %s\n", path, strerror(errno));
	return f;
}

/* top.txt, stacks.folded, flamegraph.svg; 0 or 1. */
static int write_outputs(const struct report *r, const char *dir, const char *head)
{
	char path[PATH_MAX];
	size_t n;
	int ret = 1;
	FILE *f;

	if ((f = out_open(dir, "top.txt", path, sizeof(path)))) {
		ret = report_write_top(r, f, head, 100, 20);
		ret = fclose(f) || ret;
	}
	if (!ret && (f = out_open(dir, "stacks.folded", path, sizeof(path)))) {
		ret = report_write_folded(r, f);
		ret = fclose(f) || ret;
	} else {
		ret = 1;
	}
	struct report_count **stacks = report_sorted(&r->stacks, &n, true);
	if (!ret && stacks && (f = out_open(dir, "flamegraph.svg", path, sizeof(path)))) {
		ret = flamegraph_write(f, stacks, n, head);
		ret = fclose(f) || ret;
	} else {
		ret = 1;
	}
	free(stacks);
	if (ret)
		fprintf(stderr, "vmon ctl profile: writing the reports into '%s' failed\n", dir);
	return ret ? 1 : 0;
}

static int load_symbols(const struct profile_opts *o, struct symtab *syms)
{
	char err[512];
	int ret = 0;

	memset(syms, 0, sizeof(*syms));
	if (o->vmlinux)
		ret = symtab_load_elf(syms, o->vmlinux, err, sizeof(err));
	else if (o->kallsyms)
		ret = symtab_load_kallsyms(syms, o->kallsyms, NULL, o->kallsyms, err, sizeof(err));
	if (ret)
		fprintf(stderr, "vmon ctl profile: %s\n", err);
	return ret ? 2 : 0;
}

int ctl_profile(const char *sock, int argc, char **argv)
{
	struct profile_opts o;
	struct symtab syms;
	struct report r = { 0 };
	json_t *j = NULL;
	char body[128], head[768];
	int ret;

	if ((ret = parse(argc, argv, &o)) || (ret = out_dir(o.out)) || (ret = load_symbols(&o, &syms)))
		return ret;
	snprintf(body, sizeof(body), "{\"hz\": %" PRIu64 ", \"seconds\": %" PRIu64 "}", o.hz, o.seconds);
	if ((ret = ctl_fetch_q(sock, "PUT", "/profile", body, &j, false)))
		goto out;
	json_decref(j);
	fprintf(stderr, "vmon ctl profile: sampling every vCPU at %" PRIu64 " Hz for %" PRIu64 " s...\n",
		o.hz, o.seconds);
	if ((ret = wait_done(sock, &o, &j)) || (ret = fill_report(j, &r, &syms)))
		goto out;
	title(j, &o, head, sizeof(head));
	if ((ret = write_outputs(&r, o.out, head)))
		goto out;
	if (report_write_top(&r, stdout, head, 10, 0))
		ret = 1;
	printf("\nwritten: %s/top.txt, %s/stacks.folded, %s/flamegraph.svg\n", o.out, o.out, o.out);
out:
	json_decref(j);
	report_free(&r);
	symtab_free(&syms);
	return ret;
}
