#!/usr/bin/env python3
"""Sends malformed and hostile frames at platd from a lab namespace.

usage: hostile_frames.py inside|outside IFACE
Prints the number of frames sent. Every frame must be dropped and counted
by platd, which must keep running.
"""
import socket
import struct
import sys

PREFIX = bytes.fromhex("20010db8006400000000000000000000")[:12]  # 2001:db8:64::/96
SERVER4 = bytes([203, 0, 113, 2])
POOL4 = bytes([198, 51, 100, 1])
CLIENT6 = bytes.fromhex("20010db8000600000000000000000002")
BCAST = b"\xff" * 6


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(src: bytes, ethertype: int, payload: bytes) -> bytes:
    return BCAST + src + struct.pack("!H", ethertype) + payload


def ipv6(src: bytes, dst: bytes, nh: int, payload: bytes, plen=None) -> bytes:
    plen = len(payload) if plen is None else plen
    return struct.pack("!IHBB", 0x60000000, plen, nh, 64) + src + dst + payload


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, total=None, good_csum=True) -> bytes:
    total = 20 + len(payload) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, proto, 0, src, dst)
    c = csum(h) if good_csum else (csum(h) ^ 0x5A5A)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def inside_frames(mac: bytes):
    dst6 = PREFIX + SERVER4
    udp = struct.pack("!HHHH", 5000, 7, 12, 0) + b"abcd"
    yield b"\x00" * 10  # runt: shorter than Ethernet
    yield eth(mac, 0x86DD, b"\x60" + b"\x00" * 19)  # IPv6 header cut short
    yield eth(mac, 0x86DD, ipv6(CLIENT6, dst6, 17, udp, plen=400))  # payload length lies
    yield eth(mac, 0x86DD, ipv6(CLIENT6, dst6, 17, udp[:5]))  # UDP header cut short
    yield eth(mac, 0x88B5, b"\x01" * 46)  # unknown EtherType
    yield eth(mac, 0x0800, ipv4(SERVER4, POOL4, 17, udp))  # IPv4 on the IPv6 side
    # ICMPv6 Destination Unreachable quoting nothing.
    icmp = struct.pack("!BBHI", 1, 4, 0, 0)
    yield eth(mac, 0x86DD, ipv6(CLIENT6, dst6, 58, icmp))
    # ICMPv6 Packet Too Big quoting half an IPv6 header.
    yield eth(mac, 0x86DD, ipv6(CLIENT6, dst6, 58, struct.pack("!BBHI", 2, 0, 0, 1280) + b"\x60\x00"))
    # Version 4 in an IPv6 EtherType.
    yield eth(mac, 0x86DD, b"\x45" + b"\x00" * 60)


def outside_frames(mac: bytes):
    udp = struct.pack("!HHHH", 7, 5000, 12, 0) + b"abcd"
    yield b"\x00" * 12
    yield eth(mac, 0x0800, b"\x45\x00\x00")  # IPv4 header cut short
    yield eth(mac, 0x0800, ipv4(SERVER4, POOL4, 17, udp, total=600))  # total length lies
    yield eth(mac, 0x0800, ipv4(SERVER4, POOL4, 17, udp, good_csum=False))  # bad header checksum
    yield eth(mac, 0x0800, b"\x46" + ipv4(SERVER4, POOL4, 17, udp)[1:])  # IHL says options that are not there
    yield eth(mac, 0x88B5, b"\x02" * 46)  # unknown EtherType
    yield eth(mac, 0x0806, b"\x00\x01\x08\x00")  # ARP cut short
    # ICMPv4 Destination Unreachable quoting nothing.
    icmp = struct.pack("!BBHI", 3, 3, 0, 0)
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    yield eth(mac, 0x0800, ipv4(SERVER4, POOL4, 1, icmp))
    # ICMPv4 Time Exceeded quoting 10 bytes of an IPv4 header.
    icmp = struct.pack("!BBHI", 11, 0, 0, 0) + b"\x45" + b"\x00" * 9
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    yield eth(mac, 0x0800, ipv4(SERVER4, POOL4, 1, icmp))
    yield eth(mac, 0x86DD, ipv6(CLIENT6, CLIENT6, 17, udp))  # IPv6 on the IPv4 side


def main():
    side, iface = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    mac = s.getsockname()[4][:6]
    frames = list(inside_frames(mac) if side == "inside" else outside_frames(mac))
    sent = 0
    for f in frames:
        try:
            s.send(f)
            sent += 1
        except OSError as e:  # the kernel may refuse a frame shorter than its header
            print(f"not sent ({e}): {f[:16].hex()}", file=sys.stderr)
    print(sent)


if __name__ == "__main__":
    main()
