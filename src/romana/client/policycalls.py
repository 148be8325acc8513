"""The calls of what hosts enforce and report: romanad's ``policy``, ``route`` and
``agent-view`` services (docs/api.md, "Policies", "Routes", "Agent view").

:class:`PolicyCalls` is a group of the methods of :class:`romana.client.http.Client`: the
policies, address sets and Kubernetes objects; a host's route plan and its routing reports;
the drop events hosts send and the host view an agent waits on. Policies and topology
documents pass through as JSON; the other answers are checked by the models of
:mod:`romana.wire.rest`, :mod:`romana.wire.rest_routing`, :mod:`romana.wire.rest_kube`,
:mod:`romana.wire.rest_hostview` and :mod:`romana.wire.rest_drops`, each imported when a method
first names one of its models.

Invariants:

* A long poll (:meth:`PolicyCalls.drops`, :meth:`PolicyCalls.host_view`) waits at most its
  ``wait`` plus the session's timeout for its answer.
* A policy POST is not retried: storing policies twice is not the same as once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from romana.client.calls import Calls, answer, answers, lazy, rest, seg
from romana.client.session import Call, Params
from romana.core.errors import Unavailable
from romana.wire.light import JSON, PREFIX

if TYPE_CHECKING:
    from romana.wire import rest_routing
else:
    rest_routing = lazy("romana.wire.rest_routing")


class PolicyCalls(Calls):
    """The ``policy``, ``route`` and ``agent-view`` services' endpoints; see the module
    docstring."""

    # -- policies ------------------------------------------------------------------------

    def list_policies(self) -> list[JSON]:
        return answers(JSON, self._get("policy", f"{PREFIX}/policies"))

    def get_policy(self, policy_id: str) -> JSON:
        return answer(JSON, self._get("policy", f"{PREFIX}/policies/{seg(policy_id)}"))

    def add_policies(self, policies: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[JSON]:
        """Store one policy or a list of them (Romana v1 or v2 JSON); the stored policies."""
        body: Any = dict(policies) if isinstance(policies, Mapping) else [dict(p) for p in policies]
        stored = self._post("policy", f"{PREFIX}/policies", body)
        if isinstance(stored, list):
            return answers(JSON, stored)
        if isinstance(stored, dict):
            return [stored]
        raise Unavailable(f"POST /v1/policies: unexpected response {stored!r}")

    def put_policy(self, policy_id: str, policy: Mapping[str, Any]) -> JSON:
        """Store one policy under its id, replacing what the id held (one transaction)."""
        path = f"{PREFIX}/policies/{seg(policy_id)}"
        return answer(JSON, self._put("policy", path, dict(policy)))

    def remove_policy(self, policy_id: str) -> JSON:
        return answer(JSON, self._delete("policy", f"{PREFIX}/policies/{seg(policy_id)}"))

    # -- address sets --------------------------------------------------------------------

    def list_address_sets(self) -> list[JSON]:
        return answers(rest.AddressSet, self._get("policy", f"{PREFIX}/address-sets"))

    def get_address_set(self, name: str) -> JSON:
        return answer(rest.AddressSet, self._get("policy", f"{PREFIX}/address-sets/{seg(name)}"))

    def put_address_set(self, name: str, members: Sequence[str]) -> JSON:
        """Make the set hold exactly ``members`` (created when absent); the stored set."""
        path = f"{PREFIX}/address-sets/{seg(name)}"
        return answer(rest.AddressSet, self._put("policy", path, {"members": list(members)}))

    def remove_address_set(self, name: str) -> JSON:
        """Delete a set; NotFound when there is none."""
        path = f"{PREFIX}/address-sets/{seg(name)}"
        return answer(rest.AddressSet, self._delete("policy", path))

    # -- Kubernetes objects --------------------------------------------------------------

    def kube_objects(self) -> JSON:
        """The namespaces, pods and NetworkPolicies the last Kubernetes sync stored."""
        from romana.wire import rest_kube

        return answer(rest_kube.KubeObjects, self._get("policy", f"{PREFIX}/kube/objects"))

    def put_kube_objects(self, record: Mapping[str, Any]) -> JSON:
        """Replace the stored Kubernetes objects (romanad writes only what changed)."""
        from romana.wire import rest_kube

        return answer(
            rest_kube.KubeObjects, self._put("policy", f"{PREFIX}/kube/objects", dict(record))
        )

    # -- routes and the agent's view -----------------------------------------------------

    def routes(self, host: str) -> JSON:
        from romana.wire import rest_hostview

        return answer(
            rest_hostview.RoutePlan, self._get("route", f"{PREFIX}/hosts/{seg(host)}/routes")
        )

    def report_routing(self, host: str, report: Mapping[str, Any]) -> JSON:
        """Store the host's routing report (a :class:`romana.wire.rest_routing.RoutingReportIn`);
        it replaces the host's previous one."""
        path = f"{PREFIX}/hosts/{seg(host)}/routing"
        return answer(rest_routing.RoutingReport, self._put("route", path, dict(report)))

    def routing(self, host: str) -> JSON:
        """The host's latest routing report and its age (NotFound when it sent none)."""
        return answer(
            rest_routing.RoutingReport, self._get("route", f"{PREFIX}/hosts/{seg(host)}/routing")
        )

    def list_routing(self) -> list[JSON]:
        """The latest routing report of every host that sent one."""
        return answers(rest_routing.RoutingReport, self._get("route", f"{PREFIX}/routing"))

    def report_drops(self, host: str, events: Sequence[Mapping[str, Any]]) -> JSON:
        """Send a batch of the drops ``host``'s firewall logged (each a
        :class:`romana.wire.rest_drops.DropEventIn`); romanad keeps them in memory only."""
        from romana.wire import rest_drops

        path = f"{PREFIX}/hosts/{seg(host)}/drops"
        body = {"events": [dict(e) for e in events]}
        return answer(rest_drops.DropReport, self._post("agent-view", path, body))

    def drops(
        self,
        after: int = 0,
        wait: float = 0.0,
        host: str | None = None,
        tenant: str | None = None,
    ) -> JSON:
        """The drop events after ``after`` the caller may read, of ``host`` and with a side
        in ``tenant`` when given; with ``wait``, waits up to that long for the first.
        ``last`` in the answer is the next call's ``after``."""
        from romana.wire import rest_drops

        params: Params = {"after": after, "wait": wait, "host": host, "tenant": tenant}
        call = Call("GET", f"{PREFIX}/drops", params=params, timeout=wait + self._session.timeout)
        return answer(
            rest_drops.DropEvents, self._session.call("agent-view", call, idempotent=True)
        )

    def host_view(self, host: str, after: int | None = None, wait: float | None = None) -> JSON:
        """The host's view; with ``after``, waits up to ``wait`` s for a newer revision."""
        from romana.wire import rest_hostview

        params: dict[str, str | int | float | None] = {"after": after, "wait": wait}
        timeout = None if wait is None else wait + self._session.timeout
        return answer(
            rest_hostview.HostView,
            self._session.call(
                "agent-view",
                Call("GET", f"{PREFIX}/hosts/{seg(host)}/view", params=params, timeout=timeout),
                idempotent=True,
            ),
        )
