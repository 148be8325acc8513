"""romanad's answers are what its readers validate them against (romana.wire, API v1).

One real romanad (a process over SQLite, the topology of ``tests/unit/api``) is driven through the
real client, calling every method of :class:`romana.client.Client` that returns an answer
(and ``romana.client.kube.apply``): the client validates each answer with the model of
:mod:`romana.wire` it belongs to, so an answer of another shape (a field renamed, dropped or
of another type) fails the call with InvalidInput naming the field. Each answer must also
carry every field its model declares, nested models included: a reader never relies on a
default for a field romanad drops. The agent reads the host view with
:func:`romana.agent.view.parse`, and problem answers (404, 422, 401) are validated against
:class:`romana.wire.rest.Problem`.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from romana.agent import view
from romana.client import Client, ClientSettings, kube
from romana.core.dockerpools import DockerPool
from romana.wire import rest, rest_addresses, rest_drops, rest_hostview, rest_kube, rest_routing
from romana.wire.rest import PREFIX
from unit.api.conftest import Api, start

NO_ANSWER = {"close", "deregister", "delete_user", "logout", "revoke_tokens"}
"""Client methods that return nothing to validate."""

POLICY: dict[str, Any] = {
    "name": "web",
    "applied_to": [{"tenant": "acme"}],
    "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}],
}


class Recorder:
    """The client, noting which of its methods were called."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.called.add(name)
        return getattr(self.client, name)


def models_in(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """The models an annotation holds, each with whether it is a list or mapping of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [m for a in args[:1] if origin is typing.Annotated for m in models_in(a)] + [
            m for a in args if origin is not typing.Annotated for m in models_in(a)
        ]
    if origin in (list, dict):
        return [(m, True) for m, _ in models_in(args[-1])]
    return []


def sends_every_field(shape: type[BaseModel], raw: Any, where: str = "") -> None:
    assert isinstance(raw, dict), f"{where or shape.__name__}: not an object"
    for name, info in shape.model_fields.items():
        at = f"{where}.{name}" if where else name
        assert name in raw, f"romanad left out {at} of {shape.__name__}"
        value = raw[name]
        for model, many in models_in(info.annotation):
            items = (value.values() if isinstance(value, dict) else value) if many else [value]
            for i, item in enumerate(items or ()):
                if item is not None:
                    sends_every_field(model, item, f"{at}[{i}]" if many else at)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = start(tmp_path_factory.mktemp("romanad-contract"))
    try:
        yield Api(daemon)
    finally:
        daemon.stop()


def test_every_answer_the_client_reads_validates_against_api_v1(api: Api, tmp_path: Path) -> None:
    user, password = api.daemon.admin()
    settings = ClientSettings(url=(api.url,), discover=False, retries=0)
    with Client(settings) as real:
        c = Recorder(real)
        answers: list[tuple[type[BaseModel], Any]] = []

        def seen(shape: type[BaseModel], answer: Any) -> Any:
            for item in answer if isinstance(answer, list) else [answer]:
                answers.append((shape, item))
            return answer

        seen(rest.TokenOut, c.login(user, password))
        seen(rest.Health, c.health())
        seen(rest.Health, c.health(api.url))
        seen(rest.Registration, c.list_services())

        # Tenants, users, keys and quotas.
        seen(rest.Tenant, c.create_tenant("acme", networks=["pods"]))
        seen(rest.Tenant, c.create_tenant("gone", isolation={"mode": "kubernetes"}))
        seen(rest.Tenant, c.list_tenants())
        seen(rest.Tenant, c.get_tenant("acme"))
        seen(rest.Tenant, c.set_isolation("acme", {"mode": "romana", "segments": "open"}))
        seen(rest.Tenant, c.set_tenant_owner("acme", "neutron"))
        seen(rest.Tenant, c.set_tenant_owner("acme", None))
        seen(rest.Tenant, c.add_segment("acme", "blue"))
        seen(rest.Tenant, c.remove_segment("acme", "blue"))
        seen(rest.Tenant, c.delete_tenant("gone"))
        seen(rest.User, c.create_user("contract-user", "contract-pw-1", "tenant", tenant="acme"))
        seen(rest.User, c.create_user("contract-agent", "contract-pw-2", "agent", host="h1"))
        seen(rest.User, c.list_users())
        seen(rest.User, c.get_user("contract-agent"))
        seen(rest.User, c.set_password("contract-user", "contract-pw-3"))
        c.revoke_tokens("contract-user")
        c.delete_user("contract-user")
        seen(rest.SigningKey, c.signing_keys())
        seen(rest.SigningKey, c.rotate_signing_key())
        defaults = seen(rest.Quotas, c.quota_defaults())
        seen(rest.Quotas, c.set_quota_defaults({"policies": defaults["policies"]}))
        seen(rest.TenantQuota, c.tenant_quota("acme"))
        seen(rest.TenantQuota, c.set_tenant_quota("acme", {"policies": None}))

        # Topology, networks and hosts.
        c.apply_topology(c.get_topology())
        c.topology_tree()
        seen(rest.Network, c.list_networks())
        seen(rest.Network, c.add_blackouts("pods", ["10.255.0.0/16"]))
        seen(rest.Network, c.remove_blackouts("pods", ["10.255.0.0/16"]))
        seen(rest.Network, c.set_blackouts("pods", []))
        seen(rest.Host, c.add_host("h1", "192.0.2.1", {"rack": "a"}))
        seen(rest.Host, c.add_host("h2", "192.0.2.2", {"rack": "b"}, ip6="2001:db8::2"))
        seen(rest.Host, c.add_host("h3", "192.0.2.3", {"rack": "a"}))
        seen(rest.Host, c.label_host("h3", {"rack": "a", "role": "spare"}))
        seen(rest.Host, c.remove_host("h3"))
        seen(rest.Host, c.list_hosts())
        seen(rest.Host, c.get_host("h1"))

        # Addresses, Docker pools, policies, address sets, Kubernetes objects.
        alloc = seen(rest_addresses.Allocation, c.allocate("c1:eth0", "h1", "acme"))
        seen(rest_addresses.Allocation, c.allocate("c2:eth0", "h2", "acme"))
        seen(rest_addresses.Allocation, c.allocate("c3:eth0", "h1", "acme"))
        seen(rest_addresses.Allocation, c.list_allocations(host="h1"))
        seen(rest_addresses.Allocation, c.get_allocation("c1:eth0"))
        seen(rest_addresses.Decoded, c.decode(alloc["addresses"][0]))
        seen(rest_addresses.Allocation, c.move_allocation("c3:eth0", "h2"))
        seen(rest_addresses.Allocation, c.set_workload("c3:eth0", "docker:" + "f" * 64))
        seen(rest_addresses.Allocation, c.release("c3:eth0"))
        seen(
            rest_addresses.Allocation,
            c.release_address(c.get_allocation("c2:eth0")["addresses"][0]),
        )
        pool = "romana-" + "0" * 24
        binding = DockerPool.from_dict(
            {"pool": pool, "tenant": "acme", "segment": "default", "network": "pods",
             "docker_network": "ab" * 32, "host": "h1"}
        )  # fmt: skip
        seen(rest_addresses.DockerPool, c.bind_docker_pool(binding))
        seen(rest_addresses.DockerPool, c.get_docker_pool(pool))
        seen(rest_addresses.DockerPool, c.list_docker_pools(tenant="acme"))
        seen(rest_addresses.DockerPool, c.delete_docker_pool(pool))
        seen(
            rest_addresses.ExternalPool,
            c.create_external_pool("contract", ["203.0.113.0/29"], "rack-a"),
        )
        seen(rest_addresses.ExternalPool, c.list_external_pools())
        seen(rest_addresses.ExternalPool, c.get_external_pool("contract"))
        external_ip = seen(rest_addresses.ExternalIp, c.assign_external_ip("contract", "c1:eth0"))
        seen(rest_addresses.ExternalIp, c.get_external_ip(external_ip["address"]))
        seen(rest_addresses.ExternalIp, c.list_external_ips(pool="contract", key="c1:eth0"))
        seen(rest_addresses.ExternalIp, c.unassign_external_ip(external_ip["address"]))
        seen(rest_addresses.ExternalPool, c.delete_external_pool("contract"))
        c.create_external_pool("contract-vips", ["203.0.113.8/29"])
        seen(rest_addresses.Vip, c.create_vip("contract", "contract-vips", ["c1:eth0"]))
        seen(rest_addresses.VipLease, c.lease_vip("contract", "h1"))
        seen(rest_addresses.Vip, c.list_vips())
        seen(rest_addresses.Vip, c.get_vip("contract"))
        seen(rest_addresses.Vip, c.set_vip_endpoints("contract", ["c1:eth0"]))
        seen(rest_addresses.VipLease, c.lease_vip("contract", "h1", release=True))
        seen(rest_addresses.Vip, c.delete_vip("contract"))
        c.delete_external_pool("contract-vips")
        seen(
            rest_addresses.EgressNat,
            c.set_egress_nat("pods", "tenants", ["acme"], ["192.168.0.0/16"]),
        )
        seen(rest_addresses.EgressNat, c.egress_nat("pods"))
        seen(rest_addresses.EgressNat, c.list_egress_nat())
        seen(rest_addresses.EgressNat, c.set_egress_nat("pods", "on"))
        stored = c.add_policies(POLICY)
        c.list_policies()
        c.put_policy(stored[0]["id"], {**POLICY, "id": stored[0]["id"]})
        c.get_policy(stored[0]["id"])
        c.remove_policy(c.add_policies({**POLICY, "name": "gone"})[0]["id"])
        seen(rest.AddressSet, c.put_address_set("contract.set", ["10.9.0.0/24"]))
        seen(rest.AddressSet, c.list_address_sets())
        seen(rest.AddressSet, c.get_address_set("contract.set"))
        seen(rest.AddressSet, c.remove_address_set("contract.set"))
        objects = seen(rest_kube.KubeObjects, c.kube_objects())
        record = {k: objects[k] for k in ("namespaces", "pods", "networkpolicies")}
        seen(rest_kube.KubeObjects, c.put_kube_objects(record))
        seen(rest_kube.KubeApplied, kube.apply(real, [], "romana.io/segment"))

        # What an agent reads.
        seen(rest_hostview.RoutePlan, c.routes("h1"))
        report = {
            "mode": "bgp",
            "reported_at": 1.0,
            "sessions": [{"name": "romana_peer0", "peer": "192.0.2.2", "peer_as": 65002,
                          "state": "Established"}],
            "routes": [{"dst": "10.0.0.0/16", "source": "direct"}],
        }  # fmt: skip
        seen(rest_routing.RoutingReport, c.report_routing("h1", report))
        seen(rest_routing.RoutingReport, c.routing("h1"))
        seen(rest_routing.RoutingReport, c.list_routing())
        raw = seen(rest_hostview.HostView, c.host_view("h1"))
        later = seen(rest_hostview.HostView, c.host_view("h1", after=raw["revision"], wait=0.1))
        drop = {
            "time": 1.0, "src": "192.0.2.9", "dst": alloc["addresses"][0], "proto": "tcp",
            "sport": 40000, "dport": 80, "reason": {"id": "0123456789ab", "default": "isolation"},
        }  # fmt: skip
        seen(rest_drops.DropReport, c.report_drops("h1", [drop]))
        seen(rest_drops.DropEvents, c.drops(host="h1"))
        hv = view.parse(later)
        assert hv.host == "h1" and set(hv.endpoints) == {"c1:eth0"}
        assert hv.policy_tenants == frozenset({"acme"})
        assert [p["name"] for p in hv.policies] == ["web"]
        c.logout()

    answering = {
        name
        for name, _ in inspect.getmembers(Client, inspect.isfunction)
        if not name.startswith("_") and name not in NO_ANSWER
    }
    assert answering <= c.called, f"not exercised here: {sorted(answering - c.called)}"
    for shape, answer in answers:
        sends_every_field(shape, answer)


def test_problem_answers_validate_against_api_v1(api: Api) -> None:
    admin = api.client(api.login(*api.daemon.admin()))
    missing = admin.get(f"{PREFIX}/tenants/no-such-tenant")
    invalid = admin.post(f"{PREFIX}/tenants", json={"name": "-bad-", "nope": 1})
    anonymous = api.client().get(f"{PREFIX}/tenants")
    for response, status in ((missing, 404), (invalid, 422), (anonymous, 401)):
        assert response.status_code == status, response.text
        problem = rest.answer(rest.Problem, response.json())
        assert problem["status"] == status
    fields = {i["field"] for i in rest.answer(rest.Problem, invalid.json())["issues"]}
    assert fields == {"name", "nope"}
