"""An agent's credential acts for its own host only.

Issue 12, point 6: one node's agent token read every host's view, allocated and released any
tenant's addresses on any host, relabelled other hosts, and pre-registered another node's
name with its own underlay IP, so every host routed that node's prefix to it. Now an agent
user is bound to one host name when it is created: it registers, relabels, reads and
allocates on that host only (403 naming the bound host), another host's allocation answers
404 as a missing one does, and it reads nothing else but the topology document. An agent
user of an earlier release (no host) is refused, saying how to replace it.

A real romanad over SQLite, reached over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from romana.core.store import Put
from romana.lab.romanad import Romanad
from romana.services import auth, txn
from romana.store import open_store
from support.romanad import AdminCalls
from unit.api.conftest import start

H1 = {"name": "h1", "ip": "192.0.2.1", "labels": {"rack": "a"}}
H2 = {"name": "h2", "ip": "192.0.2.2", "labels": {"rack": "b"}}


class Deployment(AdminCalls):
    """romanad with host h2 (added by the admin), tenant ``web`` and users ``agent-h1``
    (bound to h1, which it registers itself) and ``agent-h3`` (bound to h3, not there yet)."""

    def __init__(self, daemon: Romanad) -> None:
        super().__init__(daemon)
        self.ok("POST", "/v1/hosts", H2)
        self.ok("POST", "/v1/tenants", {"name": "web"})
        self.agents = {host: self.agent(host) for host in ("h1", "h3")}

    def agent(self, host: str) -> str:
        """A token of a new agent user bound to ``host``."""
        name = f"agent-{host}"
        body = {"username": name, "password": f"{name}-pw", "role": "agent", "host": host}
        self.ok("POST", "/v1/users", body)
        return self.daemon.login(name, f"{name}-pw")

    def refused(self, method: str, path: str, payload: object = None) -> str:
        """Agent h1's call, which must be refused with 403; its detail."""
        r = self.call(self.agents["h1"], method, path, payload)
        assert r.status_code == 403, r.text
        return str(r.json()["detail"])


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with start(tmp_path_factory.mktemp("bound")) as daemon:
        dep = Deployment(daemon)
        r = dep.call(dep.agents["h1"], "POST", "/v1/hosts", H1)
        assert r.status_code == 201, r.text
        yield dep


def test_an_agent_does_everything_it_needs_for_its_own_host(d: Deployment) -> None:
    me = d.agents["h1"]
    assert d.call(me, "GET", "/v1/hosts/h1/view").json()["host"]["name"] == "h1"
    assert d.call(me, "GET", "/v1/hosts/h1").json()["ip"] == "192.0.2.1"
    assert d.call(me, "GET", "/v1/hosts/h1/routes").status_code == 200
    assert d.call(me, "GET", "/v1/topology").status_code == 200
    r = d.call(me, "PATCH", "/v1/hosts/h1", {"labels": {"rack": "a", "gpu": "yes"}})
    assert r.status_code == 200, r.text
    r = d.call(me, "POST", "/v1/allocations", {"key": "mine", "host": "h1", "tenant": "web"})
    assert r.status_code == 201, r.text
    assert d.call(me, "GET", "/v1/allocations/mine").json()["host"] == "h1"
    assert [a["key"] for a in d.call(me, "GET", "/v1/allocations?host=h1").json()] == ["mine"]
    assert d.call(me, "DELETE", "/v1/allocations/mine").status_code == 200
    # Registering again, as a restarted agent does, finds its own registration.
    assert d.call(me, "POST", "/v1/hosts", H1).status_code == 409


def test_an_agent_cannot_read_another_hosts_view(d: Deployment) -> None:
    for path in ("/v1/hosts/h2/view", "/v1/hosts/h2", "/v1/hosts/h2/routes"):
        assert "bound to host 'h1'" in d.refused("GET", path)


def test_an_agent_cannot_allocate_on_another_host(d: Deployment) -> None:
    detail = d.refused("POST", "/v1/allocations", {"key": "x", "host": "h2", "tenant": "web"})
    assert "bound to host 'h1'" in detail and "'h2'" in detail
    assert d.call(d.admin, "GET", "/v1/allocations/x").status_code == 404


def test_an_agent_cannot_see_or_release_another_hosts_allocation(d: Deployment) -> None:
    theirs = d.ok("POST", "/v1/allocations", {"key": "theirs", "host": "h2", "tenant": "web"})
    address = str(theirs["addresses"][0])
    me = d.agents["h1"]
    for method, path, missing in (
        ("GET", "/v1/allocations/theirs", "/v1/allocations/nothing"),
        ("DELETE", "/v1/allocations/theirs", "/v1/allocations/nothing"),
        ("DELETE", f"/v1/addresses/{address}", "/v1/addresses/10.255.0.9"),
    ):
        a, b = d.call(me, method, path), d.call(me, method, missing)
        assert a.status_code == b.status_code == 404, (a.text, b.text)
        assert a.json()["title"] == b.json()["title"]
    assert d.call(me, "GET", "/v1/allocations?host=h2").status_code == 403
    assert d.call(d.admin, "GET", "/v1/allocations/theirs").status_code == 200


def test_an_agent_cannot_relabel_another_host(d: Deployment) -> None:
    detail = d.refused("PATCH", "/v1/hosts/h2", {"labels": {"rack": "b", "evil": "yes"}})
    assert "bound to host 'h1'" in detail
    assert d.call(d.admin, "GET", "/v1/hosts/h2").json()["labels"] == {"rack": "b"}


def test_an_agent_cannot_pre_register_another_nodes_name(d: Deployment) -> None:
    stolen = {"name": "h3", "ip": "192.0.2.66", "labels": {"rack": "b"}}
    assert "bound to host 'h1'" in d.refused("POST", "/v1/hosts", stolen)
    assert d.call(d.admin, "GET", "/v1/hosts/h3").status_code == 404
    # h3's own agent registers it, with its own address, and every host routes there.
    honest = {"name": "h3", "ip": "192.0.2.3", "labels": {"rack": "b"}}
    assert d.call(d.agents["h3"], "POST", "/v1/hosts", honest).status_code == 201
    routes = d.call(d.admin, "GET", "/v1/hosts/h2/routes?aggregate=false").json()
    assert "192.0.2.66" not in str(routes) and "192.0.2.3" in str(routes)


def test_an_agent_reads_and_changes_nothing_else(d: Deployment) -> None:
    for method, path, payload in (
        ("GET", "/v1/hosts", None),
        ("GET", "/v1/networks", None),
        ("GET", "/v1/topology/tree", None),
        ("GET", "/v1/users", None),
        ("PUT", "/v1/topology", {"networks": [], "topologies": []}),
        ("DELETE", "/v1/hosts/h2", None),
        ("DELETE", "/v1/hosts/h1", None),
        ("POST", "/v1/tenants", {"name": "evil"}),
        ("POST", "/v1/users", {"username": "x", "password": "x-password", "role": "admin"}),
    ):
        d.refused(method, path, payload)
    assert d.call(d.agents["h1"], "GET", "/v1/tenants").json() == []
    # Decoding names tenants, which an agent reads only in its host's view: every address
    # answers as one of no tenant does.
    decoded = d.call(d.agents["h1"], "GET", "/v1/decode/10.0.0.1")
    assert decoded.status_code == 404, decoded.text


def test_an_agent_user_needs_exactly_one_host(d: Deployment) -> None:
    body = {"username": "hostless", "password": "hostless-pw", "role": "agent"}
    r = d.call(d.admin, "POST", "/v1/users", body)
    assert r.status_code == 422 and [i["field"] for i in r.json()["issues"]] == ["host"]
    body = {"username": "svc", "password": "svc-password", "role": "service", "host": "h1"}
    r = d.call(d.admin, "POST", "/v1/users", body)
    assert r.status_code == 422 and "only agent users have a host" in r.text
    listed = {u["username"]: u for u in d.call(d.admin, "GET", "/v1/users").json()}
    assert listed["agent-h1"]["host"] == "h1" and listed["admin"]["host"] is None


def test_an_agent_user_of_an_earlier_release_is_refused(d: Deployment) -> None:
    token = d.agent("h9")
    # What an earlier release stored: the same user without a host.
    store = open_store(d.daemon.store)
    try:
        kv = store.get(auth.user_key("agent-h9"))
        assert kv is not None
        old = {k: v for k, v in txn.loads(kv).items() if k != "host"}
        store.txn([], [Put(auth.user_key("agent-h9"), txn.dumps(old))])
    finally:
        store.close()
    r = d.call(token, "GET", "/v1/hosts/h9/view")
    assert r.status_code == 401
    assert "bound to no host" in r.text and "--role agent --host" in r.text
    login = httpx.post(
        f"{d.daemon.url}/v1/auth/token",
        json={"username": "agent-h9", "password": "agent-h9-pw"},
        trust_env=False,
    )
    assert login.status_code == 401 and "bound to no host" in login.text
