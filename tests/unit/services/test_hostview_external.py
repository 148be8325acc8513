"""The edge in the host view: every pool, the external addresses this host's endpoints hold,
each network's egress NAT, and the routes (or, in ``bgp`` route mode, the announcements) that
bring the outside to the host whose endpoint holds an external address."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from romana.core import external, hostroutes, ipam
from romana.core.external import EgressNat, NatMode
from romana.core.identifiers import AllocationKey, HostName, NetworkName, TenantName
from romana.core.store import Put, Store
from romana.services import keys, txn
from romana.services.external import ExternalService
from romana.services.hostview import HostViewService
from romana.wire import rest_hostview, validate
from unit.services.conftest import DOC, Services

H1, H2, H3 = HostName("h1"), HostName("h2"), HostName("h3")
WEB = TenantName("web")
DB = TenantName("db")
DEFAULT_NAT = {"mode": "on", "tenants": [], "no_nat": []}


def _hostview(svc: Services) -> HostViewService:
    return HostViewService(svc.store, svc.topology, svc.tenants, svc.ipam)


def _edge(svc: Services) -> ExternalService:
    ext = ExternalService(svc.store, svc.tenants, svc.topology)
    ext.create(external.parse_pool("edge", ["203.0.113.0/28"], None))
    ext.create(external.parse_pool("spare", ["198.51.100.0/29", "2001:db8:e::/120"], None))
    return ext


def _allocate(svc: Services, key: str, host: HostName, tenant: TenantName = WEB) -> ipam.Allocation:
    return svc.ipam.allocate(AllocationKey(key), host, tenant)


def _checked(view: dict[str, Any]) -> dict[str, Any]:
    """``view`` after the wire model served to agents accepted it."""
    validate.parse(rest_hostview.HostView, view, "host view")
    return view


def test_the_view_keys_are_still_the_wire_models_fields(svc: Services) -> None:
    svc.tenants.create(WEB)
    _edge(svc).assign("edge", _allocate(svc, "k2", H2).key)
    view = _hostview(svc).view("h1")
    assert set(view) == set(rest_hostview.HostView.model_fields)
    assert set(view["external"]) == set(rest_hostview.External.model_fields)
    _checked(view)


def test_placed_lists_every_assigned_address_with_the_host_of_its_endpoint(
    svc: Services,
) -> None:
    svc.tenants.create(WEB)
    ext = _edge(svc)
    on_h2 = _allocate(svc, "k2", H2)
    on_h3 = _allocate(svc, "k3", H3)
    ext.assign("edge", on_h2.key)
    ext.assign("spare", on_h3.key)
    # an assignment whose allocation went in the meantime is left out
    stale = external.ExternalIp(
        ipaddress.ip_address("203.0.113.9"), "edge", AllocationKey("gone"), WEB
    )
    svc.store.txn((), [Put(keys.external_ip(stale.address), txn.dumps(stale.to_dict()))])
    placed, local = _hostview(svc).placed()
    assert sorted(placed, key=lambda p: int(p.address)) == [
        hostroutes.Placed(ipaddress.ip_address("198.51.100.1"), "spare", H3),
        hostroutes.Placed(ipaddress.ip_address("203.0.113.1"), "edge", H2),
    ]
    assert sorted(local, key=lambda a: str(a["address"])) == [
        {
            "address": "198.51.100.1",
            "pool": "spare",
            "key": "k3",
            "host": "h3",
            "romana": [str(a) for a in on_h3.addresses],
        },
        {
            "address": "203.0.113.1",
            "pool": "edge",
            "key": "k2",
            "host": "h2",
            "romana": [str(a) for a in on_h2.addresses],
        },
    ]


def test_external_lists_every_pool_this_hosts_addresses_and_each_networks_nat(
    svc: Services,
) -> None:
    svc.tenants.create(WEB)
    ext = _edge(svc)
    mine = _allocate(svc, "k2", H2)
    ext.assign("edge", mine.key)
    ext.assign("spare", _allocate(svc, "k3", H3).key)
    ext.set_nat(EgressNat(NetworkName("net4"), NatMode.TENANTS, (WEB,)))
    hv = _hostview(svc)
    _, local = hv.placed()
    part = hv.external("h2", local)
    assert part == {
        "pools": sorted(["203.0.113.0/28", "198.51.100.0/29", "2001:db8:e::/120"]),
        "addresses": [
            {
                "address": "203.0.113.1",
                "pool": "edge",
                "key": "k2",
                "romana": [str(a) for a in mine.addresses],
            }
        ],
        "nat": [
            {"network": "net4", "mode": "tenants", "tenants": ["web"], "no_nat": []},
            {"network": "net6", **DEFAULT_NAT},
        ],
    }
    # and the view carries the same
    assert _checked(hv.view("h2"))["external"] == part
    # a host none of whose endpoints holds one lists no address, but every pool
    assert hv.external("h1", local)["addresses"] == []
    assert hv.external("h1", local)["pools"] == part["pools"]


def test_a_network_without_a_stored_setting_is_listed_with_the_default(svc: Services) -> None:
    view = _hostview(svc).view("h1")
    assert view["external"] == {
        "pools": [],
        "addresses": [],
        "nat": [{"network": "net4", **DEFAULT_NAT}, {"network": "net6", **DEFAULT_NAT}],
    }


def test_other_hosts_route_an_external_address_to_the_host_holding_it(svc: Services) -> None:
    svc.tenants.create(WEB)
    ext = _edge(svc)
    ext.assign("edge", _allocate(svc, "k2", H2).key)
    hv = _hostview(svc)
    for host in ("h1", "h3"):
        routes = [r for r in _checked(hv.view(host))["routes"] if r["pool"] is not None]
        assert routes == [
            {
                "dst": "203.0.113.1/32",
                "via": "192.0.2.2",
                "reason": "external address of pool edge on host h2",
                "moved_from": None,
                "pool": "edge",
            }
        ], host
    # the holder routes it to its endpoint itself
    assert [r for r in hv.view("h2")["routes"] if r["pool"] is not None] == []
    # the other routes carry no pool
    assert all(r["pool"] is None for r in hv.view("h1")["routes"] if r["dst"] != "203.0.113.1/32")
    # unassigned, the route goes
    ext.unassign(ipaddress.ip_address("203.0.113.1"))
    assert [r for r in hv.view("h1")["routes"] if r["pool"] is not None] == []


def _bgp(store: Store) -> Services:
    """The sample topology in ``bgp`` route mode: hosts h1 (rack a) and h2 (rack b)."""
    s = Services(store)
    doc: dict[str, Any] = copy.deepcopy(DOC)
    tree = doc["topologies"][0]
    tree["route_mode"] = "bgp"
    tree["bgp"] = {"asn": 64512}
    for group in tree["map"]:
        group["bgp"] = {"peers": [{"address": "192.0.2.254", "asn": 65001}]}
    s.topology.apply(doc)
    s.topology.add_host(H1, "192.0.2.1", {"rack": "a"})
    s.topology.add_host(H2, "192.0.2.2", {"rack": "b"})
    return s


def test_in_bgp_mode_the_host_announces_its_external_addresses_and_accepts_the_pools(
    store: Store,
) -> None:
    svc = _bgp(store)
    svc.tenants.create(WEB)
    before = {h: _hostview(svc).view(h)["bgp"] for h in ("h1", "h2")}
    ext = _edge(svc)
    ext.assign("edge", _allocate(svc, "k1", H1).key)
    hv = _hostview(svc)
    pools = sorted(["203.0.113.0/28", "198.51.100.0/29", "2001:db8:e::/120"])
    holder = _checked(hv.view("h1"))
    assert holder["bgp"]["prefixes"] == before["h1"]["prefixes"] + ["203.0.113.1/32"]
    assert holder["bgp"]["accept"] == before["h1"]["accept"] + pools
    other = _checked(hv.view("h2"))
    assert other["bgp"]["prefixes"] == before["h2"]["prefixes"]
    assert other["bgp"]["accept"] == before["h2"]["accept"] + pools
    # BIRD learns it: no route plan entry carries it
    for view in (holder, other):
        assert [r for r in view["routes"] if r["pool"] is not None] == []
        assert all(r["dst"] != "203.0.113.1/32" for r in view["routes"])
    assert [a["address"] for a in holder["external"]["addresses"]] == ["203.0.113.1"]
