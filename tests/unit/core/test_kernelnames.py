"""The names romana owns in the kernel are what operators and upgrades rely on.

Every other module and test takes these names from ``romana.core.kernelnames``; this test
is the one place that spells them out, because a renamed object is a behaviour change: an
agent of the new version would no longer recognise (or clean up) what the old one made, and
``nft list table inet romana`` or ``ip route show proto 82`` would show nothing.
"""

from __future__ import annotations

from romana.core import hostplan, kernelnames, ruleset
from romana.core.render import iptables, nftables
from romana.dataplane import iptables as iptables_adapter
from romana.dataplane import nftables as nftables_adapter
from romana.dataplane import rtmsg


def test_the_names_operators_type() -> None:
    assert kernelnames.NFT_TABLE_REF == "inet romana"
    assert kernelnames.ROUTE_PROTOCOL == 82
    assert kernelnames.ROUTE_TABLE == 254  # main: romana adds no routing table
    assert kernelnames.GATEWAY_IFNAME == "romana-gw"
    assert kernelnames.HOST_IFNAME_PREFIX == "romana"
    assert kernelnames.IPTABLES_PREFIX == "ROMANA-"
    assert kernelnames.iptables_name("romana-forward") == "ROMANA-FORWARD"


def test_every_layer_uses_the_same_names() -> None:
    assert nftables.render(ruleset.Ruleset((), ())).splitlines()[1] == "table inet romana {}"
    assert (nftables_adapter.FAMILY, nftables_adapter.TABLE) == ("inet", "romana")
    assert iptables.OWNED_PREFIX == iptables_adapter.CHAIN_PREFIX == "ROMANA-"
    assert ruleset.PREFIX == "romana-"
    assert rtmsg.ROUTE_PROTOCOL == 82 and rtmsg.RT_TABLE_MAIN == 254
    assert hostplan.GATEWAY_IFNAME == "romana-gw"
    assert hostplan.host_ifname("any").startswith("romana")
    assert hostplan.is_host_ifname(hostplan.host_ifname("any"))
