"""Every decoder of the appliance as a fuzz target: bytes in, the decoder's own error type or a
value out, and the invariants that must hold for whatever came in.

A target returns normally when the input was handled as it must be (decoded, or refused with the
decoder's own error); anything else escapes: another exception type is a bug in the decoder, an
AssertionError a broken invariant. tests/unit/test_fuzz_decoders.py runs them under hypothesis,
bench/fuzz_decoders.py under atheris (coverage-guided, 10^6 inputs and more).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from pathlib import Path

from appliance import config as config_mod
from appliance import yamlfile
from appliance.control_socket import ControlRequestError, decode_request
from appliance.core import leapseconds
from appliance.core.ntp import ntske
from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import Drop, NtpServerCore, Reply, ServerState
from appliance.core.ntp.nts import EF_AUTHENTICATOR, EF_COOKIE, EF_COOKIE_PLACEHOLDER, EF_UNIQUE_ID, NtsServer
from appliance.core.ntp.nts import extension_field as ef
from appliance.core.ntp.nts_cookie import CookieKeys, seal
from appliance.core.ntp.packet import NTP_HEADER_LEN, NtpPacketError, ns_to_ntp
from appliance.core.ntp.packet import parse as parse_ntp
from appliance.core.ntp.symkey import CRYPTO_NAK, KeyfileError, KeyRing, SymmetricKey, parse_keyfile
from appliance.core.ptp import log as ptp_log
from appliance.core.ptp.datasets import MgmtId, PortIdentity, PtpMgmtError, decode_data
from appliance.core.ptp.mgmt import decode as decode_mgmt
from appliance.core.ptp.mgmt import encode_get, encode_set

REPO = Path(__file__).resolve().parents[2]

CLIENT_IP = "198.18.0.2"
CLIENT_PORT = 40123
RX_NS = 1_800_000_000 * 10**9
KEYS = {
    1: SymmetricKey(1, "SHA1", hashlib.sha256(b"fuzz key 1").digest()[:20]),
    2: SymmetricKey(2, "AES128", hashlib.sha256(b"fuzz key 2").digest()[:16]),
}


def ntp_packet(data: bytes) -> None:
    """packet.parse: a packet or NtpPacketError; what it decodes encodes back to itself."""
    try:
        pkt = parse_ntp(data)
    except NtpPacketError as exc:
        assert exc.reason, "an NtpPacketError without a counter reason"
        return
    assert parse_ntp(pkt.encode()) == pkt


COOKIE_KEYS = CookieKeys({5: hashlib.sha512(b"fuzz cookie key").digest()}, current=5)
C2S, S2C = hashlib.sha256(b"c2s").digest(), hashlib.sha256(b"s2c").digest()


def _not_random(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(2)).digest()[:n]


def _server() -> NtpServerCore:
    nts = NtsServer(COOKIE_KEYS, _not_random)
    core = NtpServerCore(AccessList(allow=["all"]), keys=KeyRing(KEYS), nts=nts)
    core.set_state(ServerState(synchronized=True, ref_time_ns=RX_NS - 10**9, dispersion_anchor_ns=RX_NS))
    return core


_SERVER = _server()


def ntp_answer(data: bytes) -> None:
    """The server's decision for one datagram: no answer larger than the request, answers only to
    client requests, a MAC only when the request's MAC verified, never anything else raised."""
    outcome = _SERVER.handle(data, CLIENT_IP, CLIENT_PORT, RX_NS, 1000.0)
    if isinstance(outcome, Drop):
        return
    assert isinstance(outcome, Reply), outcome
    reply = outcome.finish(0x1234_5678_9ABC_DEF0)
    assert len(reply) <= len(data), f"a {len(reply)}-byte answer to a {len(data)}-byte request"
    request = parse_ntp(data)  # anything answered was a well-formed packet
    assert request.mode == 3 or (request.mode == 0 and request.version == 1), f"answered mode {request.mode}"
    head = parse_ntp(reply)
    assert head.mode == 4 and head.version == request.version
    assert head.origin_ts == request.transmit_ts
    trailer = reply[NTP_HEADER_LEN:]
    if any(ftype in (EF_UNIQUE_ID, EF_COOKIE, EF_AUTHENTICATOR) for ftype, _ in request.extensions) and not request.mac:
        assert head.extensions and head.extensions[0][0] == EF_UNIQUE_ID, "an NTS answer without its Unique Identifier"
        return
    if not request.mac:
        assert trailer == b"", "a MAC on the answer to an unauthenticated request"
    elif KeyRing(KEYS).check(data[: len(data) - len(request.mac)], request.mac) is None:
        assert trailer == CRYPTO_NAK, "an answer to a bad MAC that is not a crypto-NAK"
    else:
        key = KEYS[struct.unpack_from("!I", request.mac)[0]]
        assert trailer == key.mac(reply[:NTP_HEADER_LEN])


def ntske_request(data: bytes) -> None:
    """A client's NTS-KE request: the answer is always whole records ending with End of Message."""
    answer = ntske.respond(data, lambda context: C2S if context[-1] == 0 else S2C, lambda c, s: b"cookie")
    records, complete = ntske.decode_records(answer)
    assert complete and records[-1].rtype == ntske.REC_END


def ptp_management(data: bytes) -> None:
    """A ptp4l management message (with its TLV): a message or PtpMgmtError."""
    try:
        decode_mgmt(data)
    except PtpMgmtError:
        pass


def ptp_management_data(data: bytes) -> None:
    """The data field of a MANAGEMENT TLV, for the id in the first two octets."""
    if len(data) < 2:
        return
    try:
        decode_data(struct.unpack_from("!H", data)[0], data[2:])
    except PtpMgmtError:
        pass


def control_request(data: bytes) -> None:
    """One control socket request line: an object with a string command, or ControlRequestError."""
    try:
        request = decode_request(data)
    except ControlRequestError as exc:
        assert str(exc)
        return
    assert isinstance(request, dict) and isinstance(request["command"], str)


def configuration(data: bytes) -> None:
    """The configuration file: YAML (YamlError) then the schema (ConfigError), never a bare error."""
    text = data.decode("utf-8", errors="replace")
    try:
        loaded, positions = yamlfile.load(text)
    except yamlfile.YamlError:
        return
    try:
        config_mod.parse(loaded, "fuzz.yaml", positions)
    except config_mod.ConfigError as exc:
        assert exc.problems, "a ConfigError that names no problem"


def keyfile(data: bytes) -> None:
    """A chrony-format keyfile: keys or KeyfileError."""
    try:
        parse_keyfile(data.decode("utf-8", errors="replace"), "fuzz.keys")
    except KeyfileError:
        pass


def leap_seconds(data: bytes) -> None:
    """leap-seconds.list: a table or LeapFileError."""
    try:
        leapseconds.parse(data.decode("utf-8", errors="replace"))
    except leapseconds.LeapFileError:
        pass


def ptp4l_log(data: bytes) -> None:
    """One line of ptp4l's log: an event or None, whatever the line (it never raises)."""
    for line in data.decode("utf-8", errors="replace").splitlines() or [""]:
        ptp_log.parse_line(line)


# --- seeds: valid inputs the mutations start from --------------------------------------------


def _ntp_request(version: int = 4, mode: int = 3, extensions: bytes = b"") -> bytes:
    head = struct.pack("!BBbbII4sQQQQ", (version << 3) | mode, 0, 6, -20, 0, 0, b"\0" * 4, 0, 0, 0, ns_to_ntp(1))
    return head + extensions


def nts_request(placeholders: int = 1) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    body = _ntp_request() + ef(EF_UNIQUE_ID, bytes(range(32))) + ef(EF_COOKIE, seal(COOKIE_KEYS, C2S, S2C, bytes(16)))
    body += b"".join(ef(EF_COOKIE_PLACEHOLDER, bytes(100)) for _ in range(placeholders))
    nonce = bytes(range(16))
    ct = AESSIV(C2S).encrypt(b"", [body, nonce])
    return body + ef(EF_AUTHENTICATOR, struct.pack("!HH", 16, len(ct)) + nonce + ct)


def signed_request(key_id: int) -> bytes:
    data = _ntp_request()
    return data + KEYS[key_id].mac(data)


_PMC = {"sequence_id": 7, "domain": 0, "source": PortIdentity(bytes(range(8)), 1)}

SEEDS: dict[str, list[bytes]] = {
    "ntp_packet": [
        _ntp_request(),
        _ntp_request(extensions=struct.pack("!HH", 0x0104, 16) + bytes(12)),
        signed_request(1),
    ],
    "ntp_answer": [
        _ntp_request(),
        _ntp_request(1, 0),
        signed_request(1),
        signed_request(2),
        _ntp_request(3) + bytes(24),
        nts_request(0),
        nts_request(2),
    ],
    "ntske_request": [
        ntske.encode_record(ntske.REC_NEXT_PROTOCOL, bytes(2), True)
        + ntske.encode_record(ntske.REC_AEAD, struct.pack("!H", 15))
        + ntske.encode_record(ntske.REC_END, critical=True)
    ],
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


TARGETS: dict[str, Callable[[bytes], None]] = {
    "ntp_packet": ntp_packet,
    "ntp_answer": ntp_answer,
    "ntske_request": ntske_request,
    "ptp_management": ptp_management,
    "ptp_management_data": ptp_management_data,
    "control_request": control_request,
    "configuration": configuration,
    "keyfile": keyfile,
    "leap_seconds": leap_seconds,
    "ptp4l_log": ptp4l_log,
}
