"""Run inside a test host: send UDP payloads to a server and report which got a reply.

python udp_probe.py HOST PORT WAIT_S HEX [HEX ...]   -> JSON list of reply hex (or null)
python udp_probe.py --flood HOST PORT COUNT          -> JSON {"sent": n, "replies": n, "kod": n}
"""

import json
import socket
import sys
import time


def probe(host, port, wait_s, payloads):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    out = []
    for hexdata in payloads:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(wait_s)
        s.sendto(bytes.fromhex(hexdata), (host, port))
        try:
            data, _ = s.recvfrom(4096)
            out.append(data.hex())
        except TimeoutError:
            out.append(None)
        s.close()
    return out


def flood(host, port, count):
    """Send COUNT client requests as fast as possible (bounded: at most 10 s), count replies."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    req = bytes([0x23]) + bytes(39) + (0x1234).to_bytes(8, "big")
    replies = kod = sent = 0
    deadline = time.monotonic() + 10
    while sent < count and time.monotonic() < deadline:
        try:
            s.sendto(req, (host, port))
            sent += 1
        except BlockingIOError:
            pass
        while True:
            try:
                data = s.recv(4096)
            except BlockingIOError:
                break
            replies += 1
            kod += data[12:16] == b"RATE"
    end = time.monotonic() + 1.0
    s.settimeout(0.2)
    while time.monotonic() < end:
        try:
            data = s.recv(4096)
        except TimeoutError:
            continue
        replies += 1
        kod += data[12:16] == b"RATE"
    return {"sent": sent, "replies": replies, "kod": kod}


if __name__ == "__main__":
    if sys.argv[1] == "--flood":
        print(json.dumps(flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        print(json.dumps(probe(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:])))
