/* `vmon snapshot create` (PUT /snapshot/create through vmon-ctl) and `vmon snapshot merge`. */
#include "vmm/snapshot_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/exit_status.h"
#include "snapshot/memfile.h"
#include "util/util.h"

static void snapshot_usage(FILE *f)
{
	fprintf(f, "usage: vmon snapshot create --api-sock PATH --state FILE --mem FILE [--diff]\n"
		   "       vmon snapshot merge BASE_MEM DIFF_MEM   (apply a Diff memory file onto its base)\n"
		   "create pauses nothing itself: pause the VM first (vmon ctl --api-sock PATH pause).\n");
}

/* A JSON string of s into out (quotes and backslashes escaped; control bytes refused). */
static int json_string(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (out[o++] = '"'; *s && o + 3 < size; s++) {
		if ((unsigned char)*s < 0x20)
			return -1;
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	if (*s || o + 2 > size)
		return -1;
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

static int snapshot_create_cli(int argc, char **argv)
{
	const char *sock = NULL, *state = NULL, *mem = NULL;
	bool diff = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--diff"))
			diff = true;
		else if (i + 1 < argc && !strcmp(argv[i], "--api-sock"))
			sock = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--state"))
			state = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--mem"))
			mem = argv[++i];
		else
			return snapshot_usage(stderr), VMON_EXIT_USAGE;
	}
	if (!sock || !state || !mem)
		return snapshot_usage(stderr), VMON_EXIT_USAGE;
	char qs[8192], qm[8192], body[16448];
	if (json_string(qs, sizeof(qs), state) || json_string(qm, sizeof(qm), mem)) {
		fprintf(stderr, "vmon: snapshot paths must be printable and under 4 KiB\n");
		return VMON_EXIT_USAGE;
	}
	snprintf(body, sizeof(body), "{\"snapshot_type\": \"%s\", \"snapshot_path\": %s, \"mem_file_path\": %s}",
		 diff ? "Diff" : "Full", qs, qm);
	char *args[] = { NULL, "--api-sock", (char *)sock, "put", "/snapshot/create", body, NULL };
	exec_sibling("vmon-ctl", args);
	return VMON_EXIT_SETUP;
}

int snapshot_main(int argc, char **argv)
{
	char err[512];

	if (argc >= 2 && !strcmp(argv[1], "create"))
		return snapshot_create_cli(argc - 1, argv + 1);
	if (argc == 4 && !strcmp(argv[1], "merge")) {
		if (memfile_merge(argv[2], argv[3], err, sizeof(err))) {
			fprintf(stderr, "vmon: %s\n", err);
			return VMON_EXIT_SETUP;
		}
		return 0;
	}
	snapshot_usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
	return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : VMON_EXIT_USAGE;
}
