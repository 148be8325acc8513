"""A VIP's NAT in both renderers: the exact text of the local-destination guard on its dnat
and of the original-destination match that masquerades its flows, per family."""

from __future__ import annotations

from romana.core import ruleset
from romana.core.render import iptables, nftables
from support import natrules

NFT_V4 = """\
	chain romana-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 203.0.113.5 tcp dport 80 fib daddr type local \
dnat ip to numgen random mod 2 map { 0 : 10.1.0.1, 1 : 10.1.0.2 } comment "vip"
	}

	chain romana-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "romana*" return
		ct original ip daddr 203.0.113.5 masquerade comment "vip back"
	}
}
"""

NFT_V6 = """\
	chain romana-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip6 daddr 2001:db8::5 fib daddr type local dnat ip6 to fd00:1::1 comment "vip"
	}

	chain romana-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "romana*" return
		ct original ip6 daddr 2001:db8::5 masquerade comment "vip back"
	}
}
"""

IPT_V4 = """\
*nat
:ROMANA-PREROUTING - [0:0]
:ROMANA-POSTROUTING - [0:0]
-A ROMANA-PREROUTING --destination 203.0.113.5/32 --protocol tcp --match tcp \
--destination-port 80 --match addrtype --dst-type LOCAL --match comment --comment "vip" \
--match statistic --mode random --probability 0.5000000000 --jump DNAT --to-destination 10.1.0.1
-A ROMANA-PREROUTING --destination 203.0.113.5/32 --protocol tcp --match tcp \
--destination-port 80 --match addrtype --dst-type LOCAL --match comment --comment "vip" \
--jump DNAT --to-destination 10.1.0.2
-A ROMANA-POSTROUTING --out-interface romana+ --jump RETURN
-A ROMANA-POSTROUTING --match conntrack --ctorigdst 203.0.113.5 \
--match comment --comment "vip back" --jump MASQUERADE
COMMIT
"""

IPT_V6 = """\
*nat
:ROMANA-PREROUTING - [0:0]
:ROMANA-POSTROUTING - [0:0]
-A ROMANA-PREROUTING --destination 2001:db8::5/128 --match addrtype --dst-type LOCAL \
--match comment --comment "vip" --jump DNAT --to-destination fd00:1::1
-A ROMANA-POSTROUTING --out-interface romana+ --jump RETURN
-A ROMANA-POSTROUTING --match conntrack --ctorigdst 2001:db8::5 \
--match comment --comment "vip back" --jump MASQUERADE
COMMIT
"""

# What the family without the VIP keeps: the family-neutral return, nothing of the VIP.
IPT_OTHER = """\
*nat
:ROMANA-PREROUTING - [0:0]
:ROMANA-POSTROUTING - [0:0]
-A ROMANA-POSTROUTING --out-interface romana+ --jump RETURN
COMMIT
"""


def test_nft_guards_the_dnat_and_matches_the_original_destination() -> None:
    v4 = natrules.vip_ruleset("203.0.113.5", ("10.1.0.1", "10.1.0.2"), 80)
    assert nftables.render(v4).endswith(NFT_V4)
    v6 = natrules.vip_ruleset("2001:db8::5", ("fd00:1::1",))
    assert nftables.render(v6).endswith(NFT_V6)


def test_iptables_renders_each_vip_in_its_familys_table_only() -> None:
    v4 = iptables.render(natrules.vip_ruleset("203.0.113.5", ("10.1.0.1", "10.1.0.2"), 80))
    assert (v4.nat_v4, v4.nat_v6) == (IPT_V4, IPT_OTHER)
    v6 = iptables.render(natrules.vip_ruleset("2001:db8::5", ("fd00:1::1",)))
    assert (v6.nat_v4, v6.nat_v6) == (IPT_OTHER, IPT_V6)


def test_a_local_destination_alone_is_rendered_for_both_families() -> None:
    chain = ruleset.Chain(
        "romana-input",
        (ruleset.Rule((ruleset.LocalDestination(),), ruleset.ACCEPT),),
        ruleset.Hook.INPUT,
    )
    rs = ruleset.Ruleset((), (chain,))
    assert "\t\tfib daddr type local accept\n" in nftables.render(rs)
    rendered = iptables.render(rs)
    line = "-A ROMANA-INPUT --match addrtype --dst-type LOCAL --jump ACCEPT\n"
    assert line in rendered.filter_v4 and line in rendered.filter_v6
