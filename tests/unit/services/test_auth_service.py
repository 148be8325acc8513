"""Users and tokens: hashed passwords, signed expiring tokens, revocation, the role matrix."""

from __future__ import annotations

import base64
import json

import pytest

from romana.core.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from romana.core.identifiers import HostName, TenantName
from romana.core.store import Put, Store
from romana.services import auth, keys, txn
from romana.services.auth import Action, AuthService, Principal, Role
from unit.services.conftest import Services

H1 = HostName("h1")
WEB = TenantName("web")


def _tenant(store: Store, name: str = "web") -> None:
    """Tenant users need their tenant to exist."""
    record = {"name": name, "external_id": "", "ids": {}, "uid": f"{name}-uid"}
    store.txn([], [Put(keys.tenant(TenantName(name)), txn.dumps(record))])


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_login_gives_a_token_that_verifies_to_the_user(store: Store) -> None:
    svc = AuthService(store)
    _tenant(store)
    svc.create_user("alice", "secret-pw", "tenant", WEB)
    token = svc.login("alice", "secret-pw")
    assert (token.role, token.tenant) == (Role.TENANT, "web")
    assert svc.verify(token.token) == Principal("alice", Role.TENANT, WEB)


def test_password_is_stored_only_as_a_hash(store: Store) -> None:
    AuthService(store).create_user("bob", "hunter2-hunter2", "admin")
    raw = b"".join(kv.value for kv in store.range(auth.USERS).items)
    assert b"hunter2" not in raw
    assert b'"alg":"scrypt"' in raw


def test_wrong_password_and_unknown_user_are_indistinguishable(store: Store) -> None:
    svc = AuthService(store)
    svc.create_user("alice", "secret-pw", "admin")
    with pytest.raises(Unauthorized) as wrong:
        svc.login("alice", "not-the-pw")
    with pytest.raises(Unauthorized) as unknown:
        svc.login("mallory", "secret-pw")
    assert str(wrong.value) == str(unknown.value) == "wrong username or password"


def test_every_replica_verifies_every_other_replicas_tokens(store: Store) -> None:
    one, two = AuthService(store), AuthService(store)
    one.create_user("svc", "service-pw", "service")
    assert two.verify(one.login("svc", "service-pw").token).role is Role.SERVICE


def test_expired_token_is_refused(store: Store) -> None:
    clock = Clock()
    svc = AuthService(store, token_ttl=60, clock=clock)
    svc.create_user("alice", "secret-pw", "admin")
    token = svc.login("alice", "secret-pw").token
    clock.now += 59
    svc.verify(token)
    clock.now += 2
    with pytest.raises(Unauthorized, match="expired"):
        svc.verify(token)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_forged_tokens_are_refused(store: Store) -> None:
    svc = AuthService(store)
    _tenant(store)
    svc.create_user("eve", "tenant-pw", "tenant", WEB)
    body, sig = svc.login("eve", "tenant-pw").token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["role"], payload["sub"] = "admin", "admin"
    edited = _b64(json.dumps(payload).encode())
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    for forged in (f"{edited}.{sig}", f"{body}.{flipped}", f"{body}.", "garbage", ".", "ä.ö"):
        with pytest.raises(Unauthorized):
            svc.verify(forged)
    # A token signed with another store's key is forged too.
    from romana.store.memory import MemoryStore

    other = AuthService(MemoryStore())
    other.create_user("eve", "tenant-pw", "admin")
    with pytest.raises(Unauthorized, match="signature"):
        svc.verify(other.login("eve", "tenant-pw").token)


def test_deleting_a_user_revokes_its_tokens_even_if_the_name_returns(store: Store) -> None:
    svc = AuthService(store)
    svc.create_user("admin", "admin-pw-1", "admin")
    svc.create_user("ops", "ops-pw-12", "service")
    token = svc.login("ops", "ops-pw-12").token
    svc.delete_user("ops")
    with pytest.raises(Unauthorized, match="no longer exists"):
        svc.verify(token)
    svc.create_user("ops", "ops-pw-12", "service")
    with pytest.raises(Unauthorized, match="no longer exists"):
        svc.verify(token)


def test_the_last_admin_cannot_be_deleted(store: Store) -> None:
    svc = AuthService(store)
    svc.create_user("root1", "admin-pw-1", "admin")
    svc.create_user("root2", "admin-pw-2", "admin")
    svc.delete_user("root1")
    with pytest.raises(Conflict, match="last admin"):
        svc.delete_user("root2")
    assert [u.username for u in svc.list_users()] == ["root2"]


def test_user_validation_reports_every_problem(store: Store) -> None:
    svc = AuthService(store)
    with pytest.raises(InvalidInput) as caught:
        svc.create_user("-x", "short", "king")
    assert {i.field for i in caught.value.issues} == {"username", "password", "role"}
    with pytest.raises(InvalidInput, match="tenant: is required"):
        svc.create_user("t", "long-enough", "tenant")
    with pytest.raises(InvalidInput, match="only tenant users have a tenant"):
        svc.create_user("a", "long-enough", "agent", WEB, host=H1)
    with pytest.raises(InvalidInput, match="host: is required for an agent user"):
        svc.create_user("a", "long-enough", "agent")
    with pytest.raises(InvalidInput, match="host: only agent users have a host"):
        svc.create_user("s", "long-enough", "service", host=H1)
    with pytest.raises(InvalidInput, match="host: must be"):
        svc.create_user("a", "long-enough", "agent", host=HostName("-h1"))
    assert svc.create_user("a", "long-enough", "agent", host=H1).host == "h1"
    with pytest.raises(AlreadyExists):
        svc.create_user("a", "long-enough", "agent", host=H1)


def test_an_agent_user_takes_an_existing_hosts_spelling(svc: Services) -> None:
    users = AuthService(svc.store)
    with pytest.raises(InvalidInput, match=r"host: must be spelled as .* host 'h1' does") as c:
        users.create_user("agent-h1", "long-enough", "agent", host=HostName("H1"))
    assert [i.field for i in c.value.issues] == ["host"]
    with pytest.raises(NotFound):
        users.get_user("agent-h1")
    assert users.create_user("agent-h1", "long-enough", "agent", host=H1).host == "h1"
    # A host not registered yet is bound as given: its agent registers it later.
    assert users.create_user("agent-h9", "long-enough", "agent", host=HostName("H9")).host == "H9"


ADMIN = Principal("a", Role.ADMIN, None)
SERVICE = Principal("s", Role.SERVICE, None)
AGENT = Principal("g", Role.AGENT, None, H1)
TENANT = Principal("t", Role.TENANT, WEB)


@pytest.mark.parametrize(
    ("who", "action", "tenant", "host", "allowed"),
    [
        (ADMIN, Action.MANAGE_USERS, None, None, True),
        (SERVICE, Action.MANAGE_USERS, None, None, False),
        (SERVICE, Action.WRITE, None, None, True),
        (SERVICE, Action.READ_TOPOLOGY, None, None, True),
        (AGENT, Action.READ, None, "h1", True),
        (AGENT, Action.READ, None, "h2", False),
        (AGENT, Action.READ, None, None, False),
        (AGENT, Action.READ, "web", None, False),
        (AGENT, Action.READ_TOPOLOGY, None, None, True),
        (AGENT, Action.ALLOCATE, "web", "h1", True),
        (AGENT, Action.ALLOCATE, "web", "h2", False),
        (AGENT, Action.REGISTER_HOST, None, "h1", True),
        (AGENT, Action.REGISTER_HOST, None, "h2", False),
        (AGENT, Action.WRITE, None, "h1", False),
        (AGENT, Action.MANAGE_USERS, None, "h1", False),
        (TENANT, Action.READ, "web", None, True),
        (TENANT, Action.ALLOCATE, "web", "h2", True),
        (TENANT, Action.WRITE, "web", None, True),
        (TENANT, Action.READ, "db", None, False),
        (TENANT, Action.ALLOCATE, "db", None, False),
        (TENANT, Action.READ, None, None, False),
        (TENANT, Action.READ_TOPOLOGY, None, None, False),
        (TENANT, Action.REGISTER_HOST, None, None, False),
        # External pools and NAT are an admin's; external IPs a tenant's own endpoints'.
        (ADMIN, Action.MANAGE_EXTERNAL, None, None, True),
        (SERVICE, Action.MANAGE_EXTERNAL, None, None, False),
        (AGENT, Action.MANAGE_EXTERNAL, None, "h1", False),
        (TENANT, Action.MANAGE_EXTERNAL, "web", None, False),
        (ADMIN, Action.ASSIGN_EXTERNAL_IP, "db", None, True),
        (SERVICE, Action.ASSIGN_EXTERNAL_IP, "db", None, True),
        (TENANT, Action.ASSIGN_EXTERNAL_IP, "web", None, True),
        (TENANT, Action.ASSIGN_EXTERNAL_IP, "db", None, False),
        (TENANT, Action.ASSIGN_EXTERNAL_IP, None, None, False),
        # An agent assigns external IPs to the endpoints living on its own host only.
        (AGENT, Action.ASSIGN_EXTERNAL_IP, "web", "h1", True),
        (AGENT, Action.ASSIGN_EXTERNAL_IP, "web", "h2", False),
        (AGENT, Action.ASSIGN_EXTERNAL_IP, "web", None, False),
        # VIPs are an admin's and a service's; a lease an agent's, as its own host.
        (ADMIN, Action.MANAGE_VIPS, None, None, True),
        (SERVICE, Action.MANAGE_VIPS, None, None, True),
        (AGENT, Action.MANAGE_VIPS, None, "h1", False),
        (TENANT, Action.MANAGE_VIPS, "web", None, False),
        (ADMIN, Action.LEASE_VIP, None, "h2", True),
        (AGENT, Action.LEASE_VIP, None, "h1", True),
        (AGENT, Action.LEASE_VIP, None, "h2", False),
        (AGENT, Action.LEASE_VIP, None, None, False),
        (SERVICE, Action.LEASE_VIP, None, "h1", False),
        (TENANT, Action.LEASE_VIP, "web", "h1", False),
    ],
)
def test_authorize_matrix(
    who: Principal, action: Action, tenant: str | None, host: str | None, allowed: bool
) -> None:
    assert auth.may(who, action, auth.Target(tenant, host)) is allowed
    if not allowed:
        with pytest.raises(Forbidden):
            auth.authorize(who, action, auth.Target(tenant, host))


def test_an_agent_is_refused_naming_the_host_it_is_bound_to() -> None:
    with pytest.raises(Forbidden, match="bound to host 'h1' and may not register-host"):
        auth.authorize(AGENT, Action.REGISTER_HOST, auth.Target(None, "h2"))


def test_another_hosts_object_fetched_by_key_is_not_found_for_an_agent() -> None:
    with pytest.raises(NotFound, match="no allocation"):
        auth.authorize(AGENT, Action.READ, auth.Target("web", "h2"), missing="no allocation")
    auth.authorize(AGENT, Action.READ, auth.Target("web", "h1"), missing="no allocation")
    with pytest.raises(Forbidden):
        auth.authorize(AGENT, Action.WRITE, auth.Target("web", "h1"), missing="no allocation")


def test_an_agent_user_of_an_earlier_release_is_refused(store: Store) -> None:
    svc = AuthService(store)
    svc.create_user("old", "long-enough", "agent", host=H1)
    kv = store.get(auth.user_key("old"))
    assert kv is not None
    record = {k: v for k, v in json.loads(kv.value).items() if k != "host"}
    store.txn([], [Put(auth.user_key("old"), json.dumps(record).encode())])
    with pytest.raises(Unauthorized, match=r"bound to no host.*--role agent --host HOST"):
        svc.login("old", "long-enough")
