import struct

import pytest

from appliance.core.ntp import packet as P
from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import DROP_REASONS, Drop, NtpServerCore, Reply, ServerState
from appliance.core.ntp.ratelimit import RateLimiter

RX_NS = 1_800_000_000_123_456_789
TX_NTP = 0xE000_0000_8000_0000
CLIENT_TX = 0xDEAD_BEEF_0000_0001


def request(version=4, mode=3, transmit=CLIENT_TX, poll=6, extra=b""):
    return (
        P.NtpPacket(
            leap=0,
            version=version,
            mode=mode,
            stratum=0,
            poll=poll,
            precision=-6,
            root_delay=0,
            root_dispersion=0,
            ref_id=b"\x00" * 4,
            ref_ts=0,
            origin_ts=0,
            receive_ts=0,
            transmit_ts=transmit,
        ).encode()
        + extra
    )


def synced_core(**kw):
    core = NtpServerCore(AccessList(["all"]), **kw)
    core.set_state(
        ServerState(
            synchronized=True,
            stratum=1,
            ref_id=b"PHC\x00",
            ref_time_ns=RX_NS - 10**9,
            root_dispersion_s=2.5e-6,
            precision_log2=-24,
        )
    )
    return core


def answer(core, data, ip="198.18.0.2", port=40000, now_s=0.0):
    res = core.handle(data, ip, port, RX_NS, now_s)
    assert isinstance(res, Reply), res
    out = res.finish(TX_NTP)
    assert len(out) <= len(data)
    return P.parse(out)


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_answers_client_mode_echoing_version(version):
    r = answer(synced_core(), request(version=version))
    assert (r.version, r.mode, r.stratum, r.leap) == (version, 4, 1, 0)
    assert r.origin_ts == CLIENT_TX
    assert P.ntp_to_ns(r.receive_ts, RX_NS // 10**9) == pytest.approx(RX_NS, abs=1)
    assert r.transmit_ts == TX_NTP
    assert r.ref_id == b"PHC\x00"
    assert r.precision == -24
    assert P.short_to_seconds(r.root_dispersion) >= 2.5e-6  # the bound, rounded up


def test_ntpv1_mode_zero_is_a_client_unless_from_port_123():
    core = synced_core()
    assert answer(core, request(version=1, mode=0), port=40000).mode == 4
    assert core.handle(request(version=1, mode=0), "198.18.0.2", 123, RX_NS, 0).reason == "mode_reserved"


@pytest.mark.parametrize(
    "mode,reason",
    [
        (0, "mode_reserved"),
        (1, "mode_symmetric_active"),
        (2, "mode_symmetric_passive"),
        (4, "mode_server"),
        (5, "mode_broadcast"),
        (6, "mode_control"),
        (7, "mode_private"),
    ],
)
def test_never_answers_other_modes(mode, reason):
    core = synced_core()
    res = core.handle(request(mode=mode), "198.18.0.2", 40000, RX_NS, 0)
    assert res == Drop(reason)
    assert core.dropped[reason] == 1 and core.answered == 0


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "short"),
        (request()[:47], "short"),
        (request() + bytes(2000), "oversized"),
        (bytes([(0 << 3) | 3]) + bytes(47), "bad_version"),
        (bytes([(5 << 3) | 3]) + bytes(47), "bad_version"),
        (request(extra=struct.pack("!HH", 1, 300) + bytes(12)), "bad_extension"),
        (request(extra=bytes(7)), "bad_extension"),
        (request(extra=bytes(20)), "authenticated"),
    ],
)
def test_drops_malformed(data, reason):
    core = synced_core()
    assert core.handle(data, "198.18.0.2", 40000, RX_NS, 0) == Drop(reason)
    assert core.received == 1 and core.dropped[reason] == 1


def test_well_formed_unknown_extension_is_ignored_and_reply_is_header_only():
    ef = struct.pack("!HH", 0x0204, 16) + bytes(12)
    data = request(extra=ef)
    r = answer(synced_core(), data)
    assert r.extensions == () and len(r.encode()) == 48


def test_unsynchronized_answers_leap3_no_stratum1():
    core = NtpServerCore(AccessList(["all"]))
    r = answer(core, request())
    assert r.leap == 3 and r.stratum == 16 and r.ref_id == b"\x00" * 4


def test_state_switch_takes_effect():
    core = synced_core()
    core.set_state(ServerState.unsynchronized())
    assert answer(core, request()).leap == 3


def test_access_control_default_deny_and_specific_wins():
    core = NtpServerCore(AccessList(["198.18.0.0/16"], ["198.18.5.0/24"]))
    core.set_state(ServerState(synchronized=True))
    assert isinstance(core.handle(request(), "198.18.1.1", 40000, RX_NS, 0), Reply)
    assert core.handle(request(), "198.18.5.1", 40000, RX_NS, 0) == Drop("denied")
    assert core.handle(request(), "203.0.113.1", 40000, RX_NS, 0) == Drop("denied")
    assert core.handle(request(), "::1", 40000, RX_NS, 0) == Drop("denied")


def test_rate_limit_with_kiss_of_death():
    core = synced_core(ratelimit=RateLimiter(interval_s=1, burst=4, kod=True))
    results = [core.handle(request(), "198.18.0.9", 40000, RX_NS, 0.001 * i) for i in range(10)]
    replies = [r for r in results if isinstance(r, Reply)]
    # 4 from the burst, then one RATE KoD, then silence within the same second
    assert len(replies) == 5
    kod = P.parse(replies[-1].finish(TX_NTP))
    assert (kod.stratum, kod.leap, kod.ref_id) == (0, 3, b"RATE")
    assert kod.transmit_ts == CLIENT_TX and kod.receive_ts == CLIENT_TX  # no time in a KoD
    assert core.kod_sent == 1 and core.dropped["ratelimited"] == 6 and core.answered == 4
    # another client is still answered
    assert isinstance(core.handle(request(), "198.18.0.10", 40000, RX_NS, 0.01), Reply)
    # and the flooding client gets a token back after the interval
    assert isinstance(core.handle(request(), "198.18.0.9", 40000, RX_NS, 1.5), Reply)


def test_poll_is_echoed_within_limits():
    assert answer(synced_core(), request(poll=10)).poll == 10
    assert answer(synced_core(), request(poll=100)).poll == 17
    assert answer(synced_core(), request(poll=-100)).poll == -6


def test_counters_cover_every_reason():
    c = synced_core().counters()
    assert set(c["dropped"]) == set(DROP_REASONS)
    assert c["received"] == c["answered"] == c["kod_sent"] == 0
