import pytest

from appliance.core.ntp.access import AccessList
from appliance.core.ntp.ratelimit import RateDecision, RateLimiter, client_key


def test_token_bucket_refills():
    rl = RateLimiter(interval_s=2, burst=2, kod=False)
    assert [rl.check("a", 0) for _ in range(3)] == [RateDecision.ALLOW, RateDecision.ALLOW, RateDecision.DROP]
    assert rl.check("a", 1.0) is RateDecision.DROP  # half a token
    assert rl.check("a", 2.1) is RateDecision.ALLOW


def test_kod_at_most_once_per_interval():
    rl = RateLimiter(interval_s=1, burst=1, kod=True)
    verdicts = [rl.check("a", 0.01 * i) for i in range(20)]
    assert verdicts.count(RateDecision.KOD) == 1


def test_table_is_bounded():
    rl = RateLimiter(interval_s=1, burst=1, kod=False, max_clients=100)
    for i in range(1000):
        rl.check(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(rl) <= 100


def test_ipv6_clients_share_their_64():
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:198.18.0.1") == "198.18.0.1"


@pytest.mark.parametrize("bad", [dict(interval_s=0, burst=1), dict(interval_s=1, burst=0)])
def test_bad_parameters(bad):
    with pytest.raises(ValueError):
        RateLimiter(kod=False, **bad)


def test_access_all_and_v6():
    acl = AccessList(["all"], ["fd00::/8"])
    assert acl.permits("198.18.0.1") and acl.permits("2001:db8::1")
    assert not acl.permits("fd00::5")
    assert AccessList().empty and not AccessList().permits("127.0.0.1")
    assert AccessList(["198.18.0.0/15"]).permits("::ffff:198.19.0.1")


def test_access_bad_network_names_it():
    with pytest.raises(ValueError, match="10.0.0.0/33"):
        AccessList(["10.0.0.0/33"])
