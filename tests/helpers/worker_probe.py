"""Run inside a test host: NTP requests from several source addresses, and what the server's replies
say about its time (for the serving workers' tests).

python worker_probe.py HOST PORT ROUNDS ADDR [ADDR ...]

Each round sends one request from each ADDR in turn, each from a new socket (a new source port,
as chronyd does), and takes the request's kernel software transmit timestamp (SO_TIMESTAMPING, as
the packet reaches the driver). Of each reply it keeps the server's receive timestamp minus that
transmit timestamp: the one-way delay plus the server's offset from this host's clock. Prints JSON
{ADDR: {"sent": n, "replies": n, "rx_minus_tx_ns": [...]}}.
"""

import json
import select
import socket
import struct
import sys
import time

from appliance.core.ntp.packet import ntp_to_ns
from appliance.ntp.server import (
    MSG_ERRQUEUE,
    SO_TIMESTAMPING,
    SOF_TIMESTAMPING_SOFTWARE,
    SOF_TIMESTAMPING_TX_SOFTWARE,
    _tx_software_ns,
)

TIMEOUT_S = 1.0


def tx_stamp_ns(sock: socket.socket) -> int | None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        select.select([], [], [sock], 0.05)
        try:
            _data, anc, _flags, _addr = sock.recvmsg(2048, 1024, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        stamp = _tx_software_ns(anc)
        if stamp is not None:
            return stamp
    return None


def exchange(source: str, host: str, port: int) -> int | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((source, 0))
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE)
        s.settimeout(TIMEOUT_S)
        s.sendto(bytes([0x23]) + bytes(39) + struct.pack("!Q", time.time_ns()), (host, port))
        t1 = tx_stamp_ns(s)
        reply = s.recv(2048)
        if t1 is None or len(reply) < 48:
            return None
        t2 = ntp_to_ns(struct.unpack_from("!Q", reply, 32)[0], t1 // 1_000_000_000)
        return t2 - t1
    except TimeoutError:
        return None
    finally:
        s.close()


def main() -> None:
    host, port, rounds, sources = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    out = {a: {"sent": 0, "replies": 0, "rx_minus_tx_ns": []} for a in sources}
    deadline = time.monotonic() + 60
    for _ in range(rounds):
        if time.monotonic() > deadline:
            break
        for a in sources:
            out[a]["sent"] += 1
            d = exchange(a, host, port)
            if d is not None:
                out[a]["replies"] += 1
                out[a]["rx_minus_tx_ns"].append(d)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
