"""Run inside a test host: send COUNT mutated NTP packets to a server and judge every reply.

python mutant_storm.py HOST PORT COUNT SEED RATE_PER_S  -> one JSON object on stdout
python mutant_storm.py --good HOST PORT COUNT INTERVAL_S -> {"sent": n, "answered": n}

The packets start from helpers.fuzz_targets' seeds (client requests of each version, NTPv1 mode 0,
signed requests with its KEYS) with a random transmit timestamp, then get bytes flipped or set,
are cut short, get junk appended or inserted (extension fields, MACs). Each reply is matched to
its request by its origin timestamp (to one of them, where a mutation made two alike) and judged:
never larger than the request, only to a request that must be answered (a well-formed client
request), and signed only when the request's MAC verified (else no trailer, or a crypto-NAK).
Bounded: COUNT packets, then 2 s for late replies.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.core.ntp.packet import NTP_HEADER_LEN, NtpPacketError, parse  # noqa: E402
from appliance.core.ntp.symkey import CRYPTO_NAK, KeyRing  # noqa: E402
from helpers.fuzz_targets import KEYS, SEEDS  # noqa: E402

RING = KeyRing(KEYS)


def fresh(rng: random.Random, seed: bytes) -> bytes:
    """The seed with a random transmit timestamp (re-signed when it was signed)."""
    base = bytearray(seed[:NTP_HEADER_LEN])
    base[40:48] = struct.pack("!Q", rng.getrandbits(64))
    rest = seed[NTP_HEADER_LEN:]
    if len(rest) >= 20 and struct.unpack_from("!I", rest)[0] in KEYS:
        return bytes(base) + KEYS[struct.unpack_from("!I", rest)[0]].mac(bytes(base))
    return bytes(base) + rest


def mutate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    out = bytearray(data)
    ops = []
    for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):
        op = rng.choice(("flip", "set", "cut", "append", "insert", "mac"))
        ops.append(op)
        if op == "flip" and out:
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif op == "set" and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif op == "cut":
            out = out[: rng.randrange(len(out) + 1)]
        elif op == "append":
            out += rng.randbytes(rng.randrange(1, 80))
        elif op == "insert":
            i = rng.randrange(len(out) + 1)
            out[i:i] = rng.randbytes(rng.randrange(1, 16))
        else:  # a MAC of a known key id over nothing in particular: a bad MAC
            out = out[:NTP_HEADER_LEN] + struct.pack("!I", rng.choice(list(KEYS))) + rng.randbytes(rng.choice((16, 20)))
    return "+".join(ops) or "none", bytes(out)


def must_answer(request: bytes) -> bool:
    try:
        pkt = parse(request)
    except NtpPacketError:
        return False
    return pkt.mode == 3 or (pkt.mode == 0 and pkt.version == 1)


def judge(request: bytes, reply: bytes) -> str | None:
    """What is wrong with this reply to this request, or None."""
    if len(reply) > len(request):
        return "larger"
    if not must_answer(request):
        return "must_not"
    trailer = reply[NTP_HEADER_LEN:]
    pkt = parse(request)
    if not pkt.mac:
        return None if trailer == b"" else "signed_unauthenticated"
    key = RING.check(request[: len(request) - len(pkt.mac)], pkt.mac)
    if key is None:
        return None if trailer in (b"", CRYPTO_NAK) else "signed_bad_mac"
    return None if trailer == key.mac(reply[:NTP_HEADER_LEN]) else "bad_signature"


def good_client(host: str, port: int, count: int, interval_s: float) -> dict[str, int]:
    """A well-behaved client beside the storm: COUNT requests, one every INTERVAL_S, 1 s each."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    answered = 0
    for _ in range(count):
        t0 = time.monotonic()
        ts = random.getrandbits(64)
        s.sendto(bytes([0x23]) + bytes(39) + struct.pack("!Q", ts), (host, port))
        try:
            while True:
                reply = s.recv(4096)
                if reply[24:32] == struct.pack("!Q", ts):
                    answered += 1
                    break
        except TimeoutError:
            pass
        time.sleep(max(0.0, interval_s - (time.monotonic() - t0)))
    return {"sent": count, "answered": answered}


def main() -> int:
    if sys.argv[1] == "--good":
        print(json.dumps(good_client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))))
        return 0
    host, port, count, seed, rate = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        int(sys.argv[4]),
        float(sys.argv[5]),
    )
    rng = random.Random(seed)
    seeds = SEEDS["ntp_answer"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    sent: dict[bytes, list[bytes]] = {}  # transmit timestamp -> the packets that carried it
    results = {"sent": 0, "replies": 0, "answerable": 0, "problems": {}, "examples": []}

    def drain() -> None:
        while True:
            try:
                reply = s.recv(4096)
            except BlockingIOError:
                return
            results["replies"] += 1
            # a mutation can give two packets the same transmit timestamp (all zero, say): the
            # reply is fine if it is a fine reply to one of them
            candidates = sent.get(reply[24:32], []) if len(reply) >= 32 else []
            verdicts = [judge(request, reply) for request in candidates]
            problem = None if None in verdicts else (verdicts[0] if verdicts else "unmatched")
            request = candidates[-1] if candidates else None
            if problem:
                results["problems"][problem] = results["problems"].get(problem, 0) + 1
                if len(results["examples"]) < 5:
                    results["examples"].append(
                        {"problem": problem, "request": (request or b"").hex(), "reply": reply.hex()}
                    )

    started = time.monotonic()
    deadline = started + 2 * count / rate + 30
    for i in range(count):
        _kind, packet = mutate(rng, fresh(rng, rng.choice(seeds)))
        if len(packet) >= 48:
            sent.setdefault(packet[40:48], []).append(packet)
        results["answerable"] += must_answer(packet)
        while True:
            try:
                s.sendto(packet, (host, port))
                break
            except BlockingIOError:
                drain()
        results["sent"] += 1
        drain()
        ahead = started + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        if time.monotonic() > deadline:
            break
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        drain()
        time.sleep(0.01)
    results["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
