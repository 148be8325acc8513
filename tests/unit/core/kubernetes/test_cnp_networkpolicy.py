"""ClusterNetworkPolicy with NetworkPolicy: Admin tier → NetworkPolicy → Baseline tier →
default, both ways, and how a decision is named.

The policies are those of upstream ``conformance/base/api_integration/standard-anp-np-banp.yaml``
(kubernetes-sigs/network-policy-api), exercised as ``CNPAdminTierIntegration``
(``conformance/tests/admin-network-policy-core-integration.go``) does; the other scenarios
name the sentence of the API documentation (``spec.tier``, the actions) they check.
"""

from __future__ import annotations

from romana.core.kubernetes.cnp.evaluate import Decider
from romana.core.kubernetes.cnp.model import Action
from support.cnp_cluster import (
    DRACO,
    DRACO1,
    HARRY,
    HARRY1,
    INGRESS_TCP,
    LUNA,
    OUTSIDE,
    by,
    cnp,
    egress,
    house,
    ingress,
    networkpolicy,
    run,
)

ADMIN = cnp(
    "pass-example",
    ingress=[ingress("Deny", house("slytherin"), name="deny-all-ingress-from-slytherin")],
    egress=[egress("Deny", house("slytherin"), name="deny-all-egress-to-slytherin")],
)
ADMIN_PASS = cnp(
    "pass-example",
    ingress=[ingress("Pass", house("slytherin"))],
    egress=[egress("Pass", house("slytherin"))],
)
BASELINE = cnp(
    "default",
    tier="Baseline",
    ingress=[ingress("Deny", house("slytherin"))],
    egress=[egress("Deny", house("slytherin"))],
)
NP_ALLOW = networkpolicy(
    "gryffindor",
    "allow-gress-from-to-slytherin-to-gryffindor",
    policyTypes=["Ingress", "Egress"],
    ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"house": "slytherin"}}}]}],
    egress=[{"to": [{"namespaceSelector": {"matchLabels": {"house": "slytherin"}}}]}],
)


def test_admin_deny_beats_a_networkpolicy_allow() -> None:
    """CNPAdminTierIntegration: 'Should Deny traffic from slytherin to gryffindor respecting
    admin CNP' and its egress twin."""
    for src, dst, side in ((DRACO, HARRY, "ingress"), (HARRY, DRACO1, "egress")):
        v = run(src, dst, ADMIN, BASELINE, netpols=(NP_ALLOW,))
        assert not v.allowed
        assert by(getattr(v, side)) == (Decider.ADMIN, "pass-example", 0, Action.DENY)


def test_admin_pass_hands_over_to_networkpolicy() -> None:
    """CNPAdminTierIntegration: 'pass-ingress ... respect the match for network policy' and
    'pass-egress ...': the NetworkPolicy allow takes effect over the baseline Deny."""
    v = run(DRACO, HARRY, ADMIN_PASS, BASELINE, netpols=(NP_ALLOW,), port=8080)
    assert v.allowed and by(v.ingress) == (
        Decider.NETWORK_POLICY,
        ("gryffindor/allow-gress-from-to-slytherin-to-gryffindor", 0),
    )
    assert [p.action for p in v.ingress.passed] == [Action.PASS]
    v = run(HARRY1, DRACO, ADMIN_PASS, BASELINE, netpols=(NP_ALLOW,))
    assert v.allowed and v.egress.decider is Decider.NETWORK_POLICY


def test_admin_pass_without_networkpolicy_reaches_the_baseline() -> None:
    """CNPAdminTierIntegration: 'pass-ingress ... respect the match for baseline cluster
    network policy' (the NetworkPolicy deleted) and its egress twin."""
    v = run(DRACO, HARRY, ADMIN_PASS, BASELINE)
    assert not v.allowed and by(v.ingress) == (Decider.BASELINE, "default", 0, Action.DENY)
    v = run(HARRY, DRACO1, ADMIN_PASS, BASELINE, port=8080)
    assert not v.allowed and by(v.egress) == (Decider.BASELINE, "default", 0, Action.DENY)


def test_admin_accept_beats_a_networkpolicy_deny() -> None:
    """API ``Accept``: "No further ingress ClusterNetworkPolicy or NetworkPolicy rules will be
    processed" — an Admin Accept opens what a default-deny NetworkPolicy closes."""
    deny_all = networkpolicy("gryffindor", "default-deny", policyTypes=["Ingress"])
    accept = cnp("dns", ingress=[ingress("Accept", house("ravenclaw"))])
    assert not run(LUNA, HARRY, netpols=(deny_all,)).allowed
    v = run(LUNA, HARRY, accept, netpols=(deny_all,))
    assert v.allowed and v.ingress.decider is Decider.ADMIN


def test_networkpolicy_deny_beats_a_baseline_accept() -> None:
    """API ``tier``: "v1.NetworkPolicy always makes a final decision for selected pods" — a
    pod its NetworkPolicy isolates stays closed whatever the baseline accepts."""
    deny_all = networkpolicy("gryffindor", "default-deny", policyTypes=["Ingress"])
    accept = cnp("open", tier="Baseline", ingress=[ingress("Accept", house("ravenclaw"))])
    v = run(LUNA, HARRY, accept, netpols=(deny_all,))
    assert not v.allowed and by(v.ingress) == (Decider.NETWORK_POLICY, None)
    assert v.ingress.network_policy is not None
    assert v.ingress.network_policy.policies == ("gryffindor/default-deny",)


def test_networkpolicy_of_one_direction_leaves_the_other_to_the_baseline() -> None:
    """API ``tier``: "Further evaluation only happens for Pods not selected by a
    v1.NetworkPolicy" — selection is per direction."""
    ingress_only = networkpolicy(
        "gryffindor",
        "in",
        policyTypes=["Ingress"],
        ingress=[{"from": [{"namespaceSelector": {}}]}],
    )
    v = run(HARRY, DRACO, BASELINE, netpols=(ingress_only,))
    assert not v.allowed and v.egress.decider is Decider.BASELINE
    v = run(DRACO, HARRY, BASELINE, netpols=(ingress_only,))
    assert v.allowed and v.ingress.decider is Decider.NETWORK_POLICY


def test_egress_accept_still_meets_the_destinations_ingress() -> None:
    """API egress ``Accept``: "No further egress ... rules will be processed but any ingress
    rules at the destination do apply"."""
    out = cnp("out", egress=[egress("Accept", house("slytherin"))])
    into = cnp("into", subject=house("slytherin"), ingress=[ingress("Deny", house("gryffindor"))])
    v = run(HARRY, DRACO, out, into)
    assert v.egress.allowed and v.egress.decider is Decider.ADMIN
    assert not v.allowed and v.deciding is v.ingress
    assert by(v.ingress) == (Decider.ADMIN, "into", 0, Action.DENY)


def test_from_outside_the_cluster_only_networkpolicy_ip_blocks_can_match() -> None:
    """API ingress peers are namespaces and pods only: an outside source matches no
    ClusterNetworkPolicy ingress rule, so it reaches the NetworkPolicy tier."""
    deny_pods = cnp("pods-only", ingress=[ingress("Deny", {"namespaces": {}})])
    blocks = networkpolicy(
        "gryffindor",
        "web",
        ingress=[{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}],
    )
    v = run(OUTSIDE, HARRY, deny_pods, netpols=(blocks,))
    assert v.allowed and v.egress.decider is Decider.UNFILTERED
    assert by(v.ingress) == (Decider.NETWORK_POLICY, ("gryffindor/web", 0))
    assert not run("198.51.100.1", HARRY, deny_pods, netpols=(blocks,)).allowed


def test_no_policies_at_all_allows_by_default() -> None:
    """API ``tier``: "If a given connection wasn't allowed or denied by any of the tiers, the
    default kubernetes policy is applied"."""
    v = run(HARRY, DRACO)
    assert v.allowed
    assert (v.egress.decider, v.ingress.decider) == (Decider.DEFAULT, Decider.DEFAULT)


def test_a_decision_names_tier_policy_priority_rule_and_action() -> None:
    """What ``romana explain`` will print for a ClusterNetworkPolicy decision."""
    v = run(DRACO, HARRY, cnp("ingress-tcp", priority=7, **INGRESS_TCP))
    assert str(v.deciding) == (
        "ingress denied by Admin ClusterNetworkPolicy ingress-tcp (priority 7) ingress rule "
        "[3] 'deny-from-slytherin-at-80': Deny"
    )
    passed = run(DRACO, HARRY, ADMIN_PASS, netpols=(NP_ALLOW,))
    assert str(passed.ingress) == (
        "ingress allowed by NetworkPolicy gryffindor/allow-gress-from-to-slytherin-to-gryffindor"
        " rule [0] allows (after Admin ClusterNetworkPolicy pass-example (priority 10) ingress "
        "rule [0]: Pass)"
    )
    assert str(run(HARRY, LUNA).egress) == "egress allowed by no tier decided: the default allows"
