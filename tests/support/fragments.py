#!/usr/bin/env python3
"""Fragmented UDP datagrams through platd, in order and out of order.

usage:
  fragments.py echo PORT SECONDS
      (server namespace) a UDP echo on PORT for SECONDS: a datagram whose
      first byte is 'R' comes back as IPv4 fragments sent last first
      (raw socket); any other comes back through the socket (the kernel
      fragments it in order).
  fragments.py send SERVER6 PORT SIZE ORDER
      (client namespace) sends SIZE bytes to [SERVER6]:PORT, as the kernel
      fragments them (ORDER=kernel) or as IPv6 fragments sent last first
      (ORDER=reverse, raw socket; the echo then answers last first too),
      and checks that the same bytes come back. Prints "ok SIZE".

A receiver that reassembles the datagram is the proof: the server's and
the client's kernels reassemble what platd translated.
"""
import os
import socket
import struct
import sys
import time


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP header and payload, checksummed over the family's pseudo-header."""
    length = 8 + len(payload)
    if len(src) == 16:
        pseudo = src + dst + struct.pack("!IxxxB", length, 17)
    else:
        pseudo = src + dst + struct.pack("!xBH", 17, length)
    head = struct.pack("!HHHH", sport, dport, length, 0)
    c = csum(pseudo + head + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, c) + payload


def pieces(upper: bytes, size: int):
    """(offset in 8-byte units, more, bytes) of `upper` cut every `size`."""
    out = []
    for at in range(0, len(upper), size):
        chunk = upper[at : at + size]
        out.append((at // 8, at + size < len(upper), chunk))
    return out


def send_v6_reversed(src: bytes, dst: bytes, upper: bytes):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    ident = int.from_bytes(os.urandom(4), "big")
    dst_text = socket.inet_ntop(socket.AF_INET6, dst)
    for off, more, chunk in reversed(pieces(upper, 1232)):
        frag = struct.pack("!BxHI", 17, off << 3 | int(more), ident)
        head = struct.pack("!IHBB", 0x60000000, len(frag) + len(chunk), 44, 64)
        s.sendto(head + src + dst + frag + chunk, (dst_text, 0))


def send_v4_reversed(src: bytes, dst: bytes, upper: bytes):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    ident = int.from_bytes(os.urandom(2), "big")
    dst_text = socket.inet_ntoa(dst)
    for off, more, chunk in reversed(pieces(upper, 1480)):
        flags = off | (0x2000 if more else 0)
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk), ident, flags, 64, 17, 0, src, dst)
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        s.sendto(h + chunk, (dst_text, 0))


def echo(port: int, seconds: float):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    end = time.time() + seconds
    while time.time() < end:
        s.settimeout(max(0.1, end - time.time()))
        try:
            data, (addr, sport) = s.recvfrom(65535)
        except socket.timeout:
            break
        if data[:1] == b"R":
            # Our own address on the way back: the one the datagram came to.
            me = socket.inet_aton(sys.argv[4] if len(sys.argv) > 4 else "203.0.113.2")
            peer = socket.inet_aton(addr)
            send_v4_reversed(me, peer, udp(me, peer, port, sport, data))
        else:
            s.sendto(data, (addr, sport))


def send(server: str, port: int, size: int, order: str) -> int:
    payload = (b"R" if order == "reverse" else b"K") + os.urandom(size - 1)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", 0))
    s.settimeout(5)
    if order == "reverse":
        # The route's source address, as the kernel would choose it.
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.connect((server, port))
        src = socket.inet_pton(socket.AF_INET6, probe.getsockname()[0])
        dst = socket.inet_pton(socket.AF_INET6, server)
        send_v6_reversed(src, dst, udp(src, dst, s.getsockname()[1], port, payload))
    else:
        s.sendto(payload, (server, port))
    back, _ = s.recvfrom(65535)
    if back != payload:
        print("echo differs: %d bytes back of %d" % (len(back), len(payload)))
        return 1
    print("ok %d" % size)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        echo(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]))
