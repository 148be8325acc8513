"""Applying nftables scripts to our table inside a host namespace, with real packets."""

from __future__ import annotations

import pytest

from romana.core.errors import InvalidInput
from romana.dataplane import proc
from romana.dataplane.nftables import Nftables
from romana.lab import Lab
from support import env

pytestmark = pytest.mark.root

# The shape the renderer produces: make sure the table exists, drop it, define it anew, all
# in one transaction.
HEADER = "table inet romana {}\ndelete table inet romana\n"


def drop_echo_from(source: str) -> str:
    return HEADER + (
        "table inet romana {\n"
        "  set blocked { type ipv4_addr; elements = { " + source + " } }\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        "    ip saddr @blocked icmp type echo-request drop\n"
        "  }\n"
        "}\n"
    )


@pytest.fixture
def nft_lab(lab: Lab) -> Lab:
    env.need_binary("nft")
    for name in ("h1", "h2", "h3"):
        lab.add_host(name)
    return lab


def test_apply_replaces_our_table_atomically_with_real_effect(nft_lab: Lab) -> None:
    h1, h2, h3 = nft_lab.hosts
    nft = Nftables(netns=h1.path)
    assert not nft.exists()
    nft.apply(drop_echo_from(str(h2.underlay_ip)))
    assert nft.exists()
    assert nft_lab.silent(h2, h1.underlay_ip)
    assert nft_lab.ping(h3, h1.underlay_ip)
    nft.apply(drop_echo_from(str(h3.underlay_ip)))  # a whole new table, not an addition
    assert nft_lab.ping(h2, h1.underlay_ip)
    assert nft_lab.silent(h3, h1.underlay_ip)
    table = nft.read()
    assert table is not None
    assert [item["table"]["name"] for item in table["nftables"] if "table" in item] == ["romana"]


def test_a_failing_script_reports_everything_and_leaves_the_previous_table(nft_lab: Lab) -> None:
    h1, h2, _ = nft_lab.hosts
    nft = Nftables(netns=h1.path)
    nft.apply(drop_echo_from(str(h2.underlay_ip)))
    before = nft.read()
    broken = HEADER + "table inet romana {\n  chain input { type filter hook input priority 0;\n"
    broken += "    ip saddr 198.18.0.0/24 jump nowhere\n  }\n}\n"
    with pytest.raises(proc.CommandFailed) as exc:
        nft.apply(broken)
    assert exc.value.input == broken
    assert "nowhere" in exc.value.stderr and exc.value.rc == 1
    assert exc.value.argv[-3:] == ("nft", "-f", "-")
    assert "nowhere" in str(exc.value)
    assert not exc.value.temporary
    assert nft.read() == before
    assert nft_lab.silent(h2, h1.underlay_ip)


def test_other_tables_are_never_touched(nft_lab: Lab) -> None:
    h1 = nft_lab.hosts[0]
    nft_lab.run(h1, ["nft", "add table inet other; add chain inet other c"])
    nft = Nftables(netns=h1.path)
    for script in ("flush ruleset\n", "table inet other {}\ndelete table inet other\n"):
        with pytest.raises(InvalidInput, match="only table inet romana may be touched"):
            nft.apply(script)
    nft.apply(drop_echo_from("198.18.0.9"))
    nft.delete()
    nft.delete()  # idempotent
    assert not nft.exists()
    assert nft.read() is None
    assert "table inet other" in nft_lab.run(h1, ["nft", "list", "tables"]).stdout


def test_check_validates_without_committing(nft_lab: Lab) -> None:
    nft = Nftables(netns=nft_lab.hosts[0].path)
    nft.check(drop_echo_from("198.18.0.9"))
    assert not nft.exists()
    with pytest.raises(proc.CommandFailed):
        nft.check(HEADER + "table inet romana { chain c { bogus } }\n")
