"""VIP leases: one host holds a VIP at a time, renews it, hands it over only once it expired
or its holder can no longer forward it; the holder's kernel state ends before the lease; and
VIPs and leases survive the store as they were written."""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import vips
from romana.core.errors import InvalidInput
from romana.core.identifiers import AllocationKey, HostName

H1, H2, H3 = HostName("h1"), HostName("h2"), HostName("h3")
TTL = 1.2
NOW = 1_000.0


def ask(
    current: vips.Lease | None,
    host: HostName,
    *,
    now: float = NOW,
    eligible: tuple[HostName, ...] = (H1, H2),
    release: bool = False,
) -> vips.Grant:
    return vips.grant("web", current, host, now=now, ttl=TTL, eligible=eligible, release=release)


def test_the_first_eligible_asker_gets_term_one() -> None:
    got = ask(None, H1)
    assert got == vips.Grant(
        vips.Lease("web", H1, NOW + TTL, 1), True, vips.Lease("web", H1, NOW + TTL, 1)
    )


def test_the_holder_renews_from_now_keeping_the_term() -> None:
    current = vips.Lease("web", H1, NOW + 0.3, 4)
    got = ask(current, H1)
    assert got.held
    assert got.lease == got.write == vips.Lease("web", H1, NOW + TTL, 4)


def test_another_eligible_host_is_refused_while_the_lease_is_valid() -> None:
    current = vips.Lease("web", H1, NOW + 0.01, 4)
    got = ask(current, H2)
    assert got == vips.Grant(current, False, None)
    # the last instant before expiry is still the holder's
    assert ask(vips.Lease("web", H1, NOW + 1e-6, 4), H2).held is False


def test_an_expired_lease_goes_to_the_next_eligible_asker_with_the_next_term() -> None:
    current = vips.Lease("web", H1, NOW, 4)  # expires exactly now: no longer valid
    got = ask(current, H2)
    assert got.held
    assert got.lease == got.write == vips.Lease("web", H2, NOW + TTL, 5)


def test_the_holder_taking_back_its_own_expired_lease_keeps_the_term() -> None:
    current = vips.Lease("web", H1, NOW - 5, 4)
    got = ask(current, H1)
    assert got.held
    assert got.write == vips.Lease("web", H1, NOW + TTL, 4)


def test_a_valid_lease_of_a_holder_no_longer_eligible_is_taken() -> None:
    current = vips.Lease("web", H1, NOW + 1.0, 4)
    got = ask(current, H2, eligible=(H2, H3))
    assert got.held
    assert got.write == vips.Lease("web", H2, NOW + TTL, 5)


def test_a_host_that_is_not_eligible_is_refused_and_nothing_is_written() -> None:
    assert ask(None, H3) == vips.Grant(None, False, None)
    expired = vips.Lease("web", H1, NOW - 1, 2)
    assert ask(expired, H3) == vips.Grant(expired, False, None)
    # nor does the holder renew once it is no longer eligible: the lease runs out
    current = vips.Lease("web", H1, NOW + 1.0, 2)
    assert ask(current, H1, eligible=(H2,)) == vips.Grant(current, False, None)


def test_release_by_the_holder_ends_the_lease_now_with_the_term_kept() -> None:
    current = vips.Lease("web", H1, NOW + 1.0, 7)
    got = ask(current, H1, release=True)
    ended = vips.Lease("web", H1, NOW, 7)
    assert got == vips.Grant(ended, False, ended)
    assert not ended.valid(NOW)
    # so the next eligible host takes it at once, with the next term
    assert ask(ended, H2).write == vips.Lease("web", H2, NOW + TTL, 8)


def test_release_by_anyone_else_or_of_an_ended_lease_changes_nothing() -> None:
    current = vips.Lease("web", H1, NOW + 1.0, 7)
    assert ask(current, H2, release=True) == vips.Grant(current, False, None)
    assert ask(None, H2, release=True) == vips.Grant(None, False, None)
    expired = vips.Lease("web", H1, NOW - 1.0, 7)
    assert ask(expired, H1, release=True) == vips.Grant(expired, False, None)


def test_the_term_grows_only_when_the_holder_changes() -> None:
    lease: vips.Lease | None = None
    terms = []
    now = NOW
    for host, step in [(H1, 0.0), (H1, 0.3), (H1, 0.3), (H2, 2.0), (H2, 0.3), (H1, 2.0)]:
        now += step
        got = ask(lease, host, now=now)
        assert got.held, (host, now)
        lease = got.lease
        assert lease is not None
        terms.append(lease.term)
    assert terms == [1, 1, 1, 2, 2, 3]


def test_a_lease_is_valid_until_it_expires() -> None:
    lease = vips.Lease("web", H1, NOW, 1)
    assert lease.valid(NOW - 0.001)
    assert not lease.valid(NOW)
    assert not lease.valid(NOW + 1)


def test_the_kernel_state_ends_before_the_lease_measured_from_the_ask() -> None:
    ttl = vips.DEFAULT_TTL
    for asked, answered in [(10.0, 10.0), (10.0, 10.1), (500.0, 500.05)]:
        left = vips.kernel_ttl(ttl, asked, answered)
        # the lease ends no earlier than asked + ttl; the kernel state ends at least the
        # safety margin before that
        assert left > 0 and answered + left <= asked + ttl - vips.SAFETY
    # counted from the ask: time the answer took comes off what the kernel may keep
    assert vips.kernel_ttl(ttl, 10.0, 10.1) == pytest.approx(vips.kernel_ttl(ttl, 10.0, 10.0) - 0.1)
    assert vips.kernel_ttl(ttl, 10.0, 10.0) == pytest.approx(vips.kernel_ttl(ttl, 99.0, 99.0))
    # a longer lease lets it keep the state longer by as much
    assert vips.kernel_ttl(ttl + 2, 10.0, 10.0) == pytest.approx(
        vips.kernel_ttl(ttl, 10.0, 10.0) + 2
    )
    # an answer that took longer than the lease leaves nothing, never a negative time
    assert vips.kernel_ttl(ttl, 10.0, 10.0 + ttl) == 0.0
    assert vips.kernel_ttl(ttl, 10.0, 30.0) == 0.0
    # the holder renews well before its kernel state runs out
    assert ttl / vips.RENEW_FRACTION < vips.kernel_ttl(ttl, 10.0, 10.0)
    # the kernel keeps a held address for whole seconds: with the default lease, a prompt
    # answer leaves at least one, or no host could ever hold a VIP
    assert vips.kernel_ttl(ttl, 10.0, 10.05) >= 1.0


def test_a_vip_and_a_lease_round_trip() -> None:
    for address in ("203.0.113.5", "2001:db8:e::5"):
        vip = vips.Vip(
            "web",
            ipaddress.ip_address(address),
            "edge",
            (AllocationKey("c1:eth0"), AllocationKey("c2:eth0")),
        )
        raw = vip.to_dict()
        assert raw == {
            "name": "web",
            "address": address,
            "pool": "edge",
            "endpoints": ["c1:eth0", "c2:eth0"],
        }
        assert vips.Vip.from_dict(raw) == vip
    bare = vips.Vip.from_dict({"name": "x", "address": "203.0.113.6", "pool": "edge"})
    assert bare.endpoints == ()
    lease = vips.Lease("web", H2, 1234.5, 3)
    assert lease.to_dict() == {"vip": "web", "host": "h2", "expires": 1234.5, "term": 3}
    assert vips.Lease.from_dict(lease.to_dict()) == lease


def _vip(name: str = "web", endpoints: tuple[str, ...] = ("a",)) -> vips.Vip:
    return vips.Vip(
        name,
        ipaddress.ip_address("203.0.113.5"),
        "edge",
        tuple(AllocationKey(e) for e in endpoints),
    )


def test_check_accepts_a_good_vip() -> None:
    vips.check(_vip())
    vips.check(_vip("a", ()))
    vips.check(_vip("a" * 63, tuple(str(i) for i in range(vips.MAX_ENDPOINTS))))


@pytest.mark.parametrize(
    ("vip", "expected"),
    [
        (_vip("Web"), {("name", vips.NAME_RULE)}),
        (_vip("-web"), {("name", vips.NAME_RULE)}),
        (_vip("a" * 64), {("name", vips.NAME_RULE)}),
        (_vip(""), {("name", vips.NAME_RULE)}),
        (_vip("web", ("a", "a")), {("endpoints", "must not repeat an endpoint")}),
        (_vip("web", ("a", "")), {("endpoints[1]", "must not be empty")}),
        (
            _vip("web", tuple(str(i) for i in range(vips.MAX_ENDPOINTS + 1))),
            {("endpoints", f"must hold at most {vips.MAX_ENDPOINTS} endpoints")},
        ),
        (
            _vip("Bad", ("x", "x")),
            {("name", vips.NAME_RULE), ("endpoints", "must not repeat an endpoint")},
        ),
    ],
)
def test_check_names_every_field_that_breaks_its_rule(
    vip: vips.Vip, expected: set[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidInput) as err:
        vips.check(vip)
    assert {(i.field, i.rule) for i in err.value.issues} == expected
