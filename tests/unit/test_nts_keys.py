"""The NTS cookie key store: keys survive a restart, rotate on time and keep the previous ones for
a grace period, an unusable file is set aside (and new keys made), and with a shared key two
nodes hold the same keys without talking."""

import json
import os

import pytest

from appliance.core.ntp.nts_cookie import CookieError, open_cookie, seal
from appliance.runtime.nts_keys import FILE, CookieKeyStore, NtsKeyError, read_shared_key

DAY_S = 86400.0
T0 = 1_800_000_000.0


def test_keys_survive_a_restart_and_rotate_with_a_grace_period(tmp_path):
    store = CookieKeyStore(tmp_path, DAY_S, keep=3)
    first = store.keys(T0)
    cookie = seal(first, bytes(32), bytes(range(32)), os.urandom(16))
    again = CookieKeyStore(tmp_path, DAY_S, keep=3).keys(T0 + 60)  # a restart a minute later
    assert again == first and open_cookie(again, cookie) == (bytes(32), bytes(range(32)))
    assert json.loads((tmp_path / FILE).read_text())["version"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name != FILE]  # written atomically: nothing left

    later = [store.keys(T0 + DAY_S * d) for d in (1, 2)]
    assert len({k.current for k in (first, *later)}) == 3
    assert open_cookie(later[-1], cookie)  # two rotations on, the first key still opens it
    third = store.keys(T0 + 3 * DAY_S)
    assert first.current not in third.keys and len(third.keys) == 3
    with pytest.raises(CookieError, match="no longer"):
        open_cookie(third, cookie)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"version": 1, "keys": []}', b'{"keys": [{"id": 1, "created_s": 0, "key": "00"}]}', b"\xff\xfe"],
)
def test_an_unusable_key_file_is_set_aside_and_new_keys_made(tmp_path, content):
    (tmp_path / FILE).write_bytes(content)
    keys = CookieKeyStore(tmp_path, DAY_S, keep=3).keys(T0)
    assert len(keys.keys) == 1
    aside = [p.name for p in tmp_path.iterdir() if p.name.startswith(FILE + ".corrupt-")]
    assert len(aside) == 1
    assert json.loads((tmp_path / FILE).read_text())["keys"][0]["id"] == keys.current


def test_a_shared_key_gives_every_node_the_same_keys_and_writes_nothing(tmp_path):
    secret = b"x" * 48
    a = CookieKeyStore(tmp_path / "a", DAY_S, keep=3, shared_secret=secret)
    b = CookieKeyStore(tmp_path / "b", DAY_S, keep=3, shared_secret=secret)
    ka, kb = a.keys(T0), b.keys(T0 + 5)
    assert ka == kb and len(ka.keys) == 3
    cookie = seal(ka, bytes(32), bytes(32), os.urandom(16))
    assert open_cookie(b.keys(T0 + DAY_S + 5), cookie)  # a rotation later, on the other node
    other = CookieKeyStore(tmp_path / "c", DAY_S, keep=3, shared_secret=b"y" * 48).keys(T0)
    with pytest.raises(CookieError):
        open_cookie(other, cookie)
    assert not (tmp_path / "a").exists()
    assert 0 < a.due_s(T0) <= DAY_S


def test_a_short_or_missing_shared_key_is_named(tmp_path):
    (tmp_path / "short").write_bytes(b"tooshort")
    with pytest.raises(NtsKeyError, match="8 bytes, at least 32"):
        read_shared_key(tmp_path / "short")
    with pytest.raises(NtsKeyError, match="No such file"):
        read_shared_key(tmp_path / "missing")
