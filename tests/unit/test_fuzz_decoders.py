"""Property-based fuzzing of every decoder (helpers.fuzz_targets): random bytes, and valid inputs
with bytes flipped, cut short or with junk appended. A decoder may refuse an input only with its
own error type; the NTP server never answers with more than it was sent, nor what it must not.
bench/fuzz_decoders.py is the long, coverage-guided run of the same targets."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.ntp.packet import ns_to_ntp
from appliance.core.ptp.datasets import MgmtId, PortIdentity
from appliance.core.ptp.mgmt import encode_get, encode_set
from helpers import fuzz_targets
from helpers.fuzz_targets import KEYS, TARGETS

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = 400  # per target and strategy in the suite; the bench runs 10^6 and more


def _ntp_request(version: int = 4, mode: int = 3, extensions: bytes = b"") -> bytes:
    head = struct.pack("!BBbbII4sQQQQ", (version << 3) | mode, 0, 6, -20, 0, 0, b"\0" * 4, 0, 0, 0, ns_to_ntp(1))
    return head + extensions


def _signed(key_id: int) -> bytes:
    data = _ntp_request()
    return data + KEYS[key_id].mac(data)


_PMC = {"sequence_id": 7, "domain": 0, "source": PortIdentity(bytes(range(8)), 1)}

SEEDS: dict[str, list[bytes]] = {
    "ntp_packet": [_ntp_request(), _ntp_request(extensions=struct.pack("!HH", 0x0104, 16) + bytes(12)), _signed(1)],
    "ntp_answer": [_ntp_request(), _ntp_request(1, 0), _signed(1), _signed(2), _ntp_request(3) + bytes(24)],
    "ptp_management": [
        encode_get(MgmtId.DEFAULT_DATA_SET, **_PMC),
        encode_get(MgmtId.PORT_DATA_SET, **_PMC),
        encode_set(MgmtId.PRIORITY1, 128, **_PMC),
    ],
    "ptp_management_data": [
        struct.pack("!H", MgmtId.DEFAULT_DATA_SET) + bytes(20),
        struct.pack("!H", 0x2004) + bytes(8),
    ],
    "control_request": [b'{"command": "status"}\n', b'{"command": "inject", "step_s": 1.5}\n'],
    "configuration": [
        (REPO / "examples" / "sim.yaml").read_bytes(),
        (REPO / "examples" / "control-node.yaml").read_bytes(),
    ],
    "keyfile": [
        b"1 SHA1 HEX:0011223344556677889900112233445566778899\n2 AES128 HEX:00112233445566778899aabbccddeeff\n"
    ],
    "leap_seconds": [
        (REPO / "tests" / "fixtures" / "leap" / name).read_bytes() for name in ("leap-seconds-2026-06-28.list",)
    ],
    "ptp4l_log": [
        b"ptp4l[1234.567]: master offset        -12 s2 freq   +1234 path delay       456\n",
        b"ptp4l[10.0]: port 1 (eth0): SLAVE to UNCALIBRATED on RS_SLAVE\n",
    ],
}


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(("flip", "set", "cut", "append", "insert")))
        if op in ("flip", "set") and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = data[i] ^ (1 << draw(st.integers(0, 7))) if op == "flip" else draw(st.integers(0, 255))
        elif op == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "append":
            data += draw(st.binary(max_size=64))
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


def test_every_decoder_has_a_seed():
    assert set(SEEDS) == set(TARGETS)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_seeds_themselves_pass(name):
    for data in SEEDS[name]:
        TARGETS[name](data)


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600))
def test_random_bytes(name, data):
    TARGETS[name](data)


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choice=st.data())
def test_mutated_valid_inputs(name, choice):
    TARGETS[name](choice.draw(mutated(SEEDS[name])))


def test_a_forged_mac_is_never_signed():
    # the trailer of a valid request with its digest's bytes changed: a crypto-NAK, never a MAC
    data = bytearray(_signed(2))
    data[-1] ^= 0x01
    fuzz_targets.ntp_answer(bytes(data))
    outcome = fuzz_targets._server().handle(bytes(data), "198.18.0.2", 40000, fuzz_targets.RX_NS, 1.0)
    assert outcome.finish(0)[48:] == b"\0\0\0\0"
