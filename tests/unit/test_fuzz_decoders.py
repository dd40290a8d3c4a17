"""Property-based fuzzing of every decoder (helpers.fuzz_targets): random bytes, and valid inputs
with bytes flipped, cut short or with junk appended. A decoder may refuse an input only with its
own error type; the NTP server never answers with more than it was sent, nor what it must not.
bench/fuzz_decoders.py is the long, coverage-guided run of the same targets."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import fuzz_targets
from helpers.fuzz_targets import SEEDS, TARGETS, signed_request

EXAMPLES = 400  # per target and strategy in the suite; the bench runs 10^6 and more


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
    data = bytearray(signed_request(2))
    data[-1] ^= 0x01
    fuzz_targets.ntp_answer(bytes(data))
    outcome = fuzz_targets._server().handle(bytes(data), "198.18.0.2", 40000, fuzz_targets.RX_NS, 1.0)
    assert outcome.finish(0)[48:] == b"\0\0\0\0"
