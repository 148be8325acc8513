"""Services → VIPs and pod annotations → external IPs, pure: parsing, the VIP name, which pods
a Service selects, the desired state, and the sync of it over an in-memory port."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

import pytest

from romana.core import vips
from romana.core.errors import InvalidInput, NotFound
from romana.core.identifiers import AllocationKey
from romana.core.kubernetes import dump, exposesync, exposure, record, sync, translation
from romana.core.kubernetes import objects as ko
from romana.core.vips import Vip

A = ipaddress.ip_address
SETTINGS = translation.Settings()


def service(name: str = "web", ns: str = "shop", **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", {})
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"selector": {"app": "web"}, **spec},
    }


def pod(name: str, ip: str = "", ns: str = "shop", note: str = "", **labels: str) -> ko.Pod:
    raw: dict[str, Any] = {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "status": {"podIP": ip} if ip else {},
    }
    if note:
        raw["metadata"]["annotations"] = {ko.EXTERNAL_IP_ANNOTATION: note}
    parsed = ko.parse(raw)
    assert isinstance(parsed, ko.Pod)
    return parsed


def svc(**kw: Any) -> ko.Service:
    parsed = ko.parse(service(**kw))
    assert isinstance(parsed, ko.Service)
    return parsed


# -- parsing -------------------------------------------------------------------------------


def test_a_service_keeps_what_its_vip_needs_and_dumps_back_to_itself() -> None:
    raw = service(
        type="LoadBalancer",
        loadBalancerIP="203.0.113.5",
        externalIPs=["203.0.113.9", "2001:db8::9"],
        annotations={"romana.io/external-pool": "edge"},
    )
    raw["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}]}}
    s = ko.parse(raw)
    assert s == ko.Service(
        "shop",
        "web",
        "LoadBalancer",
        (("app", "web"),),
        (A("203.0.113.9"), A("2001:db8::9")),
        A("203.0.113.5"),
        "",
        "edge",
        ("203.0.113.5",),
    )
    assert ko.parse(dump.dump(s)) == s
    assert svc().type == "ClusterIP", "the API server's default type"


def test_a_bad_service_names_every_field() -> None:
    bad = service(type="Balanced", externalIPs=["203.0.113.9", "nine"], loadBalancerIP="x")
    with pytest.raises(InvalidInput) as caught:
        ko.parse(bad)
    fields = {i.field for i in caught.value.issues}
    assert fields == {"spec.type", "spec.externalIPs[1]", "spec.loadBalancerIP"}


def test_a_pods_external_ip_annotation_is_kept_and_dumped() -> None:
    p = pod("db", "10.1.16.1", note="edge/203.0.113.7")
    assert p.external_ip == "edge/203.0.113.7"
    assert ko.parse(dump.dump(p)) == p
    assert pod("db", "10.1.16.1").external_ip == ""


# -- the VIP name ----------------------------------------------------------------------------


def test_a_vip_name_spells_out_namespace_and_name_when_it_can() -> None:
    assert exposure.vip_name("shop", "web") == "k-shop-web"
    assert exposure.vip_name("shop", "web-v2") == "k-shop-web-v2"


def test_vip_names_never_collide_where_the_plain_form_would() -> None:
    one, two = exposure.vip_name("a-b", "c"), exposure.vip_name("a", "b-c")
    assert two == "k-a-b-c" and one != two
    assert one.startswith("k--a-b-c-") and len(one) == len("k--a-b-c-") + exposure.DIGEST_HEX


def test_every_vip_name_is_a_valid_vip_name_with_the_prefix() -> None:
    pattern = re.compile(vips.NAME_PATTERN)
    cases = [("shop", "web"), ("a" * 63, "b" * 63), ("my-ns", "x"), ("Shop", "Web.1"), ("n", "-")]
    names = [exposure.vip_name(ns, n) for ns, n in cases]
    for name in names:
        assert pattern.fullmatch(name), name
        assert name.startswith(exposure.VIP_PREFIX)
    assert len(set(names)) == len(names)
    long_a = exposure.vip_name("a" * 63, "b" * 62 + "c")
    long_b = exposure.vip_name("a" * 63, "b" * 62 + "d")
    assert long_a != long_b, "names cut to the same hint differ by their digest"


# -- selection and the desired state --------------------------------------------------------


def test_a_service_selects_its_namespaces_pods_with_all_its_labels() -> None:
    s = svc(selector={"app": "web", "tier": "front"})
    assert exposure.selects(s, pod("a", "10.1.16.1", app="web", tier="front", extra="x"))
    assert not exposure.selects(s, pod("b", "10.1.16.2", app="web"))
    assert not exposure.selects(s, pod("c", "10.1.16.3", ns="bank", app="web", tier="front"))
    assert not exposure.selects(svc(selector={}), pod("d", "10.1.16.4", app="web"))
    host = ko.Pod("shop", "h", (("app", "web"), ("tier", "front")), host_network=True)
    assert not exposure.selects(s, host)


def test_a_load_balancer_wants_a_vip_of_its_pods_with_addresses() -> None:
    pods = [
        pod("web-2", "10.1.16.2", app="web"),
        pod("web-1", "10.1.16.1", app="web"),
        pod("web-3", app="web"),  # no address yet: left out
        pod("db", "10.1.16.9", app="db"),
    ]
    got = exposure.desired([svc(type="LoadBalancer")], pods, SETTINGS)
    assert got.vips == (
        exposure.WantedVip(
            "k-shop-web",
            "shop/web",
            "kubernetes",
            None,
            (("shop/web-1", "10.1.16.1"), ("shop/web-2", "10.1.16.2")),
            True,
        ),
    )
    assert got.notes == () and got.refused == ()


def test_the_pool_comes_from_the_annotation_else_the_setting() -> None:
    annotated = svc(type="LoadBalancer", annotations={"romana.io/external-pool": "edge"})
    plain = svc(name="api", type="LoadBalancer")
    got = exposure.desired([annotated, plain], [], translation.Settings(vip_pool="lb"))
    assert [(v.name, v.pool) for v in got.vips] == [("k-shop-api", "lb"), ("k-shop-web", "edge")]


def test_external_ips_give_the_address_and_the_others_are_noted() -> None:
    s = svc(externalIPs=["203.0.113.9", "203.0.113.10"])
    (wanted,) = exposure.desired([s], [], SETTINGS).vips
    assert wanted.address == A("203.0.113.9") and not wanted.load_balancer
    (note,) = exposure.desired([s], [], SETTINGS).notes
    assert "shop/web" in note and "not served: 203.0.113.10" in note
    lb = svc(type="LoadBalancer", loadBalancerIP="203.0.113.5")
    assert exposure.desired([lb], [], SETTINGS).vips[0].address == A("203.0.113.5")


def test_only_load_balancers_of_no_class_and_external_ips_want_vips() -> None:
    services = [
        svc(name="a"),
        svc(name="b", type="NodePort"),
        svc(name="c", type="LoadBalancer", loadBalancerClass="example.com/other"),
    ]
    assert exposure.desired(services, [], SETTINGS).vips == ()
    classed = svc(type="LoadBalancer", loadBalancerClass="x/y", externalIPs=["203.0.113.9"])
    (wanted,) = exposure.desired([classed], [], SETTINGS).vips
    assert not wanted.load_balancer, "its class's controller writes its status"


def test_pod_annotations_want_external_ips_and_bad_ones_are_refused() -> None:
    pods = [
        pod("a", "10.1.16.1", note="edge"),
        pod("b", "10.1.16.2", note="edge/203.0.113.7"),
        pod("c", "10.1.16.3", note="edge/seven"),
        pod("d", note="edge"),  # no address yet: asked again once it has one
    ]
    got = exposure.desired([], pods, SETTINGS)
    assert got.external_ips == (
        exposure.WantedIp("shop/a", "10.1.16.1", "edge", None),
        exposure.WantedIp("shop/b", "10.1.16.2", "edge", A("203.0.113.7")),
    )
    ((what, why),) = got.refused
    assert what == "external-ips" and "shop/c" in why and "'seven' is not an IP address" in why


# -- the sync over a port --------------------------------------------------------------------


class Port:
    """VIPs and external IPs as dictionaries; pools as address lists handed out in order."""

    def __init__(self) -> None:
        self.keys = {f"10.1.16.{i}": f"c{i}:eth0" for i in range(1, 9)}
        self.pools = {"kubernetes": [f"203.0.113.{i}" for i in range(1, 9)]}
        self.vip_map: dict[str, Vip] = {}
        self.ip_map: dict[str, tuple[str, str]] = {}

    def endpoint_keys(self, addresses: Sequence[str]) -> dict[str, str]:
        return {a: self.keys[a] for a in addresses if a in self.keys}

    def vips(self) -> dict[str, Vip]:
        return dict(self.vip_map)

    def _take(self, pool: str, address: str | None) -> str:
        if pool not in self.pools:
            raise NotFound(f"external pool {pool!r} does not exist")
        used = {str(v.address) for v in self.vip_map.values()} | set(self.ip_map)
        return address or next(a for a in self.pools[pool] if a not in used)

    def create_vip(
        self, name: str, pool: str, endpoints: Sequence[str], address: str | None
    ) -> Vip:
        made = Vip(
            name, A(self._take(pool, address)), pool, tuple(AllocationKey(e) for e in endpoints)
        )
        self.vip_map[name] = made
        return made

    def set_vip_endpoints(self, name: str, endpoints: Sequence[str]) -> None:
        old = self.vip_map[name]
        self.vip_map[name] = Vip(name, old.address, old.pool, tuple(map(AllocationKey, endpoints)))

    def delete_vip(self, name: str) -> None:
        self.vip_map.pop(name, None)

    def external_ips(self) -> dict[str, tuple[str, str]]:
        return dict(self.ip_map)

    def assign_external_ip(self, pool: str, endpoint: str, address: str | None) -> tuple[str, bool]:
        key = self.keys[endpoint]
        for held, (p, k) in self.ip_map.items():
            if k == key and p == pool:
                return held, False
        given = self._take(pool, address)
        self.ip_map[given] = (pool, key)
        return given, True

    def unassign_external_ip(self, address: str) -> None:
        self.ip_map.pop(address, None)


def run(
    port: Port, services: list[ko.Service], pods: list[ko.Pod], earlier: record.Derived
) -> tuple[record.Derived, sync.Changes]:
    changes = sync.Changes()
    wanted = exposure.desired(services, pods, SETTINGS)
    return exposesync.reconcile(port, wanted, earlier, changes, set()), changes


def test_vips_follow_their_pods_and_go_with_their_service() -> None:
    port = Port()
    lb = svc(type="LoadBalancer")
    pods = [pod("w1", "10.1.16.1", app="web"), pod("w2", "10.1.16.2", app="web")]
    made, changes = run(port, [lb], pods, record.Derived())
    assert made.vips == {"k-shop-web"} and changes.created == ["vips/k-shop-web"]
    assert port.vip_map["k-shop-web"].endpoints == ("c1:eth0", "c2:eth0")
    assert changes.load_balancers == [("shop/web", "203.0.113.1")]

    again, changes = run(port, [lb], pods, made)
    assert again == made and changes.created == changes.updated == changes.deleted == []

    _, changes = run(port, [lb], pods[:1], made)
    assert changes.updated == ["vips/k-shop-web"]
    assert list(port.vip_map["k-shop-web"].endpoints) == ["c1:eth0"]

    gone, changes = run(port, [], pods, made)
    assert changes.deleted == ["vips/k-shop-web"] and port.vip_map == {} and gone.vips == set()


def test_a_vip_the_syncs_did_not_record_is_never_deleted() -> None:
    port = Port()
    port.create_vip("k-shop-old", "kubernetes", [], None)
    run(port, [], [], record.Derived(vips=frozenset({"k-shop-gone"})))
    assert set(port.vip_map) == {"k-shop-old"}


def test_a_vip_that_cannot_be_made_is_refused_naming_its_service_and_others_go_on() -> None:
    port = Port()
    bad = svc(name="bad", type="LoadBalancer", annotations={"romana.io/external-pool": "nope"})
    good = svc(type="LoadBalancer")
    made, changes = run(port, [bad, good], [pod("w1", "10.1.16.1", app="web")], record.Derived())
    ((what, why),) = changes.refused
    assert what == "vips/k-shop-bad" and "shop/bad" in why and "'nope' does not exist" in why
    assert made.vips == {"k-shop-web"} and set(port.vip_map) == {"k-shop-web"}


def test_a_new_address_gives_a_new_vip_of_the_same_name() -> None:
    port = Port()
    made, _ = run(port, [svc(type="LoadBalancer")], [], record.Derived())
    moved = svc(type="LoadBalancer", loadBalancerIP="203.0.113.7")
    _, changes = run(port, [moved], [], made)
    assert changes.deleted == changes.created == ["vips/k-shop-web"]
    assert port.vip_map["k-shop-web"].address == A("203.0.113.7")


def test_annotations_assign_external_ips_and_only_the_syncs_own_are_unassigned() -> None:
    port = Port()
    port.ip_map["203.0.113.8"] = ("kubernetes", "c2:eth0")  # an operator's
    annotated = [pod("a", "10.1.16.1", note="kubernetes"), pod("b", "10.1.16.2")]
    made, changes = run(port, [], annotated, record.Derived())
    assert made.external_ips == {("203.0.113.1", "c1:eth0")}
    assert changes.created == ["external-ips/203.0.113.1"]
    _, changes = run(port, [], annotated, made)
    assert changes.created == changes.deleted == []
    gone, changes = run(port, [], [pod("a", "10.1.16.1"), pod("b", "10.1.16.2")], made)
    assert changes.deleted == ["external-ips/203.0.113.1"] and gone.external_ips == set()
    assert port.ip_map == {"203.0.113.8": ("kubernetes", "c2:eth0")}
