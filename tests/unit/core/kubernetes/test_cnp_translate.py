"""ClusterNetworkPolicy objects into tiered Romana policies and address sets, and back out of
documents: the kind among the others, its canonical dump, its place in the stored record.

The cluster is the miniature of upstream's conformance cluster (:mod:`support.cnp_cluster`):
four houses as namespaces, pods with named ports (``web`` TCP 80, ``dns`` UDP 53, ...), two
nodes. Every translated policy is also parsed back by the policy parser, as romanad stores
it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from romana.core.errors import InvalidInput
from romana.core.kubernetes import cnptranslate, dump, record, translation
from romana.core.kubernetes import objects as ko
from romana.core.policy import ids, model, parse
from support.cnp_cluster import (
    NAMESPACES,
    NODES,
    PODS,
    cnp,
    egress,
    house,
    ingress,
    named,
    pods,
    sctp,
    tcp,
    udp,
)

HOUSES = sorted(NAMESPACES.values(), key=lambda n: n.name)
ALL_PODS = list(PODS.values())


def translated(*policies: ko.ClusterNetworkPolicy) -> cnptranslate.Translation:
    out = cnptranslate.translate(policies, HOUSES, ALL_PODS)
    for p in out.policies:
        assert parse.policy(p.to_dict()) == p, "romanad stores what the translation gives"
    return out


def only(t: cnptranslate.Translation) -> dict[str, Any]:
    (policy,) = t.policies
    return policy.to_dict()


def members(t: cnptranslate.Translation, name: str) -> list[str]:
    return [str(n) for n in cnptranslate.address_sets(t.sets, ALL_PODS, NODES.values())[name]]


def test_whole_namespaces_are_tenant_masks_and_the_policy_keeps_tier_priority_and_rule_order() -> (
    None
):
    t = translated(
        cnp(
            "guard",
            tier="Baseline",
            priority=7,
            subject=house("gryffindor"),
            ingress=[
                ingress("Deny", house("slytherin"), name="no-slytherin"),
                ingress("Pass", house("hufflepuff"), ports=(tcp(80), tcp(8000, 8100))),
                ingress("Accept", {"namespaces": {}}),
            ],
        )
    )
    doc = only(t)
    assert doc["name"] == "kube.cnp:guard" and doc["tier"] == "baseline" and doc["priority"] == 7
    assert doc["description"] == "Kubernetes ClusterNetworkPolicy guard"
    assert doc["applied_to"] == [{"tenant": "gryffindor"}]
    assert [(c["action"], c.get("name", "")) for c in doc["ingress"]] == [
        ("deny", "no-slytherin"),
        ("pass", ""),
        ("allow", ""),
    ]
    assert doc["ingress"][0]["peers"] == [{"tenant": "slytherin"}]
    assert doc["ingress"][0]["rules"] == [{"protocol": "any"}]
    assert doc["ingress"][1]["rules"] == [
        {"protocol": "tcp", "ports": [80]},
        {"protocol": "tcp", "port_ranges": [[8000, 8100]]},
    ]
    assert doc["ingress"][2]["peers"] == [{"tenant": h.name} for h in HOUSES]
    assert set(t.sets) == set(), "masks only: nothing that changes with the pods"
    assert t.origins["kube.cnp:guard"].ingress == (0, 1, 2)


def test_swapping_two_rules_swaps_their_clauses() -> None:
    first = ingress("Deny", house("slytherin"), name="deny")
    second = ingress("Accept", house("slytherin"), name="accept")
    ab = only(translated(cnp("p", ingress=[first, second])))["ingress"]
    ba = only(translated(cnp("p", ingress=[second, first])))["ingress"]
    assert [c["name"] for c in ab] == ["deny", "accept"]
    assert ab == ba[::-1]


def test_pod_selectors_become_sets_whose_members_are_the_selected_pods() -> None:
    t = translated(
        cnp(
            "draco",
            subject=pods("draco", "slytherin"),
            egress=[egress("Deny", pods("harry"))],
        )
    )
    doc = only(t)
    (target,) = doc["applied_to"]
    (peer,) = doc["egress"][0]["peers"]
    assert members(t, target["address_set"]) == ["10.2.0.10/32", "10.2.0.11/32"]
    # A pods peer without namespaceSelector: every namespace.
    assert members(t, peer["address_set"]) == ["10.1.0.10/32", "10.1.0.11/32"]
    assert target["address_set"].startswith(translation.PREFIX)


def test_the_segment_label_alone_is_a_segment_mask() -> None:
    front = {"matchLabels": {translation.SEGMENT_LABEL: "front"}}
    segment = {"pods": {"namespaceSelector": {}, "podSelector": front}}
    doc = only(translated(cnp("s", subject=segment, ingress=[ingress("Deny", house("ravenclaw"))])))
    assert doc["applied_to"] == [{"tenant": h.name, "segment": "front"} for h in HOUSES]


def test_networks_and_nodes_in_egress() -> None:
    t = translated(
        cnp(
            "out",
            egress=[
                egress("Accept", {"networks": ["203.0.113.0/24", "2001:db8::/32"]}),
                egress("Deny", {"nodes": {"matchLabels": {"role": "control-plane"}}}),
            ],
        )
    )
    clauses = only(t)["egress"]
    assert clauses[0]["peers"] == [{"cidr": "203.0.113.0/24"}, {"cidr": "2001:db8::/32"}]
    (nodes,) = clauses[1]["peers"]
    assert nodes["address_set"].startswith(cnptranslate.NODE_SET_PREFIX)
    assert members(t, nodes["address_set"]) == ["192.0.2.11/32"]
    moved = [ko.Node("node-b", "192.0.2.99", (("role", "control-plane"),))]
    assert cnptranslate.address_sets(t.sets, ALL_PODS, moved)[nodes["address_set"]] == (
        ipaddress.ip_network("192.0.2.99/32"),
    ), "a node's members follow the node, the policy does not change"


def test_a_node_set_holds_every_internal_and_external_address_of_a_node() -> None:
    raw = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-c", "labels": {"role": "edge"}},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "node-c"},
                {"type": "ExternalIP", "address": "203.0.113.5"},
                {"type": "InternalIP", "address": "192.0.2.12"},
                {"type": "InternalIP", "address": "fd00::12"},
            ]
        },
    }
    node = ko.parse(raw)
    assert isinstance(node, ko.Node) and node.ip == "192.0.2.12", "registered as before"
    assert ko.parse(dump.dump(node)) == node
    t = translated(
        cnp("edge", egress=[egress("Deny", {"nodes": {"matchLabels": {"role": "edge"}}})])
    )
    (peer,) = only(t)["egress"][0]["peers"]
    assert cnptranslate.address_sets(t.sets, ALL_PODS, [node])[peer["address_set"]] == (
        ipaddress.ip_network("192.0.2.12/32"),
        ipaddress.ip_network("203.0.113.5/32"),
        ipaddress.ip_network("fd00::12/128"),
    ), "a nodes peer selects the node at every address it has"


def test_a_policy_romana_once_refused_keeps_its_deny_rule_with_notes() -> None:
    rules = [
        egress("Accept", {"domainNames": ["*.kubernetes.io"]}),
        egress("Deny", {"networks": ["10.1.2.3/8"]}),
    ]
    policy = cnp("review", egress=rules)
    assert ko.parse(dump.dump(policy)) == policy, "the record keeps it as read"
    t = translated(policy)
    accept, deny = only(t)["egress"]
    assert accept["action"] == "allow" and accept["peers"] == [
        {"address_set": translation.NOTHING}
    ], "a domainNames peer matches nothing"
    assert deny["action"] == "deny" and deny["peers"] == [{"cidr": "10.0.0.0/8"}]
    assert deny["rules"] == [{"protocol": "any"}]
    assert any("review: spec.egress[0]: its domainNames peer" in n for n in t.notes), t.notes
    assert any("'10.1.2.3/8' has host bits set: taken as 10.0.0.0/8" in n for n in t.notes)


def test_ingress_named_ports_resolve_on_the_subject_pods_as_narrowed_clauses() -> None:
    t = translated(
        cnp(
            "named",
            subject=house("gryffindor"),
            ingress=[ingress("Accept", house("slytherin"), ports=(named("web"), named("dns")))],
        )
    )
    clauses = only(t)["ingress"]
    assert [c["rules"] for c in clauses] == [
        [{"protocol": "tcp", "ports": [80]}],
        [{"protocol": "udp", "ports": [53]}],
    ]
    assert all(c["peers"] == [{"tenant": "slytherin"}] for c in clauses)
    (web,) = clauses[0]["targets"]
    # Of gryffindor, harry-potter-0/1 define web; hermione-granger-0 defines no port.
    assert set(members(t, web["address_set"])) >= {"10.1.0.10/32", "10.1.0.11/32"}
    assert "10.1.0.12/32" not in members(t, web["address_set"])
    assert t.origins["kube.cnp:named"].ingress == (0, 0)


def test_egress_named_ports_narrow_the_peers_to_the_pods_defining_them() -> None:
    t = translated(
        cnp(
            "named-out",
            egress=[
                egress("Deny", house("hufflepuff"), ports=(named("signal"),), name="no-signal"),
            ],
        )
    )
    (clause,) = only(t)["egress"]
    assert clause["name"] == "no-signal" and clause["action"] == "deny"
    assert clause["rules"] == [{"protocol": "sctp", "ports": [9003]}]
    (peer,) = clause["peers"]
    # cedric-diggory-0 defines no ports: only cedric-diggory-1 is a peer.
    assert members(t, peer["address_set"]) == ["10.3.0.11/32"]


def test_a_named_port_no_pod_defines_matches_nothing() -> None:
    t = translated(
        cnp(
            "nobody",
            ingress=[
                ingress("Deny", house("slytherin"), ports=(named("nope"),)),
                ingress("Deny", house("slytherin"), ports=(named("nope"), sctp(9003))),
            ],
        )
    )
    (clause,) = only(t)["ingress"]
    assert clause["rules"] == [{"protocol": "sctp", "ports": [9003]}]
    assert t.origins["kube.cnp:nobody"].ingress == (1,)
    assert translated(cnp("x", ingress=[ingress("Deny", house("x"), ports=(named("n"),))])) == (
        cnptranslate.Translation((), {}, {}, ())
    ), "a policy that can decide nothing is not stored"


def test_selecting_nothing_names_the_empty_set() -> None:
    doc = only(
        translated(
            cnp(
                "none",
                subject=house("durmstrang"),
                ingress=[
                    ingress("Deny", house("beauxbatons")),
                    ingress("Pass", house("slytherin")),
                ],
                egress=[egress("Deny", house("beauxbatons"), ports=(udp(53),))],
            )
        )
    )
    nothing = {"address_set": translation.NOTHING}
    assert doc["applied_to"] == [nothing]
    assert doc["ingress"][0]["peers"] == [nothing]
    assert doc["ingress"][1]["peers"] == [{"tenant": "slytherin"}]
    assert doc["egress"][0]["peers"] == [nothing]


def test_shared_priorities_are_notes() -> None:
    t = translated(
        cnp("a", priority=5, ingress=[ingress("Deny", house("slytherin"))]),
        cnp("b", priority=5, ingress=[ingress("Deny", house("ravenclaw"))]),
        cnp("c", priority=5, tier="Baseline", ingress=[ingress("Deny", house("ravenclaw"))]),
    )
    assert [p.name for p in t.policies] == ["kube.cnp:a", "kube.cnp:b", "kube.cnp:c"]
    (note,) = t.notes
    assert "Admin tier, priority 5: a, b share a priority" in note


DOCUMENT: dict[str, Any] = {
    "apiVersion": "policy.networking.k8s.io/v1alpha2",
    "kind": "ClusterNetworkPolicy",
    "metadata": {"name": "every-kind", "uid": "u-1"},
    "spec": {
        "tier": "Admin",
        "priority": 3,
        "subject": pods("harry", "gryffindor"),
        "ingress": [
            ingress("Accept", pods("draco"), ports=(named("web"), tcp(1, 9)), name="in"),
            ingress("Pass", house("ravenclaw")),
        ],
        "egress": [
            egress("Deny", {"networks": ["10.0.0.0/8"]}, {"nodes": {}}, ports=(udp(53),)),
            egress("Accept", {"pods": {"namespaceSelector": {}, "podSelector": {}}}),
        ],
    },
}


def test_a_cluster_network_policy_is_a_kind_that_dumps_and_parses_back() -> None:
    parsed = ko.parse(DOCUMENT)
    assert isinstance(parsed, ko.ClusterNetworkPolicy)
    assert parsed.uid == "u-1" and parsed.priority == 3
    assert ko.parse(dump.dump(parsed)) == parsed
    assert dump.dump(ko.parse(dump.dump(parsed))) == dump.dump(parsed)


def test_a_bad_cluster_network_policy_is_refused_naming_every_problem() -> None:
    bad = {**DOCUMENT, "spec": {**DOCUMENT["spec"], "tier": "Middle"}}
    bad["spec"]["ingress"] = [{"action": "Allow", "from": [{"nodes": {}}]}]
    with pytest.raises(InvalidInput) as caught:
        record.of_documents([{"kind": "Namespace", "metadata": {"name": "a"}}, bad])
    text = str(caught.value)
    assert text.startswith("document 2:")
    for problem in ("spec.tier", "spec.ingress[0].action", "spec.ingress[0].from[0].nodes"):
        assert problem in text


@pytest.mark.parametrize("kind", ["ClusterNetworkPolicy", "AdminNetworkPolicy"])
def test_v1alpha1_is_refused_naming_what_to_write(kind: str) -> None:
    old = {**DOCUMENT, "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": kind}
    with pytest.raises(InvalidInput) as caught:
        ko.parse(old)
    assert "v1alpha1 is not supported" in str(caught.value)
    assert "policy.networking.k8s.io/v1alpha2" in str(caught.value)


def test_the_record_keeps_cluster_network_policies() -> None:
    policy = ko.parse(DOCUMENT)
    assert isinstance(policy, ko.ClusterNetworkPolicy)
    rec = record.record(HOUSES, ALL_PODS[:2], [], None, [policy])
    assert rec["clusternetworkpolicies"] == [dump.dump(policy)]
    got = record.read(rec)
    assert got.cluster_policies == [policy] and len(got.pods) == 2
    earlier = {k: v for k, v in rec.items() if k != "clusternetworkpolicies"}
    assert record.read(earlier).cluster_policies == [], "an earlier release's record"
    broken = {**rec, "clusternetworkpolicies": [{**dump.dump(policy), "spec": {"tier": "x"}}]}
    with pytest.raises(InvalidInput, match=r"clusternetworkpolicies\[0\]\.spec\.tier"):
        record.read(broken)


def test_translated_policies_are_global_whatever_their_subject() -> None:
    """No namespace owns a ClusterNetworkPolicy: its id is its name, one namespace's subject
    or many."""
    t = translated(
        cnp("one", subject=house("gryffindor"), ingress=[ingress("Deny", house("slytherin"))]),
        cnp("many", subject={"namespaces": {}}, ingress=[ingress("Deny", house("slytherin"))]),
    )
    by_name = {p.name: p for p in t.policies}
    assert by_name["kube.cnp:one"].applied_to == (model.Endpoint.of_tenant("gryffindor"),)
    assert len(by_name["kube.cnp:many"].applied_to) == len(HOUSES)
    assert [ids.policy_id(p) for p in t.policies] == ["kube.cnp:many", "kube.cnp:one"]
