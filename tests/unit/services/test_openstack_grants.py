"""The ``openstack`` role's grants, as the pure rule decides them: objects it owns only.

The owner is the user name recorded on the tenant (or address set), passed by the route; the
tenant's name decides nothing.
"""

from __future__ import annotations

import pytest

from romana.core.errors import Forbidden, NotFound
from romana.core.identifiers import TenantName
from romana.services import authz
from romana.services.authz import Action, Principal, Role

NEUTRON = Principal("neutron", Role.OPENSTACK, None)
ADMIN = Principal("a", Role.ADMIN, None)
TENANT = Principal("t", Role.TENANT, TenantName("os-p1"))


@pytest.mark.parametrize(
    ("action", "tenant", "owner", "allowed"),
    [
        (Action.READ_TOPOLOGY, None, None, True),
        (Action.CREATE_TENANT, None, "neutron", True),
        (Action.CREATE_TENANT, None, None, False),
        (Action.READ, "os-p1", "neutron", True),
        (Action.WRITE, "os-p1", "neutron", True),
        (Action.ALLOCATE, "os-p1", "neutron", True),
        (Action.MOVE_ALLOCATION, "os-p1", "neutron", True),
        (Action.ASSIGN_EXTERNAL_IP, "os-p1", "neutron", True),
        # Another user's tenant, a tenant without an owner, and no tenant at all.
        (Action.ALLOCATE, "os-p1", "neutron-2", False),
        (Action.ASSIGN_EXTERNAL_IP, "os-p2", "neutron-2", False),
        (Action.ASSIGN_EXTERNAL_IP, "os-p2", None, False),
        (Action.WRITE, "os-p1", None, False),
        (Action.READ, None, None, False),
        (Action.WRITE, None, None, False),
        # Never, whatever it owns.
        (Action.REGISTER_HOST, "os-p1", "neutron", False),
        (Action.MANAGE_USERS, None, "neutron", False),
        (Action.SET_ISOLATION, "os-p1", "neutron", False),
        (Action.SET_QUOTA, "os-p1", "neutron", False),
        (Action.MANAGE_EXTERNAL, None, "neutron", False),
        (Action.MANAGE_VIPS, None, "neutron", False),
        (Action.LEASE_VIP, None, "neutron", False),
        (Action.SET_OWNER, "os-p1", "neutron", False),
        (Action.SYNC_KUBERNETES, None, "neutron", False),
        (Action.REGISTER_SERVICE, None, "neutron", False),
    ],
)
def test_openstack_grants(
    action: Action, tenant: str | None, owner: str | None, allowed: bool
) -> None:
    assert authz.may(NEUTRON, action, authz.Target(tenant, owner=owner)) is allowed
    if not allowed:
        with pytest.raises(Forbidden):
            authz.authorize(NEUTRON, action, authz.Target(tenant, owner=owner))


def test_a_host_never_stands_in_for_an_owner() -> None:
    assert not authz.may(NEUTRON, Action.ALLOCATE, authz.Target(None, "h1"))
    assert authz.may(NEUTRON, Action.ALLOCATE, authz.Target("os-p1", "h1", "neutron"))


def test_owners_matter_only_to_owner_scoped_roles() -> None:
    assert authz.may(ADMIN, Action.WRITE, authz.Target("os-p1", owner="neutron-2"))
    assert authz.may(TENANT, Action.WRITE, authz.Target("os-p1", owner="someone"))
    assert not authz.may(TENANT, Action.WRITE, authz.Target("os-p2", owner="t"))


def test_another_owners_object_fetched_by_key_is_not_found() -> None:
    with pytest.raises(NotFound, match="no allocation"):
        authz.authorize(
            NEUTRON, Action.READ, authz.Target("other", owner=None), missing="no allocation"
        )
    with pytest.raises(NotFound, match="no allocation"):
        authz.authorize(
            NEUTRON, Action.ALLOCATE, authz.Target("os-p2", "h1", "x"), missing="no allocation"
        )
    authz.authorize(
        NEUTRON, Action.ALLOCATE, authz.Target("os-p1", "h1", "neutron"), missing="no allocation"
    )


def test_a_refusal_says_it_acts_only_on_what_it_owns() -> None:
    with pytest.raises(Forbidden, match="may write only objects it owns, not objects of tenant"):
        authz.authorize(NEUTRON, Action.WRITE, authz.Target("other"))


def test_claim_names_who_a_creating_write_records() -> None:
    assert authz.claim(NEUTRON, Action.CREATE_TENANT) == "neutron"
    assert authz.claim(NEUTRON, Action.WRITE) == "neutron"
    assert authz.claim(ADMIN, Action.WRITE) is None
    for who, action in ((NEUTRON, Action.SET_QUOTA), (TENANT, Action.WRITE)):
        with pytest.raises(Forbidden):
            authz.claim(who, action)
