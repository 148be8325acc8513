"""NAT chains in both renderers: the exact text of masquerade, snat per family and a dnat to
several addresses, where each kind of chain goes, and deltas of a table holding NAT."""

from __future__ import annotations

import dataclasses

from romana.core import ruleset
from romana.core.render import iptables, nftables
from support import natrules

NFT_NAT = """\
	chain romana-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip daddr @romana-pods return
		ip6 daddr @romana-pods6 return
		ip saddr 10.1.0.5 snat ip to 203.0.113.7 comment "snat 10.1.0.5"
		ip6 saddr fd00:1::5 snat ip6 to 2001:db8::7 comment "snat fd00:1::5"
		oifname "eth*" masquerade comment "egress"
	}

	chain romana-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 198.51.100.10 tcp dport 80 jump romana-vip-web
	}

	chain romana-vip-web {
		dnat ip to numgen random mod 3 map { 0 : 10.1.0.1, 1 : 10.1.0.2, 2 : 10.1.0.3 } \
comment "vip web"
	}
}
"""

IPT_NAT_V4 = """\
*nat
:ROMANA-POSTROUTING - [0:0]
:ROMANA-PREROUTING - [0:0]
:ROMANA-VIP-WEB - [0:0]
-A ROMANA-POSTROUTING --match set --match-set ROMANA-PODS dst --jump RETURN
-A ROMANA-POSTROUTING --source 10.1.0.5/32 --match comment --comment "snat 10.1.0.5" \
--jump SNAT --to-source 203.0.113.7
-A ROMANA-POSTROUTING --out-interface eth+ --match comment --comment "egress" --jump MASQUERADE
-A ROMANA-PREROUTING --destination 198.51.100.10/32 --protocol tcp --match tcp \
--destination-port 80 --jump ROMANA-VIP-WEB
-A ROMANA-VIP-WEB --match comment --comment "vip web" --match statistic --mode random \
--probability 0.3333333333 --jump DNAT --to-destination 10.1.0.1
-A ROMANA-VIP-WEB --match comment --comment "vip web" --match statistic --mode random \
--probability 0.5000000000 --jump DNAT --to-destination 10.1.0.2
-A ROMANA-VIP-WEB --match comment --comment "vip web" --jump DNAT --to-destination 10.1.0.3
COMMIT
"""

IPT_NAT_V6 = """\
*nat
:ROMANA-POSTROUTING - [0:0]
:ROMANA-PREROUTING - [0:0]
:ROMANA-VIP-WEB - [0:0]
-A ROMANA-POSTROUTING --match set --match-set ROMANA-PODS6 dst --jump RETURN
-A ROMANA-POSTROUTING --source fd00:1::5/128 --match comment --comment "snat fd00:1::5" \
--jump SNAT --to-source 2001:db8::7
-A ROMANA-POSTROUTING --out-interface eth+ --match comment --comment "egress" --jump MASQUERADE
COMMIT
"""


def test_nft_nat_chains_share_our_table_with_the_filter_chains() -> None:
    script = nftables.render(natrules.nat_ruleset())
    assert script.endswith(NFT_NAT)
    assert "\tchain romana-forward {\n\t\ttype filter hook forward priority filter;" in script
    assert script.count("table inet romana {\n") == 1


def test_nft_nat_priority_is_an_offset_from_srcnat_and_dstnat() -> None:
    rs = natrules.nat_ruleset()
    chains = tuple(
        dataclasses.replace(c, priority={"romana-postrouting": 5, "romana-prerouting": -5}[c.name])
        if c.hook in (ruleset.Hook.POSTROUTING, ruleset.Hook.PREROUTING)
        else c
        for c in rs.chains
    )
    script = nftables.render(ruleset.Ruleset(rs.sets, chains))
    assert "type nat hook postrouting priority srcnat + 5; policy accept;" in script
    assert "type nat hook prerouting priority dstnat - 5; policy accept;" in script


def test_nft_dnat_to_one_address_and_to_ipv6() -> None:
    one = natrules.nat_ruleset(backends=("10.1.0.1",))
    assert '\t\tdnat ip to 10.1.0.1 comment "vip web"\n' in nftables.render(one)
    six = natrules.nat_ruleset(vip=("2001:db8::10", 80), backends=("fd00:1::1", "fd00:1::2"))
    script = nftables.render(six)
    assert "\t\tip6 daddr 2001:db8::10 tcp dport 80 jump romana-vip-web\n" in script
    assert "dnat ip6 to numgen random mod 2 map { 0 : fd00:1::1, 1 : fd00:1::2 }" in script


def test_iptables_nat_chains_go_to_table_nat_per_family() -> None:
    rendered = iptables.render(natrules.nat_ruleset())
    assert rendered.nat_v4 == IPT_NAT_V4
    assert rendered.nat_v6 == IPT_NAT_V6
    assert rendered.filter_v4 == (
        "*filter\n:ROMANA-FORWARD - [0:0]\n"
        "-A ROMANA-FORWARD --match conntrack --ctstate ESTABLISHED,RELATED --jump ACCEPT\n"
        "COMMIT\n"
    )
    assert rendered.chains == ("ROMANA-FORWARD",)
    assert rendered.nat_chains == ("ROMANA-POSTROUTING", "ROMANA-PREROUTING", "ROMANA-VIP-WEB")
    assert rendered.hooks == (
        iptables.HookJump("FORWARD", "ROMANA-FORWARD"),
        iptables.HookJump("POSTROUTING", "ROMANA-POSTROUTING", "nat"),
        iptables.HookJump("PREROUTING", "ROMANA-PREROUTING", "nat"),
    )
    assert rendered.hooks[1].check_args() == (
        *("--table", "nat", "--check", "POSTROUTING", "--jump", "ROMANA-POSTROUTING"),
    )
    assert rendered.hooks[2].insert_args() == (
        *("--table", "nat", "--insert", "PREROUTING", "1", "--jump", "ROMANA-PREROUTING"),
    )


def test_iptables_dnat_odds_give_each_address_an_equal_share() -> None:
    backends = tuple(f"10.1.0.{i}" for i in range(1, 5))
    rules = iptables.render(natrules.nat_ruleset(backends=backends)).nat_v4.splitlines()
    dnat = [line for line in rules if line.startswith("-A ROMANA-VIP-WEB")]
    odds = [
        line.split("--probability ")[1].split()[0] if "statistic" in line else "1" for line in dnat
    ]
    assert odds == ["0.2500000000", "0.3333333333", "0.5000000000", "1"]
    left = 1.0
    for share in map(float, odds):  # each rule takes its odds of what the earlier ones left
        assert abs(left * share - 0.25) < 1e-9
        left *= 1 - share
    assert [line.rsplit(" ", 1)[1] for line in dnat] == list(backends)


def test_iptables_dnat_expands_per_interface_name_in_whole_groups() -> None:
    # Each expansion of a rule ends in an unconditional dnat, so a flow never falls through
    # from one group's odds into the next.
    rs = natrules.nat_ruleset(backends=("10.1.0.1", "10.1.0.2"))
    vip = rs.chain("romana-vip-web")
    devices = ruleset.interface_set("romana-taps", ["tap1", "tap2"])
    rule = dataclasses.replace(
        vip.rules[0], matches=(ruleset.InInterfaces(ruleset.Side.SRC, "romana-taps"),)
    )
    chains = tuple(
        dataclasses.replace(c, rules=(rule,)) if c.name == vip.name else c for c in rs.chains
    )
    text = iptables.render(ruleset.Ruleset(rs.sets, chains, interface_sets=(devices,))).nat_v4
    vip_lines = [line for line in text.splitlines() if line.startswith("-A ROMANA-VIP-WEB")]
    assert [(line.split()[3], "statistic" in line) for line in vip_lines] == [
        ("tap1", True),
        ("tap1", False),
        ("tap2", True),
        ("tap2", False),
    ]


def test_a_ruleset_without_nat_renders_no_nat_table() -> None:
    rendered = iptables.render(natrules.filter_only())
    assert (rendered.nat_v4, rendered.nat_v6, rendered.nat_chains) == ("", "", ())
    assert "*nat" not in rendered.filter_v4 + rendered.filter_v6
    assert [h.table for h in rendered.hooks] == ["filter"]
    assert " nat " not in nftables.render(natrules.filter_only())


def test_verdicts_print_their_addresses() -> None:
    assert str(ruleset.masquerade()) == "masquerade"
    assert str(ruleset.snat(natrules.address("203.0.113.7"))) == "snat to 203.0.113.7"
    two = ruleset.dnat(natrules.address("10.1.0.1"), natrules.address("10.1.0.2"))
    assert str(two) == "dnat to 10.1.0.1,10.1.0.2"


HEAD = "# Generated by romana. Apply with `nft -f`: the file is one atomic transaction.\n"


def test_delta_of_a_changed_nat_chain_refills_it_alone() -> None:
    old = natrules.nat_ruleset()
    new = natrules.nat_ruleset(backends=("10.1.0.1", "10.1.0.4"))
    assert nftables.render_delta(old, new) == HEAD + (
        "flush chain inet romana romana-vip-web\n"
        "table inet romana {\n"
        "\tchain romana-vip-web {\n"
        '\t\tdnat ip to numgen random mod 2 map { 0 : 10.1.0.1, 1 : 10.1.0.4 } comment "vip web"\n'
        "\t}\n"
        "}\n"
    )


def test_delta_adds_and_removes_nat_chains_and_keeps_set_changes_small() -> None:
    with_nat, without = natrules.nat_ruleset(), natrules.filter_only()
    added = nftables.render_delta(without, with_nat)
    assert added is not None
    assert "type nat hook postrouting priority srcnat; policy accept;" in added
    assert "delete chain" not in added
    removed = nftables.render_delta(with_nat, without)
    assert removed is not None
    for chain in ("romana-postrouting", "romana-prerouting", "romana-vip-web"):
        assert f"flush chain inet romana {chain}\n" in removed
        assert f"delete chain inet romana {chain}\n" in removed
    # A change of set elements alone stays a set refill with NAT chains present.
    grown = dataclasses.replace(
        with_nat,
        sets=(
            ruleset.address_set(
                "romana-pods", 4, [natrules.PODS4, *natrules.PODS4.supernet(8).subnets(9)]
            ),
            with_nat.sets[1],
        ),
    )
    delta = nftables.render_delta(with_nat, grown)
    assert (
        delta is not None
        and "chain" not in delta
        and "flush set inet romana romana-pods\n" in delta
    )


def test_delta_of_a_chain_changing_kind_replaces_the_table() -> None:
    old = natrules.nat_ruleset()
    post = old.chain("romana-postrouting")
    chains = (
        ruleset.Chain("romana-postrouting", (), ruleset.Hook.FORWARD),
        *(c for c in old.chains if c.name != post.name),
    )
    changed = ruleset.Ruleset(old.sets, chains)
    assert nftables.render_delta(old, changed) is None
