"""Run inside a test host: well-behaved NTP clients, or one flooding source, at a paced rate.

python load_clients.py polite SERVER PORT INTERVAL_S ROUNDS ADDR [ADDR ...]
    one client per source ADDR, each asking once per INTERVAL_S for ROUNDS rounds (1 s to answer)
    -> {"sent": n, "answered": n, "kod": n, "per_client_answered": {addr: n}}
python load_clients.py flood SERVER PORT RATE_PER_S SECONDS
    one source sending RATE_PER_S requests a second for SECONDS (0 = as fast as it can)
    -> {"sent": n, "replies": n, "kod": n, "seconds": s}
Both bounded in count and time; replies are matched by their origin timestamp.
"""

from __future__ import annotations

import json
import random
import select
import socket
import struct
import sys
import time


def _request(ts: int) -> bytes:
    return bytes([0x23]) + bytes(39) + struct.pack("!Q", ts)


def polite(server: str, port: int, interval_s: float, rounds: int, addrs: list[str]) -> dict:
    socks = {}
    for a in addrs:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a, 0))
        s.setblocking(False)
        socks[s.fileno()] = (a, s)
    answered = dict.fromkeys(addrs, 0)
    sent = kod = 0
    for _ in range(rounds):
        t0 = time.monotonic()
        waiting = {}
        for fd, (_addr, s) in socks.items():
            ts = random.getrandbits(64)
            s.sendto(_request(ts), (server, port))
            waiting[fd] = struct.pack("!Q", ts)
            sent += 1
        deadline = t0 + 1.0
        while waiting and time.monotonic() < deadline:
            ready, _, _ = select.select(list(waiting), [], [], max(0.0, deadline - time.monotonic()))
            for fd in ready:
                a, s = socks[fd]
                while True:
                    try:
                        reply = s.recv(4096)
                    except BlockingIOError:
                        break
                    if fd in waiting and reply[24:32] == waiting[fd]:
                        if reply[12:16] == b"RATE":
                            kod += 1
                        else:
                            answered[a] += 1
                        del waiting[fd]
        time.sleep(max(0.0, interval_s - (time.monotonic() - t0)))
    return {"sent": sent, "answered": sum(answered.values()), "kod": kod, "per_client_answered": answered}


def flood(server: str, port: int, rate: float, seconds: float) -> dict:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    req = _request(0x1234)
    sent = replies = kod = 0

    def drain() -> None:
        nonlocal replies, kod
        while True:
            try:
                data = s.recv(4096)
            except BlockingIOError:
                return
            replies += 1
            kod += data[12:16] == b"RATE"

    started = time.monotonic()
    end = started + seconds
    while time.monotonic() < end:
        try:
            s.sendto(req, (server, port))
            sent += 1
        except BlockingIOError:
            pass
        drain()
        if rate > 0:
            ahead = started + sent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    late = time.monotonic() + 1.0
    while time.monotonic() < late:
        drain()
        time.sleep(0.01)
    return {"sent": sent, "replies": replies, "kod": kod, "seconds": round(time.monotonic() - started, 2)}


def main() -> int:
    mode, server, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "polite":
        out = polite(server, port, float(sys.argv[4]), int(sys.argv[5]), sys.argv[6:])
    elif mode == "flood":
        out = flood(server, port, float(sys.argv[4]), float(sys.argv[5]))
    else:
        print(f"unknown mode {mode!r}: polite or flood", file=sys.stderr)
        return 3
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
