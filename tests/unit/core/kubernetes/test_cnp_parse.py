"""Reading ClusterNetworkPolicy documents: the values a valid one gives, and every problem of
an invalid one named at its field path, the object refused whole.

The limits are those of the upstream CRD (kubernetes-sigs/network-policy-api,
``config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml``, bundle
v0.2.0, and ``apis/v1beta1/clusternetworkpolicy_types.go``).
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest

from romana.core.errors import InvalidInput
from romana.core.kubernetes.cnp import model, parse
from romana.core.kubernetes.cnp.model import Action, PortMatch, Tier
from romana.core.policy import selectors

# The shape of upstream conformance/base/admin_tier/standard-egress-tcp-rules.yaml, in the
# v0.2.0 ``protocols`` form.
VALID: dict[str, Any] = {
    "apiVersion": "policy.networking.k8s.io/v1alpha2",
    "kind": "ClusterNetworkPolicy",
    "metadata": {"name": "egress-tcp", "uid": "u-1"},
    "spec": {
        "tier": "Admin",
        "priority": 6,
        "subject": {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "gryffindor"}}},
        "ingress": [
            {
                "name": "deny-from-slytherin-web",
                "action": "Deny",
                "from": [{"pods": {"podSelector": {"matchLabels": {"app": "draco"}}}}],
                "protocols": [{"destinationNamedPort": "web"}],
            }
        ],
        "egress": [
            {
                "name": "allow-to-ravenclaw-everything",
                "action": "Accept",
                "to": [{"namespaces": {"matchLabels": {"house": "ravenclaw"}}}],
            },
            {
                "action": "Pass",
                "to": [{"networks": ["10.0.0.0/8", "fd00::/8"]}, {"nodes": {}}],
                "protocols": [
                    {"tcp": {"destinationPort": {"number": 80}}},
                    {"udp": {"destinationPort": {"range": {"start": 5000, "end": 5010}}}},
                    {"sctp": {"destinationPort": {"number": 9003}}},
                ],
            },
        ],
    },
}


def doc(**spec: Any) -> dict[str, Any]:
    out = copy.deepcopy(VALID)
    out["spec"].update(spec)
    return out


def problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse.parse(raw)
    return {i.field: i.rule for i in caught.value.issues}


def test_a_valid_policy_becomes_frozen_values() -> None:
    policy = parse.parse(VALID)
    assert policy.name == "egress-tcp" and policy.uid == "u-1"
    assert policy.tier is Tier.ADMIN and policy.priority == 6
    assert policy.subject == model.Pods(
        selectors.Selector((("kubernetes.io/metadata.name", "gryffindor"),))
    )
    (deny,) = policy.ingress
    assert deny.action is Action.DENY and deny.name == "deny-from-slytherin-web"
    assert deny.peers[0].pods == model.Pods(
        selectors.EVERYTHING, selectors.Selector((("app", "draco"),))
    )
    assert deny.ports == (PortMatch(name="web"),)
    accept, passing = policy.egress
    assert (accept.index, accept.action, accept.ports) == (0, Action.ACCEPT, ())
    assert passing.index == 1 and passing.action is Action.PASS and passing.name == ""
    assert passing.peers[0].networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert passing.peers[1].nodes == selectors.EVERYTHING
    assert passing.ports == (
        PortMatch("TCP", 80, 80),
        PortMatch("UDP", 5000, 5010),
        PortMatch("SCTP", 9003, 9003),
    )


def test_v1beta1_is_read_like_v1alpha2() -> None:
    raw = doc()
    raw["apiVersion"] = "policy.networking.k8s.io/v1beta1"
    assert parse.parse(raw) == parse.parse(VALID)


def test_a_pods_subject_without_namespace_selector_covers_every_namespace() -> None:
    """Upstream base/admin_tier/standard-gress-omitted-namespaceselector.yaml."""
    policy = parse.parse(doc(subject={"pods": {"podSelector": {"matchLabels": {"a": "b"}}}}))
    assert policy.subject == model.Pods(selectors.EVERYTHING, selectors.Selector((("a", "b"),)))


def test_no_rules_at_all_is_valid_and_affects_nothing() -> None:
    raw = doc()
    del raw["spec"]["ingress"], raw["spec"]["egress"]
    policy = parse.parse(raw)
    assert policy.ingress == () and policy.egress == ()


def test_every_problem_of_one_object_is_named_at_once() -> None:
    raw = doc(
        tier="Platform",
        priority=1001,
        ingress=[
            {"action": "Allow", "from": [{"networks": ["10.0.0.0/8"]}]},
            {"action": "Deny", "from": [{"nodes": {}}]},
        ],
        egress=[
            {"action": "Deny", "to": []},
            {"action": "Deny", "to": [{"networks": ["10.0.0.1/8", "300.0.0.0/8", "10.1.0.0"]}]},
            {
                "action": "Accept",
                "to": [{"namespaces": {}}],
                "protocols": [
                    {"icmp": {}},
                    {"tcp": {"destinationPort": {"range": {"start": 90, "end": 80}}}},
                    {"udp": {"destinationPort": {"number": 0}}},
                    {"tcp": {}},
                ],
            },
            {"name": "x" * 101, "action": "Pass", "to": [{"networks": ["0.0.0.0/0"]}]},
        ],
    )
    found = problems(raw)
    assert found == {
        "spec.tier": "must be Admin or Baseline",
        "spec.priority": "must be an integer 0-1000 (lower applies first)",
        "spec.ingress[0].action": "'Allow' is not an action: Accept, Deny or Pass (v1alpha1's "
        "Allow is written Accept)",
        "spec.ingress[0].from[0].networks": (
            "a networks peer is not valid in ingress rules (ingress peers: namespaces, pods)"
        ),
        "spec.ingress[1].from[0].nodes": (
            "a nodes peer is not valid in ingress rules (ingress peers: namespaces, pods)"
        ),
        "spec.egress[0].to": "must hold 1-25 peers (has 0)",
        "spec.egress[1].to[0].networks[1]": "'300.0.0.0/8' is not a CIDR such as 10.0.0.0/8 or "
        "fd00::/8 (an address, '/' and a prefix length in decimal)",
        "spec.egress[1].to[0].networks[2]": "must be a CIDR of at most 43 characters, such as "
        "10.0.0.0/8",
        "spec.egress[2].protocols[0].icmp": (
            "'icmp' is not a protocol: give one of tcp, udp, sctp, destinationNamedPort"
        ),
        "spec.egress[2].protocols[1].tcp.destinationPort.range": (
            "start (90) must be less than end (80)"
        ),
        "spec.egress[2].protocols[2].udp.destinationPort.number": "must be a port number 1-65535",
        "spec.egress[2].protocols[3].tcp.destinationPort": "is required (number or range)",
        "spec.egress[3].name": "must be text of at most 100 characters",
    }


def test_the_refusal_names_the_object_and_every_problem_in_its_message() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse.parse(doc(priority=-1, tier="admin"))
    text = str(caught.value)
    assert text.startswith("invalid ClusterNetworkPolicy 'egress-tcp': ")
    assert "spec.tier: must be Admin or Baseline" in text
    assert "spec.priority: must be an integer 0-1000" in text


@pytest.mark.parametrize("priority", [0, 1000])
def test_priority_bounds_are_inclusive(priority: int) -> None:
    assert parse.parse(doc(priority=priority)).priority == priority


@pytest.mark.parametrize("priority", [-1, 1001, "5", 2.5, True, None])
def test_a_priority_outside_0_to_1000_or_not_an_integer_is_refused(priority: object) -> None:
    assert "spec.priority" in problems(doc(priority=priority))


def test_list_limits_follow_the_crd() -> None:
    peer: dict[str, Any] = {"namespaces": {}}
    rule = {"action": "Deny", "to": [peer] * 26, "protocols": []}
    found = problems(
        doc(
            egress=[rule] * 26,
            ingress=[
                {
                    "action": "Deny",
                    "from": [peer],
                    "protocols": [{"destinationNamedPort": "a"}] * 26,
                }
            ],
        )
    )
    assert found["spec.egress"] == "must hold at most 25 rules (has 26)"
    assert found["spec.egress[0].to"] == "must hold 1-25 peers (has 26)"
    assert found["spec.egress[25].protocols"] == "must hold 1-25 protocols (has 0)"
    assert found["spec.ingress[0].protocols"] == "must hold 1-25 protocols (has 26)"
    networks = [f"10.{i}.0.0/16" for i in range(26)]
    found = problems(doc(egress=[{"action": "Deny", "to": [{"networks": networks}]}]))
    assert found == {"spec.egress[0].to[0].networks": "must hold 1-25 CIDRs (has 26)"}


def test_a_peer_gives_exactly_one_kind() -> None:
    both: dict[str, Any] = {"namespaces": {}, "pods": {"podSelector": {}}}
    found = problems(doc(egress=[{"action": "Deny", "to": [both, {}]}]))
    assert found == {
        "spec.egress[0].to[0]": "must give exactly one of namespaces, pods, nodes, networks, "
        "domainNames (gives namespaces, pods)",
        "spec.egress[0].to[1]": "must give exactly one of namespaces, pods, nodes, networks, "
        "domainNames",
    }


def test_the_subject_gives_exactly_one_kind_and_pods_need_a_pod_selector() -> None:
    assert problems(doc(subject={"namespaces": {}, "pods": {"podSelector": {}}})) == {
        "spec.subject": "must give exactly one of namespaces, pods (gives namespaces, pods)"
    }
    assert problems(doc(subject={"pods": {"namespaceSelector": {}}})) == {
        "spec.subject.pods.podSelector": "is required ({} selects every pod)"
    }
    raw = doc()
    del raw["spec"]["subject"]
    assert problems(raw) == {"spec.subject": "is required (namespaces or pods)"}


def test_a_named_port_cannot_go_with_networks_or_nodes_peers() -> None:
    """The CRD's CEL rule on ClusterNetworkPolicyEgressRule."""
    rule = {
        "action": "Accept",
        "to": [{"namespaces": {}}, {"networks": ["192.0.2.0/24"]}],
        "protocols": [{"destinationNamedPort": "web"}],
    }
    assert problems(doc(egress=[rule])) == {
        "spec.egress[0]": "a destinationNamedPort cannot be used with networks or nodes "
        "peers: they have no named ports"
    }


REVIEWED = [
    {"action": "Accept", "to": [{"domainNames": ["*.kubernetes.io"]}]},
    {"action": "Deny", "to": [{"networks": ["10.1.2.3/8"]}]},
]
"""What the API server accepts in v1alpha2 and romana once refused whole, Deny rule and all."""


def test_what_the_api_server_accepts_is_read_with_notes_not_refused() -> None:
    policy = parse.parse(doc(egress=REVIEWED))
    accept, deny = policy.egress
    assert accept.action is Action.ACCEPT
    assert accept.peers == (model.Peer(domain_names=("*.kubernetes.io",)),), "matches nothing"
    assert deny.action is Action.DENY
    assert deny.peers == (model.Peer(networks=(ipaddress.ip_network("10.0.0.0/8"),)),)
    assert policy.notes == (
        "spec.egress[0]: its domainNames peer matches nothing: romana cannot enforce domain "
        "names (it has no DNS-aware dataplane)",
        "spec.egress[1].to[0].networks[0]: '10.1.2.3/8' has host bits set: taken as 10.0.0.0/8",
    )


@pytest.mark.parametrize("action", ["Deny", "Pass"])
def test_a_deny_or_pass_rule_with_domain_names_fails_closed_as_deny_all(action: str) -> None:
    """The API: an implementation that cannot read a peer treats a Deny or Pass rule as
    "Deny all" (an Accept rule as matching nothing)."""
    tcp = [{"tcp": {"destinationPort": {"number": 443}}}]
    rule = {"action": action, "to": [{"domainNames": ["example.com"]}], "protocols": tcp}
    (read,) = parse.parse(doc(egress=[rule])).egress
    every = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    assert (read.action, read.peers) == (Action.DENY, (model.Peer(networks=every),))
    assert read.ports == (PortMatch("TCP", 443, 443),)


def test_what_the_api_server_refuses_stays_refused() -> None:
    beta = doc(egress=[REVIEWED[1]])
    beta["apiVersion"] = "policy.networking.k8s.io/v1beta1"
    assert problems(beta) == {
        "spec.egress[0].to[0].networks[0]": "'10.1.2.3/8' has host bits set: the network is not "
        "masked"
    }
    names = {"action": "Accept", "to": [{"domainNames": ["*kubernetes.io", "a.io", "a.io"]}]}
    assert problems(doc(egress=[names, {"action": "Accept", "to": [{"domainNames": []}]}])) == {
        "spec.egress[0].to[0].domainNames[0]": "'*kubernetes.io' is not a domain name such as "
        "*.kubernetes.io",
        "spec.egress[0].to[0].domainNames[2]": "'a.io' is given twice (domainNames is a set)",
        "spec.egress[1].to[0].domainNames": "must hold 1-25 domain names (has 0)",
    }
    ingress = {"action": "Deny", "from": [{"domainNames": ["a.io"]}]}
    assert problems(doc(ingress=[ingress])) == {
        "spec.ingress[0].from[0].domainNames": "a domainNames peer is not valid in ingress "
        "rules (ingress peers: namespaces, pods)"
    }


def test_unknown_keys_and_bad_selectors_are_named() -> None:
    raw = doc(
        ports=[],
        egress=[
            {
                "action": "Deny",
                "to": [{"namespaces": {"matchExpressions": [{"key": "a", "operator": "Is"}]}}],
                "ports": [],
            }
        ],
    )
    found = problems(raw)
    assert found["spec.ports"].startswith("unknown key")
    assert found["spec.egress[0].ports"].startswith("unknown key")
    assert found["spec.egress[0].to[0].namespaces.matchExpressions[0].operator"] == (
        "must be one of In, NotIn, Exists, DoesNotExist"
    )


def test_duplicate_cidrs_and_a_missing_action_or_peer_list_are_named() -> None:
    found = problems(
        doc(egress=[{"to": [{"networks": ["10.0.0.0/8", "10.0.0.0/8"]}]}, {"action": "Deny"}])
    )
    assert found == {
        "spec.egress[0].action": "None is not an action: Accept, Deny or Pass",
        "spec.egress[0].to[0].networks[1]": "'10.0.0.0/8' is given twice (networks is a set)",
        "spec.egress[1].to": "is required: at least one peer",
    }


def test_kind_api_version_and_name_are_checked() -> None:
    raw = doc()
    raw.update(apiVersion="policy.networking.k8s.io/v1alpha1", kind="AdminNetworkPolicy")
    raw["metadata"] = {}
    assert set(problems(raw)) == {"apiVersion", "kind", "metadata.name"}


def test_shared_priorities_are_warnings_naming_the_policies() -> None:
    """The API allows shared priorities (``spec.priority``: "the implementation can apply any
    of the matching policies"; upstream CNPAdminTierSamePriority, CNPBaselineTierSamePriority
    apply all of them). Romana names them, and does not refuse them."""

    def named(name: str, tier: str, priority: int) -> model.ClusterNetworkPolicy:
        raw = doc(tier=tier, priority=priority)
        raw["metadata"]["name"] = name
        return parse.parse(raw)

    policies = [
        named("b", "Admin", 5),
        named("a", "Admin", 5),
        named("c", "Admin", 6),
        named("d", "Baseline", 5),
        named("e", "Baseline", 1),
        named("f", "Baseline", 1),
    ]
    clashes = model.priority_clashes(policies)
    assert [(c.tier, c.priority, c.names) for c in clashes] == [
        (Tier.ADMIN, 5, ("a", "b")),
        (Tier.BASELINE, 1, ("e", "f")),
    ]
    assert str(clashes[0]).startswith("Admin tier, priority 5: a, b share a priority")
    assert [p.name for p in model.ordered(policies, Tier.ADMIN)] == ["a", "b", "c"]


@pytest.mark.parametrize("version", ["v1alpha2", "v1beta1"])
@pytest.mark.parametrize(
    ("cidr", "rule"),
    [
        ("10.0.0.0/255.0.0.0", "a prefix length in decimal"),
        ("10.0.0.0/0.255.255.255", "a prefix length in decimal"),
        ("10.0.0.0/08", "a prefix length in decimal"),
        ("fe80::%eth0/64", "a prefix length in decimal"),
        ("::ffff:10.0.0.0/104", "an IPv4-mapped IPv6 address, which is not allowed"),
    ],
)
def test_a_cidr_the_crd_refuses_is_refused(version: str, cidr: str, rule: str) -> None:
    """The CRD's ``isCIDR`` reads a CIDR with Go's ``netip.ParsePrefix`` and refuses an
    IPv4-mapped address: a netmask, a zone or a leading zero never reaches a cluster, so a
    file that has one must not be enforced as some network romana guessed."""
    raw = doc(egress=[{"action": "Deny", "to": [{"networks": [cidr]}]}])
    raw["apiVersion"] = f"policy.networking.k8s.io/{version}"
    found = problems(raw)
    assert list(found) == ["spec.egress[0].to[0].networks[0]"]
    assert found["spec.egress[0].to[0].networks[0]"].startswith(repr(cidr))
    assert rule in found["spec.egress[0].to[0].networks[0]"]


def test_cidrs_the_api_server_takes_are_read_as_networks() -> None:
    networks = ["0.0.0.0/0", "::/0", "192.0.2.7/32", "2001:db8::/32", "::1.2.3.4/128"]
    raw = doc(egress=[{"action": "Deny", "to": [{"networks": networks}]}])
    (deny,) = parse.parse(raw).egress
    assert deny.peers[0].networks == tuple(ipaddress.ip_network(n) for n in networks)


@pytest.mark.parametrize("name", ["Deny-All", "deny_all", "-deny", "deny.", "a" * 254])
def test_a_name_that_is_not_a_dns_subdomain_is_refused(name: str) -> None:
    """The API server admits a custom resource only under a DNS subdomain name."""
    raw = doc()
    raw["metadata"]["name"] = name
    assert set(problems(raw)) == {"metadata.name"}
    assert "is not a DNS subdomain name" in problems(raw)["metadata.name"]


@pytest.mark.parametrize("name", ["deny-all", "a.b-c.0", "a" * 253])
def test_dns_subdomain_names_are_taken(name: str) -> None:
    raw = doc()
    raw["metadata"]["name"] = name
    assert parse.parse(raw).name == name


@pytest.mark.parametrize(
    ("kind", "tier"),
    [("AdminNetworkPolicy", "Admin"), ("BaselineAdminNetworkPolicy", "Baseline")],
)
def test_v1alpha1_is_refused_by_name_only(kind: str, tier: str) -> None:
    """An AdminNetworkPolicy in its own shape (no tier, ``ports``, ``Allow``): the refusal
    says which API it is and what replaces it, not every v1alpha2 rule its spec breaks."""
    raw = {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "pub-svc-delegate"},
        "spec": {
            "priority": 20,
            "subject": {"namespaces": {}},
            "egress": [
                {
                    "action": "Allow",
                    "to": [{"namespaces": {"namespaceSelector": {}}}],
                    "ports": [{"portNumber": {"protocol": "TCP", "port": 8080}}],
                }
            ],
        },
    }
    found = problems(raw)
    assert set(found) == {"apiVersion", "kind"}
    assert found["kind"] == (
        f"{kind} is not supported: write a ClusterNetworkPolicy with spec.tier {tier} instead"
    )


def test_v1alpha1_spellings_in_a_v1alpha2_rule_name_their_replacement() -> None:
    rule = {
        "action": "Allow",
        "to": [{"namespaces": {}}],
        "ports": [{"portNumber": {"protocol": "TCP", "port": 80}}],
    }
    found = problems(doc(egress=[rule]))
    assert found == {
        "spec.egress[0].action": "'Allow' is not an action: Accept, Deny or Pass (v1alpha1's "
        "Allow is written Accept)",
        "spec.egress[0].ports": "unknown key: ports is v1alpha1's (AdminNetworkPolicy); write "
        "protocols, such as [{tcp: {destinationPort: {number: 80}}}] or "
        "[{destinationNamedPort: web}]",
    }
