"""A small SNTP client that chooses its server the way systemd-timesyncd does: it follows one server
at a time, in list order, and moves to the next when the server answers with leap indicator 3,
stratum 0 or 16, a root distance above the limit (RootDistanceMaxSec), or does not answer
(timesyncd-manager.c: manager_receive_response -> manager_connect). It never touches any clock: it
only measures. Run it as a script inside a test host; it prints one JSON line per query:

    {"t": monotonic, "server": "198.18.1.2", "ok": true, "leap": 0, "stratum": 1,
     "offset_s": server - local, "switched_to": null}

With --probe it queries the first server only and never switches (to watch one server's time).
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import sys
import time

from appliance.core.ntp.packet import Mode, NtpPacket, NtpPacketError, ntp_to_ns, parse, short_to_seconds


def query(sock: socket.socket, host: str, port: int, timeout_s: float) -> dict | None:
    cookie = secrets.randbits(64)
    req = NtpPacket(0, 4, Mode.CLIENT, 0, 0, -20, 0, 0, b"\0\0\0\0", 0, 0, 0, cookie).encode()
    t1 = time.time_ns()
    sock.sendto(req, (host, port))
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data, addr = sock.recvfrom(2048)
        except TimeoutError:
            return None
        t4 = time.time_ns()
        try:
            pkt = parse(data)
        except NtpPacketError:
            continue
        if pkt.origin_ts != cookie or pkt.mode != Mode.SERVER:
            continue
        pivot = t4 // 1_000_000_000
        t2, t3 = ntp_to_ns(pkt.receive_ts, pivot), ntp_to_ns(pkt.transmit_ts, pivot)
        return {
            "t1_s": t1 / 1e9,  # local send time (the host clock: truth in the tests)
            "t3_s": t3 / 1e9,  # the server's transmit timestamp: its served time
            "leap": pkt.leap,
            "stratum": pkt.stratum,
            "offset_s": ((t2 - t1) + (t3 - t4)) / 2e9,  # server - local
            "delay_s": ((t4 - t1) - (t3 - t2)) / 1e9,
            "root_distance_s": short_to_seconds(pkt.root_delay) / 2 + short_to_seconds(pkt.root_dispersion),
        }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("servers", nargs="+")
    ap.add_argument("--port", type=int, default=123)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--duration", type=float, default=300)
    ap.add_argument("--max-root-distance", type=float, default=5.0)  # timesyncd's default
    ap.add_argument("--probe", action="store_true")
    args = ap.parse_args(argv)
    family = socket.AF_INET6 if ":" in args.servers[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    current = 0
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        server = args.servers[current]
        r = query(sock, server, args.port, timeout_s=1.0)
        usable = (
            r is not None
            and r["leap"] != 3
            and 0 < r["stratum"] < 16
            and r["root_distance_s"] <= args.max_root_distance
        )
        line = {"t": time.monotonic(), "server": server, "ok": usable, **(r or {"leap": None}), "switched_to": None}
        if not usable and not args.probe:
            current = (current + 1) % len(args.servers)
            line["switched_to"] = args.servers[current]
        print(json.dumps(line), flush=True)
        time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
