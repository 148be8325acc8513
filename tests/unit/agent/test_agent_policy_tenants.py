"""Views that carry only some tenants' policies (``policy_tenants``), as romanad sends them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from agent_fakes import host_view, raw_view

from romana.agent import view
from romana.core.errors import InvalidInput


def _own(tenant: str, name: str, uses: str = "") -> dict[str, Any]:
    peer = {"address_set": uses} if uses else {"peer": "any"}
    return {
        "id": f"{tenant}/{name}",
        "name": name,
        "applied_to": [{"tenant": tenant}],
        "ingress": [{"peers": [peer], "rules": [{"protocol": "tcp"}]}],
    }


def _with(tenants: list[str], policies: list[dict[str, Any]], **kw: Any) -> view.HostView:
    return view.parse({**raw_view(2, policies=policies, **kw), "policy_tenants": tenants})


def test_a_view_says_which_tenants_policies_it_carries() -> None:
    assert host_view().policy_tenants is None and host_view().carries("anyone")
    hv = _with(["t1"], [])
    assert hv.carries("t1") and not hv.carries("t2")
    with pytest.raises(InvalidInput, match="policy_tenants"):
        view.parse({**raw_view(), "policy_tenants": [1]})


def test_policies_of_a_tenant_with_endpoints_here_are_kept_until_a_view_carries_it() -> None:
    """A view read while a tenant had no endpoint here may arrive after its next one."""
    old = _with(
        ["t1", "t2"],
        [_own("t1", "a"), _own("t2", "b", uses="kube.b")],
        address_sets={"kube.b": ["10.2.0.9"]},
    )
    new = _with(["t1"], [_own("t1", "a")])
    kept = view.keep_policies(old, new, {"t1", "t2"})
    assert kept.carries("t2")
    assert [p["id"] for p in kept.policies] == ["t1/a", "t2/b"]
    assert set(kept.address_sets) == {"kube.b"}
    # Nothing of t2 is left here: its policies go.
    assert view.keep_policies(old, new, {"t1"}) is new
    # A view carrying t2 again replaces what was kept.
    again = _with(["t1", "t2"], [_own("t1", "a"), _own("t2", "b2")])
    assert view.keep_policies(kept, again, {"t1", "t2"}) is again
    # An earlier romanad's views carry everything: nothing to keep.
    full = dataclasses.replace(new, policy_tenants=None)
    assert view.keep_policies(old, full, {"t2"}) is full


def test_a_new_view_holds_the_last_views_documents_of_unchanged_policies() -> None:
    """Successive views keep one copy of the policies they share, and only the changed
    ones are new."""
    old = _with(["t1", "t2"], [_own("t1", "a"), _own("t2", "b")])
    changed = _own("t2", "b", uses="kube.b")
    new = _with(["t1", "t2"], [_own("t1", "a"), changed, _own("t2", "c")])
    shared = view.share_policies(old, new)
    assert shared.policies == new.policies
    assert shared.policies[0] is old.policies[0]
    assert shared.policies[1] is new.policies[1] and shared.policies[1] == changed
    assert shared.policies[2] is new.policies[2]
    assert view.share_policies(None, new) is new
    assert view.share_policies(shared, shared) is shared
