#!/usr/bin/env python3
"""The HA lab's traffic and sync-link tools.

usage:
  ha_tools.py echo ADDR PORT
      (server namespace) a UDP echo that appends the source it saw:
      "PAYLOAD|ADDRESS:PORT". Runs until killed.
  ha_tools.py probe SERVER6 PORT SECONDS INTERVAL_MS
      (client namespace) one UDP flow (one socket, one source port) to the
      echo, a datagram every INTERVAL_MS; prints one JSON line: sent,
      received, the longest time without a reply (ms) and every source
      the server saw (one mapping = one entry).
  ha_tools.py flows SERVER6 PORT N
      (client namespace) N UDP flows (N sockets), one datagram each: N
      sessions on platd.
  ha_tools.py relay LISTEN A B CONTROL_PORT
      (appliance namespace) the sync link through user space: datagrams
      from A go to B and back, from LISTEN (port 7300). Commands on
      127.0.0.1:CONTROL_PORT, one JSON object per datagram, answered with
      the relay's counts:
        {"drop": 0.2, "reorder": 0.1}  lose / hold back (and send after the
                                        next one) that share of datagrams
        {"inject": "replay"|"forge"|"truncate", "count": N}
                                        the last N datagrams A sent to B,
                                        again as they were, with one byte
                                        of the body flipped, or cut short
        {}                              just the counts
"""
import json
import random
import select
import socket
import sys
import time
from collections import deque


def echo(addr: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, src = s.recvfrom(2048)
        s.sendto(data + f"|{src[0]}:{src[1]}".encode(), src)


def probe(server: str, port: int, seconds: float, interval_ms: int) -> None:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.connect((server, port))
    s.setblocking(False)
    start = time.monotonic()
    last_reply = None
    longest_gap = 0.0
    sent = received = 0
    sources = []
    next_send = start
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_send:
            s.send(f"probe {sent}".encode())
            sent += 1
            next_send += interval_ms / 1000.0
        r, _, _ = select.select([s], [], [], max(0.0, next_send - time.monotonic()))
        if r:
            try:
                data = s.recv(2048)
            except OSError:
                continue
            at = time.monotonic()
            received += 1
            if last_reply is not None:
                longest_gap = max(longest_gap, at - last_reply)
            last_reply = at
            src = data.decode(errors="replace").rsplit("|", 1)[-1]
            if src not in sources:
                sources.append(src)
    print(json.dumps({
        "sent": sent,
        "received": received,
        "longest_gap_ms": round(longest_gap * 1000.0, 1),
        "sources": sources,
    }))


def flows(server: str, port: int, n: int) -> None:
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.sendto(f"flow {i}".encode(), (server, port))
        socks.append(s)
        if len(socks) >= 200:
            for x in socks:
                x.close()
            socks = []
        if i % 50 == 49:
            time.sleep(0.005)
    print(n)


def relay(listen: str, a: str, b: str, control_port: int) -> None:
    link = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    link.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    link.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    link.bind((listen, 7300))
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctl.bind(("127.0.0.1", control_port))
    peers = {a: (b, 7300), b: (a, 7300)}
    drop = reorder = 0.0
    held = None
    a_to_b = deque(maxlen=64)
    counts = {"forwarded": 0, "dropped": 0, "reordered": 0, "injected": 0}
    while True:
        r, _, _ = select.select([link, ctl], [], [])
        if ctl in r:
            cmd, src = ctl.recvfrom(4096)
            cmd = json.loads(cmd or b"{}")
            drop = cmd.get("drop", drop)
            reorder = cmd.get("reorder", reorder)
            kind = cmd.get("inject")
            if kind:
                for m in list(a_to_b)[-int(cmd.get("count", 1)):]:
                    if kind == "forge":
                        m = bytearray(m)
                        m[len(m) // 2] ^= 0x01
                    elif kind == "truncate":
                        m = m[: len(m) // 2]
                    link.sendto(bytes(m), (b, 7300))
                    counts["injected"] += 1
            ctl.sendto(json.dumps(counts).encode(), src)
        if link in r:
            data, src = link.recvfrom(65536)
            to = peers.get(src[0])
            if to is None:
                continue
            if to[0] == b:
                a_to_b.append(data)
            if random.random() < drop:
                counts["dropped"] += 1
                continue
            if held is None and random.random() < reorder:
                held = (data, to)
                counts["reordered"] += 1
                continue
            link.sendto(data, to)
            counts["forwarded"] += 1
            if held is not None:
                link.sendto(*held)
                counts["forwarded"] += 1
                held = None


def relay_ctl(control_port: int, cmd: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(cmd.encode(), ("127.0.0.1", control_port))
    print(s.recv(4096).decode())


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "echo":
        echo(args[0], int(args[1]))
    elif cmd == "probe":
        probe(args[0], int(args[1]), float(args[2]), int(args[3]))
    elif cmd == "flows":
        flows(args[0], int(args[1]), int(args[2]))
    elif cmd == "relay":
        relay(args[0], args[1], args[2], int(args[3]))
    elif cmd == "relay-ctl":
        relay_ctl(int(args[0]), args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
