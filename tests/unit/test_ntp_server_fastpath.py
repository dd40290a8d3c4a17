"""The fast path of NtpServerCore.handle (bare 48-byte client requests) decides exactly like the
general path: same reply bytes, same drops, same counters, for any 48-byte datagram, server state,
access list and rate limit."""

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.ntp import packet as P
from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import Drop, NtpServerCore, Reply, ServerState
from appliance.core.ntp.interleave import InterleaveTable
from appliance.core.ntp.ratelimit import RateLimiter

RX_NS = 1_800_000_000_123_456_789
TX_NTP = 0xE000_0000_8000_0000

states = st.one_of(
    st.just(ServerState.unsynchronized(-22)),
    st.builds(
        ServerState,
        synchronized=st.just(True),
        stratum=st.integers(1, 15),
        ref_id=st.binary(min_size=4, max_size=4),
        ref_time_ns=st.integers(0, 2**62),
        root_delay_s=st.floats(0, 70000, allow_nan=False),
        root_dispersion_s=st.floats(0, 70000, allow_nan=False),
        precision_log2=st.integers(-32, 0),
        leap=st.sampled_from(list(P.Leap)[:3]),
    ),
)

# Mostly client-mode first octets (what the fast path takes), and any octet at all.
first_octets = st.one_of(
    st.builds(lambda li, vn: (li << 6) | (vn << 3) | 3, st.integers(0, 3), st.integers(0, 7)),
    st.integers(0, 255),
)


def make_core(state, ratelimited, allow, interleave=False):
    core = NtpServerCore(
        AccessList(allow),
        RateLimiter(1, 3, True) if ratelimited else None,
        interleave=InterleaveTable(4) if interleave else None,
    )
    core.set_state(state)
    return core


def outcome(result):
    if isinstance(result, Drop):
        return ("drop", result.reason)
    assert isinstance(result, Reply)
    return ("reply", result.finish(TX_NTP))


@settings(max_examples=400, deadline=None)
@given(
    state=states,
    lvm=first_octets,
    body=st.binary(min_size=47, max_size=47),
    ratelimited=st.booleans(),
    allow=st.sampled_from([["all"], ["198.18.0.0/16"], ["203.0.113.0/24"]]),
    port=st.sampled_from([123, 40000]),
    repeats=st.integers(1, 6),
    interleave=st.booleans(),
)
def test_fast_path_decides_like_the_general_path(state, lvm, body, ratelimited, allow, port, repeats, interleave):
    data = bytes([lvm]) + body
    fast = make_core(state, ratelimited, allow, interleave)
    general = make_core(state, ratelimited, allow, interleave)
    for i in range(repeats):  # repeats drive the rate limiter into DROP and KoD
        now_s = 0.01 * i
        a = fast.handle(data, "198.18.0.7", port, RX_NS, now_s)
        general.received += 1
        b = general._handle_general(data, "198.18.0.7", port, RX_NS, now_s)
        assert outcome(a) == outcome(b)
        if isinstance(a, Reply) and a.track_tx:  # the request names this reply next time
            assert isinstance(b, Reply) and b.track_tx
            fast.record_tx(a.finish(TX_NTP), RX_NS + 1000)
            general.record_tx(b.finish(TX_NTP), RX_NS + 1000)
            data = data[:24] + a.finish(TX_NTP)[32:40] + data[32:]
    assert fast.counters() == general.counters()


def test_fast_path_reply_fields():
    core = make_core(
        ServerState(
            synchronized=True,
            stratum=1,
            ref_id=b"PHC\x00",
            ref_time_ns=RX_NS - 10**9,
            root_dispersion_s=1e-5,
            precision_log2=-23,
        ),
        False,
        ["all"],
    )
    req = bytes([(3 << 6) | (2 << 3) | 3, 0, 0xF0]) + bytes(37) + struct.pack("!Q", 0x1234_5678_9ABC_DEF0)
    r = P.parse(core.handle(req, "198.18.0.7", 40000, RX_NS, 0.0).finish(TX_NTP))
    assert (r.leap, r.version, r.mode, r.stratum, r.poll, r.precision) == (0, 2, 4, 1, -6, -23)
    assert r.origin_ts == 0x1234_5678_9ABC_DEF0 and r.transmit_ts == TX_NTP
    assert r.ref_id == b"PHC\x00" and P.short_to_seconds(r.root_dispersion) >= 1e-5
    assert core.answered == core.received == 1


datagrams = st.one_of(
    st.binary(max_size=1200),
    st.builds(lambda lvm, rest: bytes([lvm]) + rest, first_octets, st.binary(min_size=47, max_size=120)),
)


@settings(max_examples=300, deadline=None)
@given(data=datagrams, ratelimited=st.booleans())
def test_handle_never_raises_and_never_amplifies(data, ratelimited):
    core = make_core(ServerState(synchronized=True), ratelimited, ["all"])
    for i in range(5):  # burst 3: the 4th and 5th are rate-limited (a KoD, then a drop)
        res = core.handle(data, "198.18.0.7", 40000, RX_NS, 0.01 * i)
        if isinstance(res, Reply):
            assert len(res.finish(TX_NTP)) == 48 <= len(data)
        else:
            assert isinstance(res, Drop)
    c = core.counters()
    # a KoD is counted as rate-limited (and in kod_sent), never as answered
    assert c["received"] == 5 == c["answered"] + sum(c["dropped"].values())
