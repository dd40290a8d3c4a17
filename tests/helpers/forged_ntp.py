"""Run inside a test host: answer NTP client requests in a control node's name, with a wrong time.

python forged_ntp.py ADDR PORT OFFSET_S MAC SECONDS
    answers every client request as a synchronized stratum-1 server whose clock is OFFSET_S ahead
    of the host's; MAC is what follows the 48 bytes when the request carried one: "none" (nothing),
    "junk" (the request's key id and random digest bytes) or "nak" (a crypto-NAK). Runs SECONDS.
What anyone on the node network can do without the key; the node must not count it in the vote.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

NTP_EPOCH_OFFSET = 2_208_988_800


def ntp_now(offset_s: float) -> int:
    t = time.time() + offset_s + NTP_EPOCH_OFFSET
    return (int(t) << 32) | int((t % 1) * 2**32)


def answer(request: bytes, offset_s: float, mac_mode: str) -> bytes | None:
    if len(request) < 48 or request[0] & 0x7 != 3:
        return None
    rx = ntp_now(offset_s)
    version = (request[0] >> 3) & 0x7
    head = struct.pack(
        "!BBbbII4sQQQQ",
        (version << 3) | 4,
        1,
        request[2],
        -20,
        0,
        16,
        b"GPS\0",
        rx - (1 << 32),
        struct.unpack_from("!Q", request, 40)[0],
        rx,
        ntp_now(offset_s),
    )
    trailer = request[48:]
    if len(trailer) < 20:
        return head
    if mac_mode == "junk":
        return head + trailer[:4] + os.urandom(len(trailer) - 4)
    if mac_mode == "nak":
        return head + bytes(4)
    return head


def main() -> int:
    addr, port, offset_s, mac_mode, seconds = (
        sys.argv[1],
        int(sys.argv[2]),
        float(sys.argv[3]),
        sys.argv[4],
        float(sys.argv[5]),
    )
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(0.5)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, peer = s.recvfrom(4096)
        except TimeoutError:
            continue
        reply = answer(data, offset_s, mac_mode)
        if reply is not None:
            s.sendto(reply, peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
