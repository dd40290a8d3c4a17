import hashlib
import struct

import pytest

from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import NtpServerCore
from appliance.core.ntp.symkey import CRYPTO_NAK, KeyfileError, KeyRing, SymmetricKey, parse_keyfile

KEYFILE = """
# comment
1 SHA256 HEX:00112233445566778899AABBCCDDEEFF
2 AES128 HEX:2b7e151628aed2a6abf7158809cf4f3c
3 secret
"""


def test_keyfile_parses_types_and_defaults():
    keys = parse_keyfile(KEYFILE)
    assert keys[1].kind == "SHA256" and keys[1].secret == bytes.fromhex("00112233445566778899aabbccddeeff")
    assert keys[2].kind == "AES128"
    assert keys[3] == SymmetricKey(3, "MD5", b"secret")


@pytest.mark.parametrize(
    "line, words",
    [
        ("x SHA1 abc", "key id 'x'"),
        ("1 FOO abc", "key type 'FOO'"),
        ("1 AES128 HEX:00", "16 bytes"),
        ("1 SHA1 HEX:zz", "not hexadecimal"),
        ("1 SHA1 a b", "4 fields"),
    ],
)
def test_keyfile_errors_name_line(line, words):
    with pytest.raises(KeyfileError, match=words) as e:
        parse_keyfile("\n" + line, "k.keys")
    assert "k.keys line 2" in str(e.value)


def test_aes_cmac_rfc4493_vector():
    key = SymmetricKey(2, "AES128", bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    assert key.digest(b"").hex() == "bb1d6929e95937287fa37d129b756746"


def test_hash_mac_is_whole_keyed_hash():
    key = SymmetricKey(1, "SHA256", b"k")
    assert key.mac(b"data") == struct.pack("!I", 1) + hashlib.sha256(b"kdata").digest()
    assert len(SymmetricKey(3, "MD5", b"k").mac(b"d")) == 20


def _request(key: SymmetricKey | None, mac: bytes | None = None) -> bytes:
    data = bytes([0x23]) + bytes(39) + struct.pack("!Q", 0x1234)
    if key is not None:
        data += key.mac(data) if mac is None else mac
    return data


def _core(keys):
    return NtpServerCore(AccessList(["198.18.0.0/15"], []), None, keys=keys)


def test_valid_mac_is_answered_signed_with_same_key():
    keys = parse_keyfile(KEYFILE)
    core = _core(KeyRing(keys))
    for key in keys.values():
        reply = core.handle(_request(key), "198.18.0.2", 40000, 10**18, 0.0)
        packet = reply.finish(0xABCD)
        assert len(packet) == 48 + len(key.mac(b""))
        assert packet[48:] == key.mac(packet[:48])
    assert core.authenticated == 3


def test_wrong_key_gets_crypto_nak_and_unknown_id_too():
    keys = parse_keyfile(KEYFILE)
    core = _core(KeyRing(keys))
    wrong = SymmetricKey(1, "SHA256", b"not the key")
    packet = core.handle(_request(wrong), "198.18.0.2", 40000, 10**18, 0.0).finish(1)
    assert packet[48:] == CRYPTO_NAK
    unknown = SymmetricKey(9, "SHA256", b"x")
    assert core.handle(_request(unknown), "198.18.0.2", 40000, 10**18, 0.0).finish(1)[48:] == CRYPTO_NAK
    assert core.crypto_naks == 2 and core.authenticated == 0


def test_without_keys_mac_requests_are_dropped_and_plain_ones_unsigned():
    core = _core(None)
    key = SymmetricKey(1, "SHA256", b"k")
    assert core.handle(_request(key), "198.18.0.2", 40000, 10**18, 0.0).__class__.__name__ == "Drop"
    keyed = _core(KeyRing({1: key}))
    assert len(keyed.handle(_request(None), "198.18.0.2", 40000, 10**18, 0.0).finish(1)) == 48
