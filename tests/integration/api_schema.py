#!/usr/bin/env python3
"""Check vmon's API against Firecracker's own specification (firecracker.yaml).

For every endpoint vmon implements, build request bodies from the spec's schema -- one
with every property the schema defines, one with only the required ones -- and send them
to a running vmon. Each must be accepted (2xx). A field vmon deliberately refuses
(see EXPECTED_REFUSALS) must be refused with a clear fault_message, never as a schema
error. Prints one "PASS:/FAIL: api-schema/..." line per request and exits 1 on failure.

usage: api_schema.py SPEC SOCKET PHASE FILE   (PHASE: pre (before boot) or post;
                                               FILE: an existing file for *_path fields)
"""
import http.client
import json
import socket
import sys

import yaml

# Endpoints vmon implements, by phase: (method, path template, path parameter value).
PRE = [
    ("PUT", "/metrics", None),
    ("PUT", "/logger", None),
    ("PUT", "/boot-source", None),
    ("PUT", "/machine-config", None),
    ("PATCH", "/machine-config", None),
    ("PUT", "/drives/{drive_id}", "rootfs"),
    ("PUT", "/network-interfaces/{iface_id}", "eth0"),
    ("PUT", "/entropy", None),
    ("PUT", "/serial", None),
    ("PUT", "/cpu-config", None),
    ("PUT", "/vsock", None),
    ("PUT", "/mmds", None),
    ("PATCH", "/mmds", None),
    ("PUT", "/mmds/config", None),  # network_interfaces: the eth0 PUT above
    ("PUT", "/actions", None),  # the enum's first value: FlushMetrics
]
POST = [
    ("PATCH", "/drives/{drive_id}", "rootfs"),
    ("PATCH", "/network-interfaces/{iface_id}", "eth0"),
    ("PATCH", "/vm", None),  # the enum's first value: Paused, then Resumed below
]

# (method, path, field): fields the spec allows that vmon refuses, with the reason.
EXPECTED_REFUSALS = {
    ("PUT", "/drives/{drive_id}", "socket"): "vhost-user",
}


# (method, path, full): bodies Firecracker itself answers with a 400, and how it says so.
EXPECTED_400 = {
    ("PUT", "/actions", True): "not supported before starting",   # FlushMetrics before boot
    ("PUT", "/actions", False): "not supported before starting",
}


# Required in practice though optional in the schema: a block device needs either
# path_on_host (virtio-blk) or socket (vhost-user, which vmon refuses), as in Firecracker.
REQUIRED_EXTRA = {("PUT", "/drives/{drive_id}"): ["path_on_host"]}

# Accepted once only (Firecracker: "Reinitialization of metrics not allowed"): one body.
ONCE = {("PUT", "/metrics")}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def request(sock, method, path, body):
    c = UnixConnection(sock)
    c.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    return r.status, data


def resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["definitions"][schema["$ref"].split("/")[-1]]
    return schema


def example(spec, name, schema, full, ctx):
    """A value of the schema's type that makes sense for vmon (files exist, ids match)."""
    schema = resolve(spec, schema)
    t = schema.get("type")
    if "enum" in schema:
        return "None" if "None" in schema["enum"] else schema["enum"][0]
    if t == "object" or "properties" in schema:
        return build(spec, schema, full, ctx)
    if t == "array":
        return ["eth0"] if name == "network_interfaces" else []
    if t == "boolean":
        return name in ("is_root_device",) or False
    if t == "integer":
        lo = schema.get("minimum", 0)
        return {"vcpu_count": 2, "mem_size_mib": 256, "mtu": 1500, "size": 1048576,
                "refill_time": 100, "one_time_burst": 0}.get(name, max(lo, 1))
    if t == "string":
        if name.endswith("_path") or name == "path_on_host":
            return ctx["file"]
        if name in ("drive_id", "iface_id", "id"):
            return ctx["id"]
        if name == "guest_mac":
            return "06:00:ac:10:00:02"
        if name == "host_dev_name":
            return "vmtap0"
        if name == "ipv4_address":
            return "169.254.169.254"
        if name == "boot_args":
            return "console=ttyS0 reboot=k panic=1"
        return "vmon-test"
    return None


def build(spec, schema, full, ctx):
    schema = resolve(spec, schema)
    req = set(schema.get("required", []))
    out = {}
    for name, prop in schema.get("properties", {}).items():
        if full or name in req:
            out[name] = example(spec, name, prop, full, ctx)
    return out


def body_schema(spec, method, path):
    op = spec["paths"][path][method.lower()]
    for p in op.get("parameters", []):
        if p.get("in") == "body":
            return p["schema"]
    raise KeyError(f"{method} {path}: no body in the spec")


def main():
    spec_file, sock, phase, file = sys.argv[1:5]
    spec = yaml.safe_load(open(spec_file))
    failed = 0
    for method, path, pid in (PRE if phase == "pre" else POST):
        url = path.replace("{drive_id}", pid or "").replace("{iface_id}", pid or "")
        for full in ((True,) if (method, path) in ONCE else (True, False)):
            ctx = {"file": file, "id": pid}
            schema = body_schema(spec, method, path)
            body = build(spec, schema, full, ctx)
            for f in REQUIRED_EXTRA.get((method, path), []):
                body[f] = example(spec, f, resolve(spec, schema)["properties"][f], full, ctx)
            refused = [f for (m, p, f) in EXPECTED_REFUSALS if m == method and p == path and f in body]
            status, data = request(sock, method, url, body)
            name = f"api-schema/{method} {path} ({'every field' if full else 'required fields'})"
            if (method, path, full) in EXPECTED_400:
                why = EXPECTED_400[(method, path, full)]
                ok = status == 400 and why in data
                note = f"400 '{why}', as Firecracker answers"
            elif refused:
                why = EXPECTED_REFUSALS[(method, path, refused[0])]
                ok = status == 400 and why in data and "deserializing" not in data
                note = f"refuses `{refused[0]}` as expected"
                # And without the refused fields the body must be accepted.
                if ok:
                    for f in refused:
                        body.pop(f)
                    status, data = request(sock, method, url, body)
                    ok = 200 <= status < 300
            else:
                ok = 200 <= status < 300
                note = ""
            print(f"{'PASS' if ok else 'FAIL'}: {name}" +
                  (f" ({note})" if ok and note else "" if ok else f" ({status} {data} for {json.dumps(body)})"))
            failed += not ok
            if method == "PATCH" and path == "/vm":
                request(sock, "PATCH", "/vm", {"state": "Resumed"})
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
