/*
 * The management API: Firecracker's REST API (../shared/firecracker-api/firecracker.yaml)
 * as HTTP/1.1 + JSON on a Unix socket. server.c is the transport (libmicrohttpd), routes.c
 * maps method and path to a resource handler, one file per resource holds the handlers,
 * json.c checks request bodies strictly (unknown fields, types, required fields).
 * Handlers run on the API thread, one request at a time, with the vmm lock held.
 */
#ifndef VMON_API_H
#define VMON_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "vmm/vmm.h"

/* Firecracker's default limit on request bodies (--http-api-max-payload-size). */
#define API_MAX_BODY 51200

enum api_method { API_GET, API_PUT, API_PATCH };

struct api_reply {
	int status;          /* 200, 204, 400, ... */
	json_t *body;        /* 200: the response object (owned) */
	char fault[1024];    /* 4xx/5xx: the fault_message */
	const char *deprecation; /* a deprecated field was used: logged, and a Deprecation header */
};

/* A resource handler. `id` is the path's last segment for /drives/{id} and the like. */
typedef void (*api_handler)(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
			    struct api_reply *r);

/* Set a 400 reply with a printf-style fault_message. */
void api_fault(struct api_reply *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define api_bad(r, ...) api_fault((r), 400, __VA_ARGS__)
void api_no_content(struct api_reply *r);
void api_ok(struct api_reply *r, json_t *body);
/* The request used a deprecated field (msg names it, as Firecracker's warning does). */
void api_deprecated(struct api_reply *r, const char *msg);

/* The common Firecracker answers. */
#define API_PREBOOT_ONLY "The requested operation is not supported after starting the microVM."
#define API_POSTBOOT_ONLY "The requested operation is not supported before starting the microVM."

/*
 * Route and run one request; body is NULL when the request had none. The reply says how it
 * went. Takes the vmm lock.
 */
void api_dispatch(struct vmm *vmm, const char *method, const char *path, const char *body,
		  size_t body_len, struct api_reply *r);

/* --- strict body checking (json.c) --- */
enum api_type { T_STRING, T_BOOL, T_UINT, T_OBJECT, T_ARRAY, T_ANY };

struct api_field {
	const char *name;
	enum api_type type;
	bool required;
};

/*
 * Check that `obj` is an object whose fields are all in `fields` with the right types and
 * that every required one is there. False with a Firecracker-style fault in r otherwise.
 */
bool api_check(const json_t *obj, const struct api_field *fields, struct api_reply *r);

/* Field accessors after api_check: absent fields give the default. */
const char *api_str(const json_t *obj, const char *name, const char *def);
bool api_bool(const json_t *obj, const char *name, bool def);
uint64_t api_uint(const json_t *obj, const char *name, uint64_t def);

/* Copy a string field into a fixed buffer; false (and a fault) if it does not fit. */
bool api_copy(char *dst, size_t len, const json_t *obj, const char *name, struct api_reply *r);

/* The same checks, into *dst as a malloc'd copy ("" or absent: NULL); *dst is replaced. */
bool api_dup(char **dst, size_t len, const json_t *obj, const char *name, struct api_reply *r);

/* The {id} of the path equals the body's `field`, and is a usable id. */
bool api_same_id(const char *path_id, const json_t *body, const char *field, struct api_reply *r);

/* A RateLimiter object (bandwidth/ops token buckets); NULL or null leaves it unset. */
bool api_rate_limiter(const json_t *v, const char *what, struct rate_limiter_spec *out,
		      struct api_reply *r);
json_t *api_rate_limiter_json(const struct rate_limiter_spec *rl);
/* One TokenBucket object (size, one_time_burst, refill_time); NULL or null leaves it unset. */
bool api_token_bucket(const json_t *v, struct token_bucket_spec *b, struct api_reply *r);

/* --- the resources (one file each) --- */
void api_instance_info(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_version(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_boot_source(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_machine_config(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_drives(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_network(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_entropy(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_balloon(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_balloon_stats(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_vsock(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_serial(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_actions(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_vm_state(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_vm_config(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_logger(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_metrics(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_snapshot_create(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_snapshot_load(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_migration(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_gdb(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_vmon_cpu(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_pmem(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_hotplug_memory(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_cpu_config(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_profile(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_vmon_shm(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_mmds(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);
void api_mmds_config(struct vmm *, enum api_method, const char *, json_t *, struct api_reply *);

/* The resources' views for GET /vm/config (and the config file's format). */
json_t *api_boot_source_json(const struct vm_config *c);
json_t *api_machine_config_json(const struct vm_config *c);
json_t *api_drives_json(const struct vm_config *c);
json_t *api_balloon_json(const struct vm_config *c);
json_t *api_vsock_json(const struct vm_config *c);
json_t *api_pmem_json(const struct vm_config *c);
json_t *api_network_json(const struct vm_config *c);
json_t *api_mmds_config_json(const struct vm_config *c);

/* --- the transport (server.c) --- */
struct api_server;

/* Listen on a new Unix socket at path (which must not exist) and serve on a thread. */
struct api_server *api_server_start(struct vmm *vmm, const char *path, char *err, size_t errlen);
void api_server_stop(struct api_server *s);

/* --config-file: apply each section through the same handlers, then InstanceStart. */
int api_config_file(struct vmm *vmm, const char *path, char *err, size_t errlen) __must_check;

#endif
