#!/usr/bin/env python3
"""Writes the binary seed corpora of the fuzz targets (corpus/NAME/), each
seed a well-formed case of what the target parses, laid out as the target's
header comment says. The text seeds (corpus/options/) are written by hand.
Run it after changing a target's input layout: python3 tests/fuzz/make_seeds.py"""

import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


u8 = lambda v: struct.pack("<B", v)
u16 = lambda v: struct.pack("<H", v)
u32 = lambda v: struct.pack("<I", v)
u64 = lambda v: struct.pack("<Q", v)


# --- fdt: spec bits, sizes as mantissa << shift, caps, boot config ---------
def size(mantissa, shift):
    return u8(0) + u16(mantissa) + u8(shift)


def fdt_seed(bits, ram, cpus, ipa_kind, ipa_bits, devices, caps, boot=b"", ram_base=None, initrd=None,
             pa_range=None, bootargs=b"console=ttyS0"):
    out = u8(bits) + ram
    if bits & 16:
        out += ram_base
    if bits & 32:
        out += initrd
    if bits & 64:
        out += u8(pa_range)
    out += u16(cpus) + u8(ipa_kind + 4 * ipa_bits) + u8(len(devices)) + bytes(devices)
    return out + bytes(caps) + (boot or u8(0)) + bootargs


write("fdt", "x86-128M", fdt_seed(0, size(128, 20), 1, 0, 0, [], [48, 48, 1]))
write("fdt", "x86-4G-devices", fdt_seed(0, size(4, 30), 4, 0, 0, [2, 1, 4, 3], [46, 46, 0]))
write("fdt", "arm64-2G-gicv3", fdt_seed(1, size(2, 30), 4, 0, 0, [2, 4], [40, 48, 0],
                                        boot=u8(3) + u8(32) + bytes(range(32)) + u64(0x1234)))
write("fdt", "arm64-el2-e2h0-pa", fdt_seed(1 | 4 | 8 | 64, size(1, 30), 2, 1, 0, [2], [44, 44, 7], pa_range=40))
write("fdt", "arm64-gicv2-base", fdt_seed(1 | 2 | 16, size(512, 20), 8, 3, 36, [4], [40, 40, 0],
                                          ram_base=size(2, 31)))
write("fdt", "arm64-initrd-legacy", fdt_seed(1 | 32, size(256, 20), 1, 2, 0, [], [40, 40, 0],
                                             initrd=size(3, 20), bootargs=b"root=/dev/ram0"))

# --- stage2: vtcr, vttbr, pa_bits, window_bits, 16 probes, tables ----------
RAM = 0x4000_0000


def vtcr(tg0, t0sz, sl0, ps=0b101):
    return t0sz | (sl0 << 6) | (tg0 << 14) | (ps << 16)


def leaf(oa, s2ap=0b11, af=True, page=False):
    return oa | (s2ap << 6) | ((1 << 10) if af else 0) | (0b11 if page else 0b01)


def table(addr):
    return addr | 0b11


def stage2_seed(regs, pa_bits, window, probes, tables):
    out = u64(regs[0]) + u64(regs[1]) + u8(pa_bits) + u8(window)
    probes = (probes + [(0, 0)] * 16)[:16]
    for ipa, write_access in probes:
        out += u64(ipa) + u8(write_access)
    image = bytearray(64 << 10)
    for addr, value in tables:
        struct.pack_into("<Q", image, addr - RAM, value)
    return out + bytes(image).rstrip(b"\0")


# 4 KiB granule, T0SZ 32 (32-bit IPA), start level 1 (4 entries):
# L1[0] -> L2 at +0x1000; L2[0] -> L3 at +0x2000 (pages); L2[1] a 2 MiB block;
# L1[1] a 1 GiB block; L3[1] read-only, L3[2] without AF, L3[3] S2AP none.
write("stage2", "4k-three-levels", stage2_seed(
    (vtcr(0b00, 32, 1), RAM), 40, 36,
    [(0x0, 0), (0x1234, 1), (0x1000, 1), (0x2000, 0), (0x3000, 0), (0x20_0000, 1), (0x4000_0010, 0),
     (0x8000_0000, 0), (1 << 33, 0)],
    [(RAM, table(RAM + 0x1000)), (RAM + 8, leaf(0x8000_0000)),
     (RAM + 0x1000, table(RAM + 0x2000)), (RAM + 0x1008, leaf(0x1_0000_0000)),
     (RAM + 0x2000, leaf(0x5000_0000, page=True)), (RAM + 0x2008, leaf(0x5000_1000, 0b01, page=True)),
     (RAM + 0x2010, leaf(0x5000_2000, af=False, page=True)), (RAM + 0x2018, leaf(0x5000_3000, 0b00, page=True))]))
# 64 KiB granule, T0SZ 28 (36-bit IPA), start level 2 (128 entries): a 512 MiB
# block, and entry 0 naming its own table as the level-3 table (an alias).
write("stage2", "64k-two-levels", stage2_seed(
    (vtcr(0b01, 28, 1, 0b001), RAM), 40, 40,
    [(0x0, 0), (0x2000_1234, 1), (0x1_0000, 0)],
    [(RAM, table(RAM)), (RAM + 8, leaf(0x6000_0000))]))
# 16 KiB granule, T0SZ 28 (36-bit IPA), start level 2 (2048 entries): a
# 32 MiB block and a table of 16 KiB pages.
write("stage2", "16k-two-levels", stage2_seed(
    (vtcr(0b10, 28, 1), RAM), 44, 44,
    [(0x0, 0), (0x200_4000, 1), (0x4000, 0), (1 << 36, 0)],
    [(RAM, table(RAM + 0x4000)), (RAM + 8, leaf(0x7200_0000)), (RAM + 0x4000, leaf(0x7000_0000, page=True)),
     (RAM + 0x4008, leaf(0x7000_4000, 0b10, page=True))]))
write("stage2", "bad-vtcr-reserved-tg0", stage2_seed((vtcr(0b11, 32, 1), RAM), 40, 40, [(0x1000, 0)], []))

# --- loaders: aarch64 flag, RAM base (2 MiB units), reserved area, file -----
EM_X86_64, EM_AARCH64 = 62, 183


def elf64(machine, entry, segments, etype=2):
    phoff = 64
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", etype, machine, 1, entry, phoff, 0, 0, 64, 56, len(segments), 0, 0, 0)
    data_at = phoff + 56 * len(segments)
    phdrs, data = b"", b""
    for paddr, payload, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 5, data_at + len(data), paddr, paddr, len(payload), memsz, 0x1000)
        data += payload
    return header + phdrs + data


def loader_seed(aarch64, base_units, reserved_pages, reserved_count, file):
    return u8(aarch64) + u16(base_units) + u16(reserved_pages) + u8(reserved_count) + file


code = b"\xf4" * 16  # hlt
write("loaders", "x86-elf", loader_seed(0, 0, 0x100, 1, elf64(EM_X86_64, 0x10_0000, [(0x10_0000, code, 0x2000)])))
write("loaders", "x86-elf-two-segments", loader_seed(0, 0, 0x1f0, 4, elf64(
    EM_X86_64, 0x10_0000, [(0x10_0000, code, 0x1000), (0x12_0000, b"data" * 8, 0x3000)])))
write("loaders", "aarch64-elf-dyn", loader_seed(1, 0x200, 0x100, 1, elf64(
    EM_AARCH64, 0x4008_0000, [(0x4008_0000, b"\x1f\x20\x03\xd5" * 4, 0x1000)], etype=3)))
image = struct.pack("<IIQQQQQQII", 0x14000010, 0, 0x8_0000, 0x2_0000, 0b1010, 0, 0, 0, 0x644d5241, 0) + b"\x1f\x20\x03\xd5" * 8
write("loaders", "arm64-image", loader_seed(1, 0x200, 0x200, 2, image))
write("loaders", "arm64-image-gzip", loader_seed(1, 0x200, 0x200, 2, gzip.compress(image, mtime=0)))
write("loaders", "x86-elf-gzip", loader_seed(0, 0, 0x100, 1, gzip.compress(
    elf64(EM_X86_64, 0x10_0000, [(0x10_0000, code, 0x2000)]), mtime=0)))

# --- vhost-user frontend: requests, then the backend's replies --------------
REPLY = 0x5  # version 1 | REPLY


def reply(request, payload):
    return u32(request) + u32(REPLY) + u32(len(payload)) + payload


def frontend_seed(ops, stream, fds=0, split=0xffff):
    return u8(len(ops)) + u8(fds) + u16(split) + bytes(ops) + stream


VERSION_1, PROTOCOL = 1 << 32, 1 << 30
handshake = [1, 0x43, 4 | (0b011 << 4), 5, 0, 8, 11]  # GET_FEATURES .. GET_VRING_BASE(0)
write("vhost_user_frontend", "handshake-reply-ack", frontend_seed(handshake, b"".join([
    reply(1, u64(VERSION_1 | PROTOCOL)), reply(15, u64(0b1000001001)), reply(16, u64(0)), reply(17, u64(1)),
    reply(3, u64(0)), reply(8, u64(0)), reply(11, u32(0) + u32(7))])))
write("vhost_user_frontend", "get-config", frontend_seed([4 | (0b100 << 4), 6 | (3 << 4), 6 | (11 << 4)], b"".join([
    reply(24, u32(0) + u32(8) + u32(0) + bytes(range(8))), reply(24, u32(4) + u32(8) + u32(0) + bytes(8))])))
write("vhost_user_frontend", "reply-with-fds-split", frontend_seed(
    [1, 3], reply(1, u64(VERSION_1)) + reply(15, u64(0)), fds=0x21, split=7))
write("vhost_user_frontend", "refused-ack", frontend_seed(
    [4 | (0b010 << 4), 0, 7 | (1 << 4)], reply(16, u64(0)) + reply(3, u64(1)) + reply(5, u64(0))))

# --- vhost-user backend: a frontend's session, step by step -----------------
GUEST, USER = 0x4000_0000, 0x7000_0000


def message(request, payload=b"", flags=0x1):
    return u32(request) + u32(flags) + u32(len(payload)) + payload


def send(data, memfds=0, eventfds=0):
    return u8(0) + u16(len(data)) + u8(memfds | (eventfds << 4)) + data


def poke(region, offset, data):
    return u8(2) + u8(region) + u16(offset) + u8(len(data)) + data


def kick(event):
    return u8(3) + u8(event)


def ring(queue, base):  # desc, avail, used of a 16-entry ring in region 0, as user addresses
    return u32(queue) + u32(0) + u64(USER + base) + u64(USER + base + 0x200) + u64(USER + base + 0x100) + u64(0)


def desc(addr, length, flags, nxt=0):
    return u64(GUEST + addr) + u32(length) + u16(flags) + u16(nxt)


def avail(head, idx=1):
    return u16(0) + u16(idx) + u16(head)


def backend_session(queues, chains):
    steps = send(message(3)) + send(message(1)) + send(message(2, u64(VERSION_1)))
    steps += send(message(5, u32(1) + u32(0) + u64(GUEST) + u64(64 << 10) + u64(USER) + u64(0)), memfds=1)
    for q in range(queues):
        base = 0x1000 * q
        steps += send(message(8, u32(q) + u32(16))) + send(message(9, ring(q, base)))
        steps += send(message(10, u32(q) + u32(0)))
        steps += send(message(13, u64(q)), eventfds=1) + send(message(12, u64(q)), eventfds=1)
    for q, descriptors in chains:
        base = 0x1000 * q
        steps += poke(0, base, b"".join(descriptors)) + poke(0, base + 0x100 + 0x100, avail(0))
        steps += kick(2 * q + 1)
    return steps + send(message(11, u32(0) + u32(0)))


write("vhost_user_backend", "rng-session", u8(0) + backend_session(1, [(0, [desc(0x8000, 64, 2)])]))
write("vhost_user_backend", "console-session", u8(1) + backend_session(2, [(1, [desc(0x8000, 5, 0)])]) +
      poke(0, 0x8000, b"hello"))
write("vhost_user_backend", "reply-ack-config", u8(0) + send(message(15)) + send(message(16, u64(0b1000001001))) +
      send(message(3, flags=0x9)) + send(message(24, u32(0) + u32(8) + u32(0) + bytes(8))) + send(message(17)))

# --- virtio: register writes, RAM, notifies ---------------------------------
def reg_write(offset, value):
    return u8(0) + u8(offset // 4) + u32(value)


def ram(offset, data):
    return u8(3) + u16(offset) + u8(len(data)) + data


def notify(queue):
    return u8(4) + u8(queue)


RUN_IO = u8(5)


def outside(data):
    return u8(6) + u8(len(data)) + data


RAM_BASE = 0x10000


def vdesc(addr, length, flags, nxt=0):
    return u64(RAM_BASE + addr) + u32(length) + u16(flags) + u16(nxt)


def virtio_init(queues, features_high=1, features_low=0):
    steps = reg_write(0x70, 1) + reg_write(0x70, 3)
    steps += reg_write(0x24, 0) + reg_write(0x20, features_low) + reg_write(0x24, 1) + reg_write(0x20, features_high)
    steps += reg_write(0x70, 11)
    for q in range(queues):
        base = 0x4000 * q
        steps += reg_write(0x30, q) + reg_write(0x38, 16)
        steps += reg_write(0x80, RAM_BASE + base) + reg_write(0x84, 0)
        steps += reg_write(0x90, RAM_BASE + base + 0x1000) + reg_write(0x94, 0)
        steps += reg_write(0xa0, RAM_BASE + base + 0x2000) + reg_write(0xa4, 0)
        steps += reg_write(0x44, 1)
    return steps + reg_write(0x70, 15)


def chain(queue, descriptors, head=0):
    base = 0x4000 * queue
    return ram(base, b"".join(descriptors)) + ram(base + 0x1000, avail(head)) + notify(queue)


NEXT, WRITE, INDIRECT = 1, 2, 4
write("virtio", "rng-fill", u8(0) + virtio_init(1) + chain(0, [vdesc(0x8000, 64, WRITE)]) + RUN_IO)
write("virtio", "rng-indirect", u8(0) + virtio_init(1, features_low=1 << 28) + ram(0x3000, vdesc(0x8000, 32, WRITE) +
      vdesc(0x9000, 32, WRITE)) + chain(0, [u64(RAM_BASE + 0x3000) + u32(32) + u16(INDIRECT) + u16(0)]))
write("virtio", "console-tx-rx", u8(1) + virtio_init(2) + ram(0x8000, b"hello, world\n") +
      chain(1, [vdesc(0x8000, 13, 0)]) + chain(0, [vdesc(0x9000, 64, WRITE)]) + outside(b"typed input") + RUN_IO)
blk_header = lambda t, sector: u32(t) + u32(0) + u64(sector)
write("virtio", "blk-read", u8(2) + virtio_init(1) + ram(0x8000, blk_header(0, 1)) + chain(0, [
    vdesc(0x8000, 16, NEXT, 1), vdesc(0x9000, 512, WRITE | NEXT, 2), vdesc(0xa000, 1, WRITE)]) + RUN_IO + RUN_IO)
write("virtio", "blk-write-flush", u8(2) + virtio_init(1, features_low=1 << 9) + ram(0x8000, blk_header(1, 2)) +
      ram(0x9000, b"sector two" * 8) + chain(0, [vdesc(0x8000, 16, NEXT, 1), vdesc(0x9000, 512, NEXT, 2),
                                                vdesc(0xa000, 1, WRITE)]) + RUN_IO +
      ram(0x8100, blk_header(4, 0)) + ram(0x1000, avail(3, 2)[0:4] + u16(0) + u16(3)) +
      ram(48, vdesc(0x8100, 16, NEXT, 4) + vdesc(0xa001, 1, WRITE)) + notify(0) + RUN_IO + RUN_IO)
frame = bytes(12) + b"\xff" * 6 + b"\x52\x54\x00\x12\x34\x56" + b"\x08\x00" + bytes(46)
write("virtio", "net-rx-tx", u8(3) + virtio_init(2, features_low=1 << 5) + chain(0, [vdesc(0x8000, 1526, WRITE)]) +
      outside(frame) + RUN_IO + ram(0x9000, frame) + chain(1, [vdesc(0x9000, len(frame), 0)]) + RUN_IO)
