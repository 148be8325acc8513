"""ClusterNetworkPolicy scenarios by the tier evaluator: each action in each tier, order,
peers and ports, each naming what decided.

Every scenario re-expresses an upstream conformance test of kubernetes-sigs/network-policy-api
(``conformance/tests/*.go``; the ``ShortName`` is quoted in its docstring, its manifests are
under ``conformance/base/admin_tier`` and ``baseline_tier``) or, where no conformance test
covers a rule, the sentence of the API documentation
(``apis/v1alpha2/clusternetworkpolicy_types.go``) it checks. The cluster and builders are
:mod:`support.cnp_cluster`; the interplay with NetworkPolicy is in ``test_cnp_networkpolicy``.
"""

from __future__ import annotations

from typing import Any

import pytest

from romana.core.kubernetes.cnp import evaluate, netpol
from romana.core.kubernetes.cnp.evaluate import Decider
from romana.core.kubernetes.cnp.flow import Flow
from romana.core.kubernetes.cnp.model import Action, Direction, Tier
from support.cnp_cluster import (
    CEDRIC0,
    CEDRIC1,
    CENTAUR,
    DRACO,
    EGRESS_TCP,
    HARRY,
    HARRY1,
    HERMIONE,
    INGRESS_TCP,
    LUNA,
    OUTSIDE,
    by,
    cnp,
    egress,
    endpoint,
    house,
    ingress,
    named,
    pods,
    run,
    sctp,
    tcp,
    udp,
)

# ---- Admin tier: each action, each direction ------------------------------------------


def test_admin_ingress_accept_decides_with_the_first_matching_rule() -> None:
    """CNPAdminTierIngressTCP: "'allow-ingress' policy ... ensure rule ordering is respected"
    — ravenclaw reaches gryffindor by rule 0, ahead of the Deny at rule 1."""
    v = run(LUNA, HARRY, cnp("ingress-tcp", **INGRESS_TCP))
    assert v.allowed
    assert by(v.ingress) == (Decider.ADMIN, "ingress-tcp", 0, Action.ACCEPT)
    assert by(v.egress) == (Decider.DEFAULT,)


def test_admin_ingress_deny_on_a_port_leaves_other_ports_alone() -> None:
    """CNPAdminTierIngressTCP: "'deny-ingress' policy for TCP protocol at the specified port"
    — slytherin denied at TCP 80 by rule 3, not at 8080."""
    policy = cnp("ingress-tcp", **INGRESS_TCP)
    v = run(DRACO, HARRY, policy)
    assert not v.allowed
    assert by(v.deciding) == (Decider.ADMIN, "ingress-tcp", 3, Action.DENY)
    assert v.deciding.rule is not None and v.deciding.rule.name == "deny-from-slytherin-at-80"
    assert run(DRACO, HARRY, policy, port=8080).allowed


def test_admin_egress_accept_and_deny_by_rule_order() -> None:
    """CNPAdminTierEgressTCP: ravenclaw accepted by rule 0; hufflepuff accepted at 8080 by
    rule 5, denied elsewhere by rule 6."""
    policy = cnp("egress-tcp", **EGRESS_TCP)
    assert by(run(HARRY, LUNA, policy).egress) == (Decider.ADMIN, "egress-tcp", 0, Action.ACCEPT)
    assert by(run(HARRY, CEDRIC0, policy, port=8080).egress)[2:] == (5, Action.ACCEPT)
    denied = run(HARRY, CEDRIC0, policy, port=80)
    assert not denied.allowed and by(denied.egress)[2:] == (6, Action.DENY)


def test_admin_egress_deny_matches_only_its_protocol() -> None:
    """CNPAdminTierEgressUDP: a UDP 53 deny does not touch TCP 53."""
    policy = cnp("egress-udp", egress=[egress("Deny", house("slytherin"), ports=(udp(53),))])
    assert not run(HARRY, DRACO, policy, proto="UDP", port=53).allowed
    assert run(HARRY, DRACO, policy, proto="TCP", port=53).allowed
    assert run(HARRY, DRACO, policy, proto="UDP", port=54).allowed


def test_admin_sctp_rules_in_both_directions() -> None:
    """CNPAdminTierIngressSCTP and CNPAdminTierEgressSCTP."""
    policy = cnp(
        "sctp",
        ingress=[ingress("Deny", house("slytherin"), ports=(sctp(9003),))],
        egress=[egress("Deny", house("hufflepuff"), ports=(sctp(9003),))],
    )
    assert not run(DRACO, HARRY, policy, proto="SCTP", port=9003).allowed
    assert not run(HARRY, CEDRIC1, policy, proto="SCTP", port=9003).allowed
    assert run(DRACO, HARRY, policy, proto="TCP", port=9003).allowed


def test_admin_pass_with_nothing_below_falls_to_the_default() -> None:
    """CNPAdminTierIngressTCP: 'pass-ingress' (rule 4) — no NetworkPolicy, no baseline: allowed
    by the default, the Pass rule recorded."""
    policy = cnp(
        "ingress-tcp",
        ingress=[
            ingress("Pass", house("slytherin"), ports=(tcp(80),), name="pass"),
            ingress("Deny", house("slytherin")),
        ],
    )
    v = run(DRACO, HARRY, policy)
    assert v.allowed and v.ingress.decider is Decider.DEFAULT
    assert [(p.policy, p.index, p.action) for p in v.ingress.passed] == [
        ("ingress-tcp", 0, Action.PASS)
    ]


def test_admin_pass_moved_first_takes_precedence_over_accept_and_deny() -> None:
    """CNPAdminTierIngressTCP: "'pass-ingress' policy ... ensure rule ordering is respected"
    (rules 0 and 2 swapped) and "... at the specified port" (rules 3 and 4 swapped)."""
    rules = list(INGRESS_TCP["ingress"])
    rules[0], rules[2] = rules[2], rules[0]
    rules[3], rules[4] = rules[4], rules[3]
    policy = cnp("ingress-tcp", ingress=rules)
    for src, port, index in ((LUNA, 80, 0), (LUNA, 8080, 0), (DRACO, 80, 3)):
        v = run(src, HARRY, policy, port=port)
        assert v.allowed and v.ingress.decider is Decider.DEFAULT
        assert [(p.index, p.action) for p in v.ingress.passed] == [(index, Action.PASS)]


def test_a_pass_skips_the_rest_of_the_tier_including_other_policies() -> None:
    """CNPAdminTierEgressTCP: 'pass-egress' — a Pass at priority 5 skips a Deny at priority 6."""
    passing = cnp("pass", priority=5, egress=[egress("Pass", house("ravenclaw"))])
    denying = cnp("deny", priority=6, egress=[egress("Deny", house("ravenclaw"))])
    v = run(HARRY, LUNA, passing, denying)
    assert v.allowed and v.egress.decider is Decider.DEFAULT


# ---- Order: rules and priorities -----------------------------------------------------


def test_swapping_two_rules_flips_the_verdict() -> None:
    """CNPAdminTierEgressTCP: 'allow-to-ravenclaw' before 'deny-to-ravenclaw' accepts; the
    same rules the other way round deny ("a rule that appears at the top ... would take the
    highest precedence")."""
    accept = egress("Accept", house("ravenclaw"))
    deny = egress("Deny", house("ravenclaw"))
    assert run(HARRY, LUNA, cnp("p", egress=[accept, deny])).allowed
    assert not run(HARRY, LUNA, cnp("p", egress=[deny, accept])).allowed


def test_lower_priority_value_applies_first_and_swapping_priorities_flips() -> None:
    """CNPAdminTierPriorityField: the policy with the lower priority value wins."""
    deny: dict[str, Any] = dict(ingress=[ingress("Deny", house("ravenclaw"))])
    accept: dict[str, Any] = dict(ingress=[ingress("Accept", house("ravenclaw"))])
    first = run(LUNA, HARRY, cnp("old", priority=3, **deny), cnp("new", priority=4, **accept))
    assert not first.allowed and by(first.ingress) == (Decider.ADMIN, "old", 0, Action.DENY)
    second = run(LUNA, HARRY, cnp("old", priority=5, **deny), cnp("new", priority=4, **accept))
    assert second.allowed and by(second.ingress) == (Decider.ADMIN, "new", 0, Action.ACCEPT)


def test_same_priority_policies_all_apply_without_bleeding() -> None:
    """CNPAdminTierSamePriority: three policies at one priority are all applied, and one's
    rules do not apply to another's subject."""
    policies = (
        cnp(
            "same-priority-gryffindor-slytherin",
            ingress=[ingress("Deny", house("slytherin"), ports=(tcp(80),))],
            egress=[egress("Deny", house("slytherin"), ports=(tcp(80),))],
        ),
        cnp(
            "same-priority-gryffindor-hufflepuff",
            ingress=[ingress("Deny", house("hufflepuff"), ports=(tcp(80),))],
            egress=[egress("Deny", house("hufflepuff"), ports=(tcp(80),))],
        ),
        cnp(
            "same-priority-hufflepuff-slytherin",
            subject=house("hufflepuff"),
            ingress=[ingress("Deny", house("slytherin"), ports=(tcp(8080),))],
            egress=[egress("Deny", house("slytherin"), ports=(tcp(8080),))],
        ),
    )
    for src, dst, port in [
        (DRACO, HARRY, 80),
        (HARRY, DRACO, 80),
        (CEDRIC0, HARRY, 80),
        (HARRY, CEDRIC0, 80),
        (DRACO, CEDRIC0, 8080),
        (CEDRIC0, DRACO, 8080),
    ]:
        assert not run(src, dst, *policies, port=port).allowed, (src, dst, port)
    for src, dst, port in [
        (DRACO, HARRY, 8080),
        (HARRY, DRACO, 8080),
        (DRACO, CEDRIC0, 80),
        (LUNA, HARRY, 80),
        (HARRY, LUNA, 80),
    ]:
        assert run(src, dst, *policies, port=port).allowed, (src, dst, port)


def test_a_tie_in_priority_is_broken_by_name() -> None:
    """API ``spec.priority``: with the same priority "the implementation can apply any"; romana
    applies the first by name, so explain and the dataplane agree."""
    b = cnp("b-accept", ingress=[ingress("Accept", house("ravenclaw"))])
    a = cnp("a-deny", ingress=[ingress("Deny", house("ravenclaw"))])
    assert by(run(LUNA, HARRY, b, a).ingress) == (Decider.ADMIN, "a-deny", 0, Action.DENY)


# ---- Peers and subjects ---------------------------------------------------------------


def test_pod_selectors_in_subject_and_peers() -> None:
    """CNPAdminTierPodSelector: subject and peers by pod selector alone and combined with a
    namespace selector."""
    policy = cnp(
        "pods",
        subject=pods("harry"),
        ingress=[
            ingress("Deny", pods("draco", "slytherin")),
            ingress("Deny", pods("luna")),
        ],
    )
    assert not run(DRACO, HARRY, policy).allowed
    assert not run(LUNA, HARRY1, policy).allowed
    assert run(DRACO, HERMIONE, policy).allowed  # not in the subject
    assert run(CEDRIC0, HARRY, policy).allowed  # no peer matches


def test_a_pods_peer_without_namespace_selector_covers_every_namespace() -> None:
    """base/admin_tier/standard-gress-omitted-namespaceselector.yaml (CNPAdminTierPodSelector):
    an omitted namespaceSelector selects all namespaces."""
    policy = cnp("omitted", egress=[egress("Deny", {"pods": {"podSelector": {}}})])
    for dst in (DRACO, CEDRIC0, LUNA, HARRY1):
        assert not run(HARRY, dst, policy).allowed


def test_an_ingress_only_policy_leaves_egress_alone() -> None:
    """CNPAdminTierIngressRulesEgressUnaffected ("CNPs with no egress rules do not affect
    egress traffic")."""
    policy = cnp("in-only", ingress=[ingress("Deny", house("slytherin"))])
    assert not run(DRACO, HARRY, policy).allowed
    assert run(HARRY, DRACO, policy).allowed
    assert run(HARRY, LUNA, policy).egress.decider is Decider.DEFAULT


def test_hairpin_traffic_to_itself_is_subject_to_ingress() -> None:
    """CNPAdminTierHairpin: a pod reaching itself (a Service resolving back to it) meets its
    own ingress rules."""
    policy = cnp("hairpin", ingress=[ingress("Deny", house("gryffindor"))])
    assert not run(HARRY, HARRY, policy).allowed


def test_host_network_pods_are_never_subject_nor_pod_peers() -> None:
    """API: "host-networked pods are not included in subject selection" nor in namespaces and
    pods peers."""
    policy = cnp(
        "forest",
        subject=house("forbidden-forrest"),
        ingress=[ingress("Deny", house("gryffindor"))],
    )
    peer = cnp("to-forest", egress=[egress("Deny", house("forbidden-forrest"))])
    v = run(HARRY, CENTAUR, policy, peer)
    assert v.allowed and v.ingress.decider is Decider.UNFILTERED


def test_egress_to_cidr_peers() -> None:
    """CNPAdminTierEgressInlineCIDRPeers: accept one CIDR, deny 0.0.0.0/0 after it."""
    policy = cnp(
        "cidr",
        egress=[
            egress("Accept", {"networks": ["203.0.113.0/24"]}),
            egress("Deny", {"networks": ["0.0.0.0/0"]}),
        ],
    )
    assert by(run(HARRY, OUTSIDE, policy).egress) == (Decider.ADMIN, "cidr", 0, Action.ACCEPT)
    v = run(HARRY, "198.51.100.1", policy)
    assert not v.allowed and by(v.egress)[2:] == (1, Action.DENY)
    assert v.ingress.decider is Decider.UNFILTERED


def test_cidr_peers_match_pods_too_unless_passed_first() -> None:
    """CNPAdminTierEgressInlineCIDRPeers and the API on ``networks``: "cluster-internal traffic
    will be checked against the rule as well ... add a rule that Passes all pod traffic before
    the Networks rule"."""
    deny_all = egress("Deny", {"networks": ["0.0.0.0/0"]})
    assert not run(HARRY, LUNA, cnp("cidr", egress=[deny_all])).allowed
    passing = egress("Pass", {"namespaces": {}})
    v = run(HARRY, LUNA, cnp("cidr", egress=[passing, deny_all]))
    assert v.allowed and v.egress.decider is Decider.DEFAULT
    assert not run(HARRY, OUTSIDE, cnp("cidr", egress=[passing, deny_all])).allowed


def test_ipv6_flows_do_not_match_ipv4_cidrs() -> None:
    """API on ``networks``: "0.0.0.0/0" matches IPv4 traffic, "::/0" IPv6."""
    policy = cnp("v4", egress=[egress("Deny", {"networks": ["0.0.0.0/0"]})])
    assert run(HARRY, "2001:db8::1", policy).allowed
    v6 = cnp("v6", egress=[egress("Deny", {"networks": ["::/0"]})])
    assert not run(HARRY, "2001:db8::1", v6).allowed


def test_egress_to_node_peers() -> None:
    """CNPAdminTierEgressNodePeers: accept TCP 36363 to the worker node (a host-network pod on
    it has its address), pass UDP 34345, deny the rest to every node."""
    policy = cnp(
        "node-and-cidr-as-peers-example",
        egress=[
            egress("Accept", {"nodes": {"matchLabels": {"role": "worker"}}}, ports=(tcp(36363),)),
            egress("Pass", {"nodes": {}}, ports=(udp(34345),)),
            egress("Deny", {"nodes": {}}),
        ],
    )
    assert run(HARRY, CENTAUR, policy, port=36363).allowed
    assert run(HARRY1, CENTAUR, policy, proto="UDP", port=34345).egress.decider is Decider.DEFAULT
    for proto, port in (("TCP", 36364), ("UDP", 34346), ("SCTP", 9003)):
        assert not run(HARRY1, CENTAUR, policy, proto=proto, port=port).allowed
    assert not run(HARRY, "node/node-b", policy, port=36363).allowed  # not a worker
    assert run(HARRY, LUNA, policy).allowed  # a pod is no node


# ---- Ports: ranges and names ----------------------------------------------------------


def test_port_ranges_are_inclusive() -> None:
    """CNPAdminTierPortRange: a TCP range and a single port combined in one rule."""
    policy = cnp(
        "range", ingress=[ingress("Deny", house("slytherin"), ports=(tcp(8080, 8090), udp(53)))]
    )
    for proto, port in (("TCP", 8080), ("TCP", 8085), ("TCP", 8090), ("UDP", 53)):
        assert not run(DRACO, HARRY, policy, proto=proto, port=port).allowed, port
    for proto, port in (("TCP", 8079), ("TCP", 8091), ("UDP", 8085)):
        assert run(DRACO, HARRY, policy, proto=proto, port=port).allowed, port


def test_egress_named_port_resolves_on_the_destination_pod() -> None:
    """CNPAdminTierEgressNamedPort: 'web' (TCP 80 on cedric-diggory-1) accepted, the rest of
    hufflepuff denied."""
    policy = cnp(
        "egress-tcp",
        egress=[
            egress("Accept", house("hufflepuff"), ports=(named("web"),)),
            egress("Deny", house("hufflepuff")),
        ],
    )
    assert by(run(HARRY, CEDRIC1, policy).egress)[2:] == (0, Action.ACCEPT)
    assert not run(HARRY1, CEDRIC1, policy, port=8080).allowed
    # cedric-diggory-0 defines no port named web: the name matches nothing there.
    assert by(run(HARRY, CEDRIC0, policy).egress)[2:] == (1, Action.DENY)


def test_ingress_named_port_resolves_on_the_subject_pod() -> None:
    """CNPBaselineTierIngressNamedPort: the name resolves on the receiving pod, with the
    protocol of its container port."""
    policy = cnp(
        "named-in",
        tier="Baseline",
        ingress=[ingress("Deny", house("slytherin"), ports=(named("dns"),))],
    )
    assert not run(DRACO, HARRY, policy, proto="UDP", port=53).allowed
    assert run(DRACO, HARRY, policy, proto="TCP", port=53).allowed
    assert run(DRACO, HERMIONE, policy, proto="UDP", port=53).allowed  # no port named dns


def test_a_rule_with_protocols_never_matches_icmp_one_without_does() -> None:
    """API ``protocols``: "If unspecified, protocol-specific attributes will not be used to
    match traffic"; ``networks`` "matches both regular IP traffic and ICMP traffic"."""
    ported = cnp("ported", egress=[egress("Deny", {"networks": ["0.0.0.0/0"]}, ports=(tcp(80),))])
    assert run(HARRY, OUTSIDE, ported, proto="ICMP", port=None).allowed
    bare = cnp("bare", egress=[egress("Deny", {"networks": ["0.0.0.0/0"]})])
    assert not run(HARRY, OUTSIDE, bare, proto="ICMP", port=None).allowed


# ---- Baseline tier --------------------------------------------------------------------


def test_baseline_ingress_deny() -> None:
    """CNPBaselineTierIngressTCP: a baseline Deny decides when nothing above does."""
    policy = cnp("default", tier="Baseline", ingress=[ingress("Deny", house("slytherin"))])
    v = run(DRACO, HARRY, policy)
    assert not v.allowed and by(v.ingress) == (Decider.BASELINE, "default", 0, Action.DENY)


def test_baseline_accept_before_a_baseline_deny() -> None:
    """CNPBaselineTierEgressUDP: accept UDP 53 to slytherin, deny the rest."""
    policy = cnp(
        "default",
        tier="Baseline",
        egress=[
            egress("Accept", house("slytherin"), ports=(udp(53),)),
            egress("Deny", house("slytherin")),
        ],
    )
    v = run(HARRY, DRACO, policy, proto="UDP", port=53)
    assert v.allowed and by(v.egress) == (Decider.BASELINE, "default", 0, Action.ACCEPT)
    assert not run(HARRY, DRACO, policy, proto="UDP", port=54).allowed


def test_baseline_pass_goes_to_the_default() -> None:
    """API ``Pass``: "Skips all further ClusterNetworkPolicy rules in the current tier" — in
    the Baseline tier, the next is the default, allow."""
    policies = (
        cnp("pass", tier="Baseline", priority=1, egress=[egress("Pass", house("slytherin"))]),
        cnp("deny", tier="Baseline", priority=2, egress=[egress("Deny", house("slytherin"))]),
    )
    v = run(HARRY, DRACO, *policies)
    assert v.allowed and v.egress.decider is Decider.DEFAULT
    assert [p.tier for p in v.egress.passed] == [Tier.BASELINE]


def test_baseline_priorities_and_same_priority() -> None:
    """CNPBaselineTierSamePriority with the Admin tier's priority order: disjoint policies at
    one priority all apply; a lower value applies first."""
    policies = (
        cnp("a", tier="Baseline", priority=5, ingress=[ingress("Deny", house("slytherin"))]),
        cnp("b", tier="Baseline", priority=5, ingress=[ingress("Deny", house("hufflepuff"))]),
        cnp("c", tier="Baseline", priority=4, ingress=[ingress("Accept", house("hufflepuff"))]),
    )
    assert not run(DRACO, HARRY, *policies).allowed
    assert by(run(CEDRIC0, HARRY, *policies).ingress) == (Decider.BASELINE, "c", 0, Action.ACCEPT)


def test_baseline_egress_only_leaves_ingress_alone() -> None:
    """CNPBaselineTierEgressRulesIngressUnaffected."""
    policy = cnp("out-only", tier="Baseline", egress=[egress("Deny", house("slytherin"))])
    assert not run(HARRY, DRACO, policy).allowed
    assert run(LUNA, HARRY, policy).allowed and run(CEDRIC0, HARRY, policy).allowed


def test_baseline_egress_to_cidr() -> None:
    """CNPBaselineTierEgressInlineCIDRPeers."""
    policy = cnp(
        "default", tier="Baseline", egress=[egress("Deny", {"networks": ["203.0.113.0/24"]})]
    )
    assert not run(HARRY, OUTSIDE, policy).allowed
    assert run(HARRY, "198.51.100.1", policy).allowed


def test_tiers_are_checked_when_handed_over() -> None:
    baseline = cnp("b", tier="Baseline", ingress=[ingress("Deny", house("slytherin"))])
    flow = Flow(endpoint(DRACO), endpoint(HARRY), "TCP", 80)
    with pytest.raises(ValueError, match="not Admin-tier policies: b"):
        evaluate.evaluate([baseline], netpol.no_network_policies, [], flow)


def test_both_directions_are_decided_on_their_own_side() -> None:
    """The egress side is the source pod's, the ingress side the destination's."""
    v = run(HARRY, DRACO, cnp("x", egress=[egress("Deny", house("slytherin"))]))
    assert (v.egress.direction, v.ingress.direction) == (Direction.EGRESS, Direction.INGRESS)
    assert not v.egress.allowed and v.ingress.allowed
