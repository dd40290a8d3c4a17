"""NTS in the NTP server's core: a client built from RFC 8915's rules gets an authenticated reply
with fresh cookies that open to its keys; a cookie the server cannot open gets an NTS NAK; a bad
Authenticator gets nothing; a reply is never larger than its request. And the NTS-KE answer."""

import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from appliance.core.ntp import ntske
from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import Drop, NtpServerCore, ServerState
from appliance.core.ntp.nts import (
    EF_AUTHENTICATOR,
    EF_COOKIE,
    EF_COOKIE_PLACEHOLDER,
    EF_UNIQUE_ID,
    NtsServer,
    extension_field,
)
from appliance.core.ntp.nts_cookie import COOKIE_BYTES, CookieError, CookieKeys, open_cookie, seal
from appliance.core.ntp.packet import ns_to_ntp, parse

RX_NS = 1_800_000_000 * 10**9
KEYS = CookieKeys({1: bytes(range(64)), 2: bytes(range(1, 65))}, current=2)
C2S, S2C = os.urandom(32), os.urandom(32)


def core(keys: CookieKeys = KEYS) -> NtpServerCore:
    c = NtpServerCore(AccessList(allow=["all"]), nts=NtsServer(keys, os.urandom))
    c.set_state(ServerState(synchronized=True, ref_time_ns=RX_NS - 10**9, dispersion_anchor_ns=RX_NS))
    return c


def request(cookie: bytes, placeholders: int = 0, placeholder_len: int | None = None, c2s: bytes = C2S):
    head = struct.pack("!BBbbII4sQQQQ", (4 << 3) | 3, 0, 6, -20, 0, 0, bytes(4), 0, 0, 0, ns_to_ntp(RX_NS))
    uid = os.urandom(32)
    body = head + extension_field(EF_UNIQUE_ID, uid) + extension_field(EF_COOKIE, cookie)
    for _ in range(placeholders):
        body += extension_field(EF_COOKIE_PLACEHOLDER, bytes(placeholder_len or len(cookie)))
    nonce = os.urandom(16)
    ct = AESSIV(c2s).encrypt(b"", [body, nonce])
    auth = struct.pack("!HH", len(nonce), len(ct)) + nonce + ct
    return body + extension_field(EF_AUTHENTICATOR, auth), uid


def client_reads(reply: bytes, uid: bytes) -> list[bytes]:
    """What the client checks (RFC 8915 5.7) and the cookies it takes out."""
    pkt = parse(reply)
    fields = list(pkt.extensions)
    assert fields[0] == (EF_UNIQUE_ID, uid)
    assert fields[-1][0] == EF_AUTHENTICATOR
    auth_at = len(reply) - (4 + len(fields[-1][1]))
    body = fields[-1][1]
    nlen, clen = struct.unpack_from("!HH", body)
    nonce = body[4 : 4 + nlen]
    plain = AESSIV(S2C).decrypt(body[4 + ((nlen + 3) & ~3) : 4 + ((nlen + 3) & ~3) + clen], [reply[:auth_at], nonce])
    cookies, pos = [], 0
    while pos < len(plain):
        ftype, flen = struct.unpack_from("!HH", plain, pos)
        assert ftype == EF_COOKIE
        cookies.append(plain[pos + 4 : pos + flen])
        pos += flen
    return cookies


def answer(c: NtpServerCore, data: bytes):
    out = c.handle(data, "198.18.0.9", 40000, RX_NS, 1.0)
    return out if isinstance(out, Drop) else out.finish(ns_to_ntp(RX_NS + 1000))


def test_an_nts_request_gets_an_authenticated_reply_with_fresh_cookies():
    data, uid = request(seal(KEYS, C2S, S2C, os.urandom(16)), placeholders=2)
    reply = answer(core(), data)
    assert len(reply) == len(data)  # never larger: three cookies asked for, three fit exactly
    cookies = client_reads(reply, uid)
    assert len(cookies) == 3 and len(set(cookies)) == 3
    for cookie in cookies:
        assert len(cookie) == COOKIE_BYTES
        assert open_cookie(KEYS, cookie) == (C2S, S2C)
    assert parse(reply).origin_ts == ns_to_ntp(RX_NS)


def test_a_cookie_sealed_with_an_older_key_still_opens():
    older = CookieKeys(KEYS.keys, current=1)
    data, uid = request(seal(older, C2S, S2C, os.urandom(16)))
    assert len(client_reads(answer(core(), data), uid)) == 1


def test_an_unknown_cookie_gets_an_nts_nak():
    other = CookieKeys({9: os.urandom(64)}, current=9)
    data, uid = request(seal(other, C2S, S2C, os.urandom(16)))
    c = core()
    reply = answer(c, data)
    pkt = parse(reply)
    assert pkt.stratum == 0 and pkt.ref_id == b"NTSN" and pkt.leap == 3
    assert pkt.extensions == ((EF_UNIQUE_ID, uid),)
    assert c.dropped["nts_bad_cookie"] == 1 and c.nts_naks == 1


def test_a_bad_authenticator_gets_nothing():
    data, _ = request(seal(KEYS, C2S, S2C, os.urandom(16)), c2s=os.urandom(32))
    c = core()
    assert answer(c, data) == Drop("nts_bad_auth")
    tampered, _ = request(seal(KEYS, C2S, S2C, os.urandom(16)))
    tampered = tampered[:20] + bytes([tampered[20] ^ 1]) + tampered[21:]
    assert answer(c, tampered) == Drop("nts_bad_auth")


def test_small_placeholders_do_not_buy_a_larger_reply():
    data, uid = request(seal(KEYS, C2S, S2C, os.urandom(16)), placeholders=7, placeholder_len=12)
    reply = answer(core(), data)
    assert len(reply) <= len(data)
    assert 1 <= len(client_reads(reply, uid)) < 8


def test_a_forged_cookie_does_not_open():
    cookie = bytearray(seal(KEYS, C2S, S2C, os.urandom(16)))
    cookie[-1] ^= 1
    with pytest.raises(CookieError, match="forged or damaged"):
        open_cookie(KEYS, bytes(cookie))


# --- NTS-KE -------------------------------------------------------------------------------------


def ke_request(protocols=(0,), aeads=(15,), extra=b"") -> bytes:
    out = ntske.encode_record(ntske.REC_NEXT_PROTOCOL, struct.pack(f"!{len(protocols)}H", *protocols), True)
    if aeads is not None:
        out += ntske.encode_record(ntske.REC_AEAD, struct.pack(f"!{len(aeads)}H", *aeads))
    return out + extra + ntske.encode_record(ntske.REC_END, critical=True)


def ke_answer(data: bytes, **kw) -> list[ntske.Record]:
    exported = {}

    def export(context: bytes) -> bytes:
        exported[context] = C2S if context[-1] == 0 else S2C
        return exported[context]

    records, complete = ntske.decode_records(
        ntske.respond(data, export, lambda c2s, s2c: seal(KEYS, c2s, s2c, os.urandom(16)), **kw)
    )
    assert complete
    return records


def test_ntske_answer_negotiates_and_hands_out_eight_cookies():
    records = ke_answer(ke_request(aeads=(30, 15)))
    kinds = [r.rtype for r in records]
    assert kinds[:2] == [ntske.REC_NEXT_PROTOCOL, ntske.REC_AEAD] and kinds[-1] == ntske.REC_END
    assert records[1].body == struct.pack("!H", 15)
    cookies = [r.body for r in records if r.rtype == ntske.REC_NEW_COOKIE]
    assert len(cookies) == 8 and all(open_cookie(KEYS, c) == (C2S, S2C) for c in cookies)
    assert ntske.REC_PORT not in kinds


def test_ntske_names_a_port_other_than_123():
    records = ke_answer(ke_request(), ntp_port=12300)
    assert [r.body for r in records if r.rtype == ntske.REC_PORT] == [struct.pack("!H", 12300)]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (ke_request(extra=ntske.encode_record(0x1234, b"x", critical=True)), ntske.ERROR_UNRECOGNIZED_CRITICAL),
        (ke_request(aeads=None), ntske.ERROR_BAD_REQUEST),
        (ntske.encode_record(ntske.REC_END, critical=True), ntske.ERROR_BAD_REQUEST),
        (ke_request()[:-4], ntske.ERROR_BAD_REQUEST),
        (ke_request() + b"junk", ntske.ERROR_BAD_REQUEST),
    ],
)
def test_ntske_errors(data, code):
    records = ke_answer(data)
    assert records[0].rtype == ntske.REC_ERROR and records[0].body == struct.pack("!H", code)


def test_ntske_offer_without_ntpv4_or_siv_gets_an_empty_record():
    assert ke_answer(ke_request(protocols=(0x8001,)))[0].body == b""
    records = ke_answer(ke_request(aeads=(1, 2)))
    assert records[1].rtype == ntske.REC_AEAD and records[1].body == b""
    assert not [r for r in records if r.rtype == ntske.REC_NEW_COOKIE]


def test_a_bad_certificate_or_key_is_named(tmp_path):
    from appliance.ntp.ntske_server import NtsKeError, tls_context
    from helpers.certs import make_ca, make_server_cert

    _, ca_key, ca_cert = make_ca(tmp_path)
    crt, key = make_server_cert(tmp_path, "198.18.0.1", ca_key, ca_cert)
    tls_context(crt, key)  # the pair is usable
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(NtsKeError, match=r"ntp.nts.certificate .*junk.pem: not a usable PEM certificate"):
        tls_context(tmp_path / "junk.pem", key)
    with pytest.raises(NtsKeError, match=r"ntp.nts.certificate .*missing.pem"):
        tls_context(tmp_path / "missing.pem", key)
    (tmp_path / "other").mkdir()
    _, other_key = make_server_cert(tmp_path / "other", "198.18.0.2", ca_key, ca_cert)
    with pytest.raises(NtsKeError, match=r"ntp.nts.key .*: not the certificate's private key"):
        tls_context(crt, other_key)
