#!/usr/bin/env python3
"""Write the fuzzers' seed corpora (tests/fuzz/corpus/<target>/): small, valid inputs each
harness turns into deep paths -- a working virtqueue, a driver's register sequence, kernel
image headers, API requests, a config file. Run once; the files are committed."""
import os
import struct
import sys
import zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ring(size=16):
    """Guest RAM with a two-buffer chain at desc 0 made available (desc 0x1000...)."""
    ram = bytearray(0x5000)
    struct.pack_into("<QIHH", ram, 0x1000, 0x4000, 16, 1, 1)         # out buffer, NEXT
    struct.pack_into("<QIHH", ram, 0x1010, 0x4100, 512, 2, 0)        # in buffer, WRITE
    struct.pack_into("<HHH", ram, 0x2000, 0, 1, 0)                   # avail: idx 1, ring[0]=0
    ram[0x4000:0x4010] = struct.pack("<IIQ", 0, 0, 0)                # a virtio-blk read header
    return ram


# virtqueue: size, desc, avail, used, flags, then RAM.
put("virtqueue", "one-chain", struct.pack("<HIIIB", 16, 0x1000, 0x2000, 0x3000, 3) + bytes(ring()))
put("virtqueue", "not-pow2", struct.pack("<HIIIB", 15, 0x1000, 0x2000, 0x3000, 0) + bytes(ring()))


def mmio_seed(device):
    """Device selector, RAM, then a driver's register writes: negotiate, queue 0, notify."""
    ram = bytes(ring())
    ops = b""
    def w(off, v): return bytes([0x81]) + struct.pack("<HI", off, v)   # 4-byte write
    def r(off): return bytes([0x80]) + struct.pack("<H", off)          # 4-byte read
    ops += r(0x000) + r(0x008) + w(0x070, 1) + w(0x070, 3) + w(0x014, 1) + r(0x010)
    ops += w(0x024, 1) + w(0x020, 1) + w(0x070, 11) + w(0x030, 0) + w(0x038, 16)
    ops += w(0x080, 0x1000) + w(0x084, 0) + w(0x090, 0x2000) + w(0x094, 0)
    ops += w(0x0a0, 0x3000) + w(0x0a4, 0) + w(0x044, 1) + w(0x070, 15) + w(0x050, 0)
    ops += r(0x060) + w(0x064, 1) + r(0x100) + r(0x0fc)
    return bytes([device]) + struct.pack("<H", len(ram)) + ram + ops


for i, name in enumerate(["blk", "rng", "console", "net"]):
    put("virtio_mmio", name, mmio_seed(i))

guest = sys.argv[1] if len(sys.argv) > 1 else None
if guest and os.path.exists(guest):
    put("loader", "elf64-guest", open(guest, "rb").read())
# A bzImage's setup header alone (boot protocol 2.15, 64-bit entry flag, lz4 payload missing).
bz = bytearray(4096)
bz[0x1f1] = 3
struct.pack_into("<H", bz, 0x1fe, 0xAA55)
bz[0x202:0x206] = b"HdrS"
struct.pack_into("<H", bz, 0x206, 0x020f)
struct.pack_into("<I", bz, 0x248, 0x300)   # payload_offset
struct.pack_into("<I", bz, 0x24c, 0x100)   # payload_length
bz[0x211] = 1
put("loader", "bzimage-header", bytes(bz))


def api_record(sel_method, path_index, body):
    b = body.encode()
    return bytes([(path_index << 2) | sel_method]) + struct.pack("<H", len(b)) + b


GET, PUT, PATCH = 0, 1, 2
seq = (api_record(PUT, 2, '{"kernel_image_path": "/etc/hostname", "boot_args": "console=ttyS0"}') +
       api_record(PUT, 3, '{"vcpu_count": 2, "mem_size_mib": 256, "smt": false}') +
       api_record(PUT, 4, '{"drive_id": "rootfs", "path_on_host": "/etc/hostname", "is_root_device": true, "is_read_only": true}') +
       api_record(PUT, 6, '{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:00:00:00:01"}') +
       api_record(PUT, 7, '{"rate_limiter": {"bandwidth": {"size": 100, "refill_time": 10}}}') +
       api_record(GET, 11, '') + api_record(PATCH, 10, '{"state": "Paused"}') +
       api_record(PUT, 9, '{"action_type": "InstanceStart"}'))
put("api", "getting-started", seq)
put("api", "bad-json", api_record(PUT, 3, '{"vcpu_count": [1, {"a": null}], "mem_size_mib": 1e99'))

put("config_file", "firecracker", b"""{
  "boot-source": {"kernel_image_path": "/etc/hostname", "boot_args": "console=ttyS0 reboot=k"},
  "drives": [{"drive_id": "rootfs", "path_on_host": "/etc/hostname", "is_root_device": true, "is_read_only": true}],
  "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": false, "huge_pages": "None"},
  "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0"}],
  "entropy": {}, "vsock": null, "balloon": null
}
""")


def pci_function(slot, vendor, device, class_rev, subsys_vendor, subsys, command, bars, irq_line=0):
    """A PCI function's saved state as pci_state.c writes it; bars: {index: (addr, mapped)}."""
    cfg = bytearray(256)
    struct.pack_into("<HH", cfg, 0, vendor, device)
    struct.pack_into("<I", cfg, 8, class_rev)
    struct.pack_into("<HH", cfg, 0x2c, subsys_vendor, subsys)
    cfg[4] = command
    cfg[0x3c] = irq_line
    out = bytes([slot])
    for i, (addr, _) in bars.items():
        struct.pack_into("<I", cfg, 0x10 + 4 * i, addr)
    out += bytes(cfg)
    for i in range(6):
        addr, mapped = bars.get(i, (0, 0))
        out += struct.pack("<QB", addr, mapped)
    return out


def state_file(sections):
    """The snapshot container (src/snapshot/format.h): header, then id/version/len/CRC/payload."""
    body = b""
    for sid, version, payload in sections:
        body += struct.pack("<I", len(sid)) + sid.encode() + struct.pack("<IQI", version, len(payload),
                                                                          zlib.crc32(payload))
        body += payload
    return b"VMONSNAP" + struct.pack("<HHIQ", 1, 0, len(sections), 24 + len(body)) + body


# The machine tests/fuzz/fuzz_snapshot.c builds, in a state a guest could have left it in.
# (corpus/snapshot/virtio, the same machine with its virtio devices, and corpus/snapshot/vm-config,
# the machine with a VM configuration section, are written by the harness itself, so that they
# always have the current layouts: VMON_FUZZ_WRITE_SEED=FILE and VMON_FUZZ_WRITE_CONFIG_SEED=FILE
# build-fuzz/fuzz_snapshot.)
cmos = bytearray(128)
cmos[0x0a], cmos[0x0b], cmos[0x0d] = 0x26, 0x02, 0x80
cmos[0x18] = cmos[0x31] = 0xfc
cmos[0x35] = 0x03
put("snapshot", "legacy-and-pci", state_file([
    ("i8250-com1", 1, bytes([0x01, 0x03, 0x0b, 0xb0, 0x00, 0xc1, 0x01, 0x00, 0]) +
     struct.pack("<I", 3) + b"abc"),
    ("i8042", 1, bytes([0x45, 0xfa, 1, 0, 0, 0, 1]) + struct.pack("<I", 2) + bytes([0xab, 0x41])),
    ("rtc", 1, bytes([0x0d]) + bytes(cmos) + struct.pack("<q", 3600)),
    ("acpi-pm", 1, struct.pack("<HH", 0x0100, 0x0001)),
    ("pci-bus", 1, struct.pack("<I", 0x80000800)),
    ("pci-host", 1, pci_function(0, 0x1b36, 0x0008, 0x06000000, 0x1af4, 0x1100, 0x02, {})),
    ("pci-dev", 1, pci_function(1, 0x1af4, 0x1000, 0, 0, 0, 0x06, {0: (0xe0002000, 1)}, 0x0a)),
]))

# corpus/migration/source (a whole source stream) and corpus/migration/replies (ACCEPT, ACK) are
# written by tests/fuzz/fuzz_migration.c with the stream encoder itself:
# VMON_FUZZ_WRITE_SEED=FILE VMON_FUZZ_WRITE_REPLY_SEED=FILE build-fuzz/fuzz_migration.


def gdb_packet(payload):
    return b"$" + payload + b"#%02x" % (sum(payload) & 0xff)


def gdb_session(nr_vcpus, steps):
    """fuzz_gdb's input: steps are (client bytes, stop reason byte or None), sent in chunks
    of at most 63 bytes; a stop reason makes the harness report a stop after that step."""
    out = bytes([nr_vcpus - 1])
    for data, why in steps:
        chunks = [data[i:i + 63] for i in range(0, len(data), 63)]
        for i, c in enumerate(chunks):
            last = i == len(chunks) - 1
            stop = last and why is not None
            out += bytes([(len(c) - 1) | (64 if stop else 0)]) + c + (bytes([why]) if stop else b"")
    return out


def gdb_acked(*payloads):
    return b"".join(b"+" + gdb_packet(p) for p in payloads)


# A gdb connecting, reading the target description and registers, breaking and stepping.
put("gdb", "session", gdb_session(2, [
    (gdb_acked(b"qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+;xmlRegisters=i386",
               b"vMustReplyEmpty", b"Hg0", b"qXfer:features:read:target.xml:0,ffb",
               b"qXfer:features:read:target.xml:ffb,ffb", b"qTStatus", b"?", b"qfThreadInfo",
               b"qsThreadInfo", b"qAttached", b"Hc-1", b"qC", b"qOffsets", b"g", b"m0,40",
               b"Z0,10,1", b"Z2,20,8", b"vCont?", b"vCont;c"), 1),          # swbreak on vCPU 0
    (gdb_acked(b"z0,10,1", b"p10", b"P10=1000000000000000", b"vCont;s:2;c"), 0),
    (gdb_acked(b"Hg2", b"M0,4:01020304", b"X0,3:}\x03}\x04z", b"qThreadExtraInfo,2",
               b"qRcmd,70687973", b"m8,8", b"qRcmd,6c6f6e67", b"T2", b"c"), None),
    (b"\x03", 2 << 3),                                                       # SIGINT
    (gdb_acked(b"QStartNoAckMode") + gdb_packet(b"s") + b"-", 3),            # watch
    (gdb_packet(b"G" + b"00" * 608) + gdb_packet(b"D"), None),
]))
# Broken framing: bad sums, escapes at the end, runs, an oversize packet, NAKs.
put("gdb", "framing", gdb_session(8, [
    (b"$g#00-+$m0,4#ff$}#00$a*" + b"#00" + gdb_packet(b"0* 1") + b"$" + b"a" * 200 + b"#zz", None),
    (gdb_packet(b"a*~" * 200) + gdb_packet(b"vCont;s:8;c:1;t") + b"\x03", 0x80 | 7),
]))


# vsock: flags, CONNECT line length, then RAM: queue q's desc/avail/used at q*0x3000 (+0x1000,
# +0x2000); receive buffers from 0x9000, event buffers at 0xb000, transmit packets from
# 0xc000, all within libFuzzer's 64 KiB inputs. The harness seeds
# connections host port 1000+i <-> guest port 2000+i (0, 2 established, 1 awaiting the guest).
def vsock_hdr(op, src_port, dst_port, length=0, flags=0, buf_alloc=65536, fwd_cnt=0, src_cid=3):
    return struct.pack("<QQIIIHHIII", src_cid, 2, src_port, dst_port, length, 1, op, flags,
                       buf_alloc, fwd_cnt)


def vsock_seed(packets, split=False):
    ram = bytearray(0xff00)
    ram[0:15] = b"CONNECT 52\n\0\0\0\0"
    for q, (n, size, base) in enumerate([(8, 1024, 0x9000), (0, 0, 0), (2, 8, 0xb000)]):
        for i in range(n):
            struct.pack_into("<QIHH", ram, q * 0x3000 + 16 * i, base + i * size, size, 2, 0)
            struct.pack_into("<H", ram, q * 0x3000 + 0x1000 + 4 + 2 * i, i)
        struct.pack_into("<HH", ram, q * 0x3000 + 0x1000, 1, n)   # no interrupts, idx n
    addr, d = 0xc000, 0
    for i, p in enumerate(packets):
        parts = [p[:20], p[20:]] if split and len(p) > 20 else [p]
        struct.pack_into("<H", ram, 0x3000 + 0x1000 + 4 + 2 * i, d)
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            struct.pack_into("<QIHH", ram, 0x3000 + 16 * d, addr, len(part), 0 if last else 1, d + 1)
            ram[addr:addr + len(part)] = part
            addr += (len(part) + 15) & ~15
            d += 1
    struct.pack_into("<HH", ram, 0x3000 + 0x1000, 1, len(packets))
    return ram


vsock_packets = [
    vsock_hdr(5, 2000, 1000, 100) + bytes(range(100)),      # RW on established conn 0
    vsock_hdr(1, 2100, 52),                                 # REQUEST: nobody listens -> RST
    vsock_hdr(2, 2001, 1001),                               # RESPONSE: the host client's OK
    vsock_hdr(6, 2002, 1002, fwd_cnt=0x80000000),           # CREDIT_UPDATE with a lie
    vsock_hdr(7, 2000, 1000),                               # CREDIT_REQUEST
    vsock_hdr(4, 2000, 1000, flags=3),                      # SHUTDOWN both
    vsock_hdr(5, 2003, 1003, 4) + b"late",                  # RW to the closing conn
    vsock_hdr(99, 2200, 1200),                              # bogus op, no conn -> RST
    vsock_hdr(5, 2002, 1002, 0xffffffff),                   # a length beyond the chain
]
put("vsock", "packets", bytes([1, 11]) + bytes(vsock_seed(vsock_packets)))
put("vsock", "split-headers", bytes([2, 9]) + bytes(vsock_seed(vsock_packets, split=True)))
# fuzz_ivshmem: after the greeting (first byte odd), peers 1 and 2 join with two vectors
# each, this client's own two vectors, peer 1 leaves; op 0x80|0x40: an 8-byte id with a fd.
def ivshmem_msg(value, fd):
    return bytes([0x80 | (0x40 if fd else 0)]) + struct.pack("<q", value)
put("ivshmem", "peers", b"\x01" + b"".join(ivshmem_msg(v, f) for v, f in [
    (1, True), (1, True), (2, True), (2, True), (7, True), (7, True), (1, False), (3, True)]))
# No greeting: the version, an id, the memory, a second memory, out-of-range ids.
put("ivshmem", "greeting", b"\x00" + b"".join(ivshmem_msg(v, f) for v, f in [
    (0, False), (5, False), (-1, True), (-1, True), (65536, True), (-2, False), (5, True)]))
