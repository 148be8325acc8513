"""NAT through both firewall backends, in throwaway namespaces.

First what the kernel holds: a ruleset with a postrouting masquerade chain and a prerouting
dnat chain is loaded and read back, then a ruleset without NAT takes our NAT chains and
their jumps away and leaves a NAT rule of another owner alone. Then packets: a client, a
router and a server, where the server has no route back to the client's network, so a
connection works only when the router masquerades it; the server sees the router's address
as the source, and a VIP the router dnats to two server addresses spreads new connections
over both. A VIP guarded by a local-destination match is dnatted only while the router holds
its address, and a masquerade on the original destination hides the client from the server
for flows to the VIP alone. IPv4 and IPv6 alike.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from romana.agent import firewall
from romana.core import addressing, kernelnames, ruleset
from romana.core.render import nftables as render_nftables
from romana.dataplane import netns as netns_mod
from romana.lab import Lab, Node
from support import env, natrules

pytestmark = pytest.mark.root

NAT = ruleset.ChainKind.NAT
BACKENDS = ["nftables", "iptables"]


def backend(name: str, node: Node) -> firewall.Nftables | firewall.Iptables:
    if name == "nftables":
        env.need_binary("nft")
        return firewall.Nftables(node.path)
    for binary in (*tools(name), "ipset"):
        env.need_binary(binary)
    return firewall.Iptables(node.path, legacy=name.endswith("-legacy"))


def tools(name: str) -> tuple[str, str]:
    """The IPv4 and IPv6 programs of an iptables backend."""
    suffix = "-legacy" if name.endswith("-legacy") else ""
    return f"iptables{suffix}", f"ip6tables{suffix}"


def nat_listing(lab: Lab, node: Node, name: str, tool: str = "iptables") -> str:
    if name == "nftables":
        return lab.run(node, ["nft", "list", "table", "inet", kernelnames.NFT_TABLE]).stdout
    return lab.run(node, [f"{tool}-save", "-t", "nat"]).stdout


@pytest.mark.parametrize("name", [*BACKENDS, "iptables-legacy"])
def test_nat_chains_load_read_back_and_go_away(lab: Lab, name: str) -> None:
    node = lab.add_node("fw")
    fw = backend(name, node)
    with_nat, without = natrules.nat_ruleset(), natrules.filter_only()
    # Another owner's NAT, which nothing of ours may touch.
    if name == "nftables":
        foreign = (
            "table ip other { chain post { type nat hook postrouting priority srcnat; "
            'oifname "up0" masquerade; }; }'
        )
        lab.run(node, ["nft", foreign])
    else:
        for tool in tools(name):
            lab.run(node, [tool, "-t", "nat", "-A", "POSTROUTING", "-o", "up0", "-j", "MASQUERADE"])

    fw.apply(with_nat)
    fw.apply(with_nat)  # idempotent: the jumps stay single
    if name == "nftables":
        listed = nat_listing(lab, node, name)
        for line in (
            "type nat hook postrouting priority srcnat; policy accept;",
            "type nat hook prerouting priority dstnat; policy accept;",
            "ip saddr 10.1.0.5 snat ip to 203.0.113.7",
            "ip6 saddr fd00:1::5 snat ip6 to 2001:db8::7",
            'oifname "eth*" masquerade',
            "dnat ip to numgen random mod 3 map { 0 : 10.1.0.1, 1 : 10.1.0.2, 2 : 10.1.0.3 }",
            "type filter hook forward priority filter; policy accept;",
        ):
            assert line in listed, line
        # Deltas, fed to nft as they are (the backend would fall back to a whole replace on
        # a refusal), end in the table a whole replace makes.
        changed = natrules.nat_ruleset(backends=("10.1.0.1", "10.1.0.4"))
        for old, new in ((with_nat, changed), (changed, without), (without, with_nat)):
            delta = render_nftables.render_delta(old, new)
            assert delta, (old, new)
            lab.run(node, ["nft", "-f", "-"], input=delta)
            after_delta = nat_listing(lab, node, name)
            fw.apply(new)
            assert nat_listing(lab, node, name) == after_delta
        assert "map { 0 : 10.1.0.1, 1 : 10.1.0.4 }" not in after_delta
        fw.apply(changed, with_nat)
        assert "map { 0 : 10.1.0.1, 1 : 10.1.0.4 }" in nat_listing(lab, node, name)
        fw.apply(without, changed)  # NAT chains flushed and deleted
        listed = nat_listing(lab, node, name)
        assert " nat " not in listed and "ct state established,related accept" in listed
        assert 'oifname "up0" masquerade' in lab.run(node, ["nft", "list", "ruleset"]).stdout
        fw.apply(with_nat)
        assert isinstance(fw, firewall.Nftables)
        fw.remove()
        assert not fw.present()
        assert 'oifname "up0" masquerade' in lab.run(node, ["nft", "list", "ruleset"]).stdout
    else:
        v4, v6 = (nat_listing(lab, node, name, tool) for tool in tools(name))
        for line in (
            "-A POSTROUTING -j ROMANA-POSTROUTING",
            "-A PREROUTING -j ROMANA-PREROUTING",
            "-A ROMANA-POSTROUTING -s 10.1.0.5/32 -m comment --comment "
            '"snat 10.1.0.5" -j SNAT --to-source 203.0.113.7',
            "-A ROMANA-POSTROUTING -o eth+ -m comment --comment egress -j MASQUERADE",
            '-A ROMANA-VIP-WEB -m comment --comment "vip web" -m statistic --mode random '
            "--probability 0.33333333349 -j DNAT --to-destination 10.1.0.1",
            '-A ROMANA-VIP-WEB -m comment --comment "vip web" -j DNAT --to-destination 10.1.0.3',
        ):
            assert line in v4, line
        assert v4.count("-j ROMANA-POSTROUTING") == 1
        assert "--to-source 2001:db8::7" in v6 and "-j ROMANA-POSTROUTING" in v6
        assert "10.1.0" not in v6
        assert fw.present()
        fw.apply(without)
        for tool in tools(name):
            listed = nat_listing(lab, node, name, tool)
            assert "ROMANA" not in listed, listed
            assert "-A POSTROUTING -o up0 -j MASQUERADE" in listed
            assert ":ROMANA-FORWARD" in lab.run(node, [f"{tool}-save", "-t", "filter"]).stdout
        # Jumps into NAT chains new to a ruleset are made, not counted as repairs; a jump
        # deleted behind the agent's back is.
        assert fw.apply(with_nat) is False
        lab.run(node, [tools(name)[0], "-t", "nat", "-D", "PREROUTING", "-j", "ROMANA-PREROUTING"])
        assert not fw.present()
        assert fw.apply(with_nat) is True and fw.present()
        assert isinstance(fw, firewall.Iptables)
        fw.remove()
        for tool in tools(name):
            for table in ("nat", "filter"):
                listed = lab.run(node, [f"{tool}-save", "-t", table]).stdout
                assert "ROMANA" not in listed, (tool, table, listed)
            assert "-A POSTROUTING -o up0 -j MASQUERADE" in nat_listing(lab, node, name, tool)
        assert "romana" not in lab.run(node, ["ipset", "list", "-n"]).stdout.lower()


# --- packets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One family's addresses of the client - router - server line."""

    client_net: str
    client: str
    router_in: str
    router_out: str
    server_net: str
    servers: tuple[str, str]
    vip: str


PLANS = {
    4: Plan(
        "198.18.1.0/24",
        "198.18.1.2",
        "198.18.1.1",
        "198.18.2.1",
        "198.18.2.0/24",
        ("198.18.2.2", "198.18.2.3"),
        "198.18.2.100",
    ),
    6: Plan(
        "2001:db8:1::/64",
        "2001:db8:1::2",
        "2001:db8:1::1",
        "2001:db8:2::1",
        "2001:db8:2::/64",
        ("2001:db8:2::2", "2001:db8:2::3"),
        "2001:db8:2::100",
    ),
}


@dataclass(frozen=True)
class Line:
    client: Node
    router: Node
    server: Node


@pytest.fixture
def line(lab: Lab) -> Line:
    """Client and server on either side of a forwarding router; the server can answer only
    addresses on its own link (no route to the client's network)."""
    client, router, server = lab.add_node("cl"), lab.add_node("rtr"), lab.add_node("srv")
    lab.run(
        client,
        ["ip", "link", "add", "c0", "type", "veth", "peer", "name", "rc", "netns", router.ns],
    )
    lab.run(
        server,
        ["ip", "link", "add", "s0", "type", "veth", "peer", "name", "rs", "netns", router.ns],
    )
    for node, dev, plans in (
        (client, "c0", [(p.client, p.client_net) for p in PLANS.values()]),
        (router, "rc", [(p.router_in, p.client_net) for p in PLANS.values()]),
        (router, "rs", [(p.router_out, p.server_net) for p in PLANS.values()]),
        (server, "s0", [(s, p.server_net) for p in PLANS.values() for s in p.servers]),
    ):
        for address, net in plans:
            prefix = ipaddress.ip_network(net).prefixlen
            lab.run(node, ["ip", "addr", "add", f"{address}/{prefix}", "dev", dev, "nodad"])
        lab.run(node, ["ip", "link", "set", dev, "up"])
    for plan in PLANS.values():
        lab.run(client, ["ip", "route", "add", "default", "via", plan.router_in])
    lab.run(router, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    lab.run(router, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])
    return Line(client, router, server)


@pytest.fixture
def server_socket(line: Line) -> Iterator[socket.socket]:
    """A dual-stack TCP listener in the server namespace; the test accepts by hand, so it
    sees each connection's source and the address it reached."""
    with netns_mod.entered(line.server.path):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", 0))
    sock.listen(64)
    sock.settimeout(3)
    try:
        yield sock
    finally:
        sock.close()


def _plain(text: str) -> str:
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def connect(
    client: Node, server: socket.socket, dst: str, timeout: float = 3.0
) -> tuple[str, str] | None:
    """(source the server saw, address it was reached at), or None if no connection."""
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with netns_mod.entered(client.path):
        sock = socket.socket(family, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect((dst, server.getsockname()[1]))
        except OSError:
            return None
        conn, peer = server.accept()
        with conn:
            return _plain(peer[0]), _plain(conn.getsockname()[0])


def router_rules(plan: Plan, port: int) -> ruleset.Ruleset:
    vip = ipaddress.ip_address(plan.vip)
    exact = addressing.Match(vip.version, int(vip), (1 << vip.max_prefixlen) - 1)
    prerouting = ruleset.Chain(
        "romana-prerouting",
        (
            ruleset.Rule(
                (ruleset.Address(ruleset.Side.DST, exact), *natrules.tcp_port(port)),
                ruleset.dnat(*(ipaddress.ip_address(s) for s in plan.servers)),
            ),
        ),
        ruleset.Hook.PREROUTING,
        kind=NAT,
    )
    postrouting = ruleset.Chain(
        "romana-postrouting",
        (ruleset.Rule((ruleset.Interface(ruleset.Side.DST, "rs"),), ruleset.masquerade()),),
        ruleset.Hook.POSTROUTING,
        kind=NAT,
    )
    return ruleset.Ruleset((), (natrules.filter_chain(), prerouting, postrouting))


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("name", BACKENDS)
def test_router_masquerades_and_spreads_a_vip(
    lab: Lab, line: Line, server_socket: socket.socket, name: str, family: int
) -> None:
    plan = PLANS[family]
    fw = backend(name, line.router)
    server = plan.servers[0]
    assert connect(line.client, server_socket, server, timeout=1) is None  # no way back

    rules = router_rules(plan, server_socket.getsockname()[1])
    fw.apply(rules)
    assert connect(line.client, server_socket, server) == (plan.router_out, server)
    reached = set()
    for _ in range(16):  # each address has 1/2 per flow: missing one is 2 in 65536
        seen = connect(line.client, server_socket, plan.vip)
        assert seen is not None and seen[0] == plan.router_out
        reached.add(seen[1])
    assert reached == set(plan.servers)

    fw.apply(natrules.filter_only(), rules)  # no NAT left: no way back again
    assert connect(line.client, server_socket, server, timeout=1) is None
    assert connect(line.client, server_socket, plan.vip, timeout=1) is None


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("name", BACKENDS)
def test_only_the_vips_holder_dnats_it_and_masquerades_flows_to_it(
    lab: Lab, line: Line, server_socket: socket.socket, name: str, family: int
) -> None:
    plan = PLANS[family]
    fw = backend(name, line.router)
    server = plan.servers[0]
    # A way back to the client, so the source the server sees tells whether it was rewritten.
    lab.run(line.server, ["ip", "route", "add", plan.client_net, "via", plan.router_out])
    assert connect(line.client, server_socket, server) == (plan.client, server)

    rules = natrules.vip_ruleset(plan.vip, (server,), server_socket.getsockname()[1])
    fw.apply(rules)
    if name == "nftables":
        listed = nat_listing(lab, line.router, name)
        assert "fib daddr type local" in listed
        assert f"ct original {'ip' if family == 4 else 'ip6'} daddr {plan.vip} masquerade" in listed
    else:
        listed = nat_listing(lab, line.router, name, tools(name)[family == 6])
        assert "-m addrtype --dst-type LOCAL" in listed
        assert f"-m conntrack --ctorigdst {plan.vip} " in listed

    # The router does not hold the VIP: no dnat, and nothing else answers at that address.
    assert connect(line.client, server_socket, plan.vip, timeout=1) is None
    held = [f"{plan.vip}/{32 if family == 4 else 128}", "dev", "rc"]
    lab.run(line.router, ["ip", "addr", "add", *held, "nodad"])
    for _ in range(3):
        assert connect(line.client, server_socket, plan.vip) == (plan.router_out, server)
        # A flow to the server's own address is not one to the VIP: it keeps its source.
        assert connect(line.client, server_socket, server) == (plan.client, server)
    # The address alone decides: once the router lets it go, the VIP is not dnatted here.
    lab.run(line.router, ["ip", "addr", "del", *held])
    assert connect(line.client, server_socket, plan.vip, timeout=1) is None
