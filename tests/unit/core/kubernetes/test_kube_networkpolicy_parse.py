"""NetworkPolicy parsing defaults and refuses as the API server does: a missing podSelector
and an empty policyTypes list are defaulted, a named port must be a valid port name."""

from __future__ import annotations

from typing import Any

import pytest

from romana.core.errors import InvalidInput
from romana.core.kubernetes import networkpolicy
from romana.core.policy import selectors


def policy(**spec: Any) -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": spec,
    }


def test_missing_pod_selector_selects_every_pod_of_the_namespace() -> None:
    parsed = networkpolicy.network_policy(policy(ingress=[{"from": [{"podSelector": {}}]}]))
    assert parsed.pod_selector == selectors.EVERYTHING
    assert parsed.isolates_ingress and not parsed.isolates_egress


def test_policy_without_spec_isolates_the_namespace_for_ingress() -> None:
    parsed = networkpolicy.network_policy({"kind": "NetworkPolicy", "metadata": {"name": "p"}})
    assert (parsed.namespace, parsed.pod_selector) == ("default", selectors.EVERYTHING)
    assert (parsed.isolates_ingress, parsed.isolates_egress, parsed.ingress) == (True, False, ())


@pytest.mark.parametrize(
    ("egress", "isolates_egress"), [([], False), ([{"to": [{"podSelector": {}}]}], True)]
)
def test_empty_policy_types_defaults_like_missing(
    egress: list[dict[str, Any]], isolates_egress: bool
) -> None:
    parsed = networkpolicy.network_policy(policy(podSelector={}, policyTypes=[], egress=egress))
    assert parsed.isolates_ingress
    assert parsed.isolates_egress is isolates_egress
    assert len(parsed.egress) == len(egress)


@pytest.mark.parametrize("name", ["http", "serve-80-tcp", "h2c", "abcdefghijklmn5"])
def test_valid_port_names_are_kept(name: str) -> None:
    parsed = networkpolicy.network_policy(
        policy(podSelector={}, ingress=[{"ports": [{"port": name}]}])
    )
    assert parsed.ingress[0].ports == (networkpolicy.Port("TCP", name),)


@pytest.mark.parametrize("name", ["80", "", "HTTP", "-web", "web-", "we--b", "a" * 16, "we_b"])
def test_invalid_port_names_are_refused_naming_the_field(name: str) -> None:
    raw = policy(podSelector={}, ingress=[{"ports": [{"port": 80}, {"port": name}]}])
    with pytest.raises(InvalidInput) as caught:
        networkpolicy.network_policy(raw)
    [issue] = caught.value.issues
    assert issue.field == "spec.ingress[0].ports[1].port"
    assert "is not a port number or a port name" in issue.rule
