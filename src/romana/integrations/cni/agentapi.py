"""romana-agent's local API, as a contract and as the plugin's client of it (stdlib only).

The CNI plugin, and any other runtime integration on the host, talks to the agent with
HTTP/1.1 and JSON bodies over a Unix socket: ``/run/romana/agent.sock`` unless the network
configuration sets ``agent_socket``. The agent implements the server side of what follows
(:mod:`romana.agent.localapi`). The bodies are the values of :mod:`romana.core.endpoint` as
the one wire schema, :mod:`romana.core.endpointwire` (version 1, the ``/v1`` of the paths),
writes and reads them; :func:`problem` builds error bodies. :class:`AgentClient` speaks it
over the socket, and :class:`AgentPort` is the :class:`~romana.core.endpoint.EndpointPort`
the plugin calls when it runs as its own process (in the agent it calls the agent's port).

Conventions
    * Bodies are JSON objects (``application/json``). Errors are problem JSON (RFC 9457,
      ``application/problem+json``) in romanad's dialect, from the same table
      (:mod:`romana.core.problems`): ``{"type", "title", "status", "detail", "issues"?,
      "field"?}``, where ``field`` is the dotted path of the request member at fault
      (``tenant``, ``k8s.namespace``, ``valid[3].ifname``) and ``issues`` lists every
      problem of a refused request. Clients decide with :func:`romana.core.problems.error_of`,
      the inverse every client uses: by the status, and where a status has two meanings by
      ``Retry-After`` (only temporary errors carry it), ``issues`` or the problem type.
      ``detail`` is shown to the operator as is: make it name the value and the rule.
    * An endpoint is named by ``(container_id, ifname)``; both are percent-encoded in paths.
    * ``addresses`` is always a list with one entry per address family: one entry on an IPv4
      network, two on a dual-stack one. Each ``address`` is CIDR (``/32``, ``/128``); its
      ``gateway`` is the host gateway of that family.
    * One request per connection is enough; the plugin closes after each answer.
    * Callers are root, or members of the agent's ``--api-group``: the agent checks each
      connection's peer credentials and answers anyone else 403 ``forbidden``.

``POST /v1/endpoints`` (CNI ADD): body ``EndpointRequest`` → 200 ``Endpoint``::

    {"container_id": "lab-web1", "ifname": "eth0", "netns": "/proc/4242/ns/net",
     "network": "romana", "tenant": "shop", "segment": "frontend",
     "labels": {"app": "web", "romana.io/segment": "frontend"},
     "k8s": {"namespace": "shop", "pod": "web-0", "pod_uid": "7c0e…"},     (Kubernetes only)
     "mtu": 1450}                                                  (only when configured)
    →
    {"container_id": "lab-web1", "ifname": "eth0", "netns": "/proc/4242/ns/net",
     "network": "romana", "tenant": "shop", "segment": "frontend",
     "addresses": [{"address": "10.1.17.1/32", "gateway": "10.1.0.1"}],
     "interface": {"name": "eth0", "mac": "02:…", "mtu": 1450, "sandbox": "/proc/4242/ns/net"},
     "host_interface": {"name": "romana1a2b3c4d", "mac": "06:…"},
     "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
     "mtu": 1450}

    Allocates an address for (tenant, segment) on this host and wires the endpoint: the veth
    pair, the address inside, ``default via <gateway> onlink``, the host ``/32`` route, policy
    set membership. ``labels`` are the workload's labels, for policy selectors. Without
    ``mtu`` the agent applies its own; the answer's ``mtu`` is what both veth ends got.
    ``routes`` entries may carry the CNI 1.1 keys ``mtu``, ``advmss``, ``priority``, ``table``,
    ``scope``. Idempotent per (container_id, ifname): the same key again answers the same
    addresses (a runtime retrying an ADD whose wiring failed), except that when interface
    ``ifname`` already exists in ``netns`` the answer is 409 (AlreadyExists), field ``ifname``.
    404, field ``netns``: the namespace does not exist. 422, field ``netns``: it is the
    agent's own network namespace or the init one. 507 (Exhausted): no address is left for
    that tenant and segment. 503 (Unavailable): the agent is not synced.

    ``"attachment": "tap"`` (absent: ``"veth"``, the only value the plugin sends) names an
    existing device of the host namespace instead of a pair: a VM's tap. ``netns`` is then
    empty, ``container_id`` is the Neutron port id and ``ifname`` its tap (``tap`` + the
    first 11 characters of the port id). The ADD never allocates: it uses the allocation of
    that key that Neutron's IPAM driver made (404, field ``container_id``, when there is none
    on this host; 409, field ``tenant``, when it is for another tenant or segment). 404,
    field ``ifname``: the tap does not exist. The same key again wires the tap again and
    answers it. DEL of a tap unwires it and never
    releases its allocation (the port owns it); GC never touches it.

    ``"attachment": "docker"`` (the Docker plugin's Join) asks for a veth pair with both ends
    in the host namespace, for dockerd to move the ``ifname`` end into the sandbox ``netns``:
    ``container_id`` is ``docker-`` + 24 lowercase hex digits and ``ifname`` ``rdk`` + the
    first 11 of them (422 naming the field otherwise). As for a tap the ADD never allocates
    (404, field ``container_id``; 409, field ``tenant``); 404, field ``netns``: the sandbox
    does not exist; 409, field ``ifname``: that name is taken in the host namespace. The
    answer's ``host_interface`` is the host end and each address carries its family's
    gateway; nothing is configured on the ``ifname`` end. The same key again answers the
    endpoint as it is. DEL deletes the pair and never releases; GC releases a docker
    endpoint, whatever its list, once its sandbox is gone.

``GET /v1/endpoints/{container_id}/{ifname}`` (CNI CHECK): 200 ``Endpoint`` plus
    ``"problems": [str]``, empty when everything the agent wired is in place: veth, address and
    routes in the namespace, host ``/32`` route, policy chain hooks and set membership, and the
    address still allocated to this key. Each problem is one sentence for the operator. 404
    when no endpoint is recorded for the key.

``DELETE /v1/endpoints/{container_id}/{ifname}`` (CNI DEL): 200 ``{"released": bool}``, also
    when nothing was recorded (``false``) and when the namespace is gone. Answers once the
    endpoint is cut off (host veth down) and its release is recorded; the veth, its
    conntrack entries and then the addresses go right after, before the same key can be
    added again.

``GET /v1/status?tenant=&segment=`` (CNI STATUS; parameters optional): 200 ``{"ready": true}``,
    or 503 whose type is ``https://romana.io/problems/`` and a slug: ``not-ready`` (agent not
    synced with romanad), ``exhausted`` (no address for that tenant/segment and no block can
    be claimed) or ``limited-connectivity`` (routes to peers known broken, so existing
    workloads are affected: the plugin answers 51, else 50). A readiness, not an error.

``POST /v1/gc`` (CNI GC): body ``{"network", "valid": [{"container_id", "ifname"}]}`` → 200
    ``{"released": [{"container_id", "ifname"}], "errors": [str]}``. Releases every
    endpoint of ``network`` whose key is not in ``valid``, sparing endpoints created within a
    grace window (60 s: an ADD may be in flight although the runtime promises otherwise),
    continuing past failures and listing each in ``errors``. An empty ``valid`` releases
    only endpoints whose network namespace no longer exists: it may come from a runtime that
    lost track of its sandboxes, and an endpoint whose namespace is there is still in use.

Errors, as :mod:`romana.core.problems` maps them both ways (the CNI code is the plugin's):

=======  ===================================  ====================================
status   client raises                        CNI code the plugin answers
=======  ===================================  ====================================
400/422  InvalidInput (with ``issues``)       7, or 4 when the field came from an
                                              environment variable
422      Unsupported (no ``issues``)          2
404      NotFound                             3 on ADD; CHECK fails (102); DEL
                                              succeeds
409      AlreadyExists (no ``Retry-After``)   101
409      Conflict (``Retry-After``)           11 (transient: retry)
507      Exhausted                            11; STATUS 50
403      QuotaExceeded (its own type)         100, not retried: the tenant is at a
                                              quota only an admin raises
503      Unavailable                          11; STATUS 50 or 51
401/403  Unauthorized/Forbidden               100
other    RomanaError naming the status        100
—        Unavailable (no socket, refused,     11
         timeout, broken reply)
=======  ===================================  ====================================

On DEL every failure but 400/422 leads to a pending release instead of an error.

Pending releases
    When DEL cannot hand a release to the agent, the plugin records it with
    :func:`romana.integrations.cni.pending.record` in the pending directory
    (``/var/lib/romana/cni-pending``, network config ``pending_dir``; it must match the agent's
    setting) and succeeds, because DEL must not fail. The agent, at start before it serves, and
    after each full resync, finishes them: for each ``entry`` in ``pending.list_pending(dir)``,
    under that endpoint's lock: if ``pending.is_pending(dir, entry)`` still holds, release the
    endpoint as DELETE does, then ``pending.complete(dir, entry)``. The re-check under the lock
    matters: an ADD of the same key takes the pending release first (DELETE, ``complete``,
    then POST), and the fresh endpoint must not be released by the stale entry.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from romana.core import endpointwire, errors, problems
from romana.core.endpoint import (
    Endpoint,
    EndpointPort,
    EndpointRequest,
    GcAnswer,
    GcRequest,
    Readiness,
)

DEFAULT_SOCKET = "/run/romana/agent.sock"
PROBLEM_BASE = "https://romana.io/problems/"
LIMITED_CONNECTIVITY = "limited-connectivity"


def problem(status: int, slug: str, title: str, detail: str, field: str = "") -> dict[str, Any]:
    """A problem body of a type of this contract's own (STATUS's readiness answers); an
    error's answer is :func:`romana.core.problems.render`'s."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    body["detail"] = detail
    if field:
        body["field"] = field
    return body


def endpoint_path(container_id: str, ifname: str) -> str:
    quote = urllib.parse.quote
    return f"/v1/endpoints/{quote(container_id, safe='')}/{quote(ifname, safe='')}"


class ProtocolError(OSError):
    """The agent's answer is not a well-formed HTTP/1.1 response."""


def _http(
    path: str, timeout: float, method: str, target: str, headers: dict[str, str], data: bytes
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange over a Unix socket, ``Connection: close``.

    Hand-written rather than ``http.client`` because that module's import (``email``,
    ``ssl``) costs about 40 ms, which is most of what a CNI ADD spends in this process.
    The answer is read to end of stream; chunked bodies are decoded; header names are
    returned in lower case.
    """
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(data)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"malformed HTTP answer: {raw[:80]!r}")
    fields = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    elif "content-length" in fields:
        body = body[: int(fields["content-length"])]
    return int(parts[1]), fields, body


def _unchunk(body: bytes) -> bytes:
    out = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        body = rest[size + 2 :]
    return b"".join(out)


class AgentClient:
    """Blocking client of the local API; one connection per call, every failure a RomanaError."""

    def __init__(
        self, socket_path: str = DEFAULT_SOCKET, timeout: float = 30.0, failed: str = ""
    ) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self.failed = failed
        """Why the agent is already known to be unreachable (the compiled front tried it);
        when set, every call fails at once instead of waiting for the timeout again."""

    def add_endpoint(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """ADD with a body of the wire schema; the answer, checked to be an ``Endpoint``."""
        answer = self._call("POST", "/v1/endpoints", body)
        endpointwire.endpoint_from_wire(answer, "POST /v1/endpoints")
        return answer

    def get_endpoint(self, container_id: str, ifname: str) -> dict[str, Any]:
        """CHECK; the answer, checked to be an ``Endpoint`` with ``problems``."""
        path = endpoint_path(container_id, ifname)
        answer = self._call("GET", path)
        endpointwire.endpoint_from_wire(answer, f"GET {path}")
        return answer

    def delete_endpoint(self, container_id: str, ifname: str) -> bool:
        answer = self._call("DELETE", endpoint_path(container_id, ifname))
        return bool(answer.get("released", False))

    def status(self, tenant: str | None = None, segment: str | None = None) -> Readiness:
        query = {k: v for k, v in (("tenant", tenant), ("segment", segment)) if v}
        path = "/v1/status" + ("?" + urllib.parse.urlencode(query) if query else "")
        status, answer, fields = self._exchange("GET", path)
        if status == 200:
            return Readiness(True)
        if status == 503:
            return Readiness(False, _slug(answer), _detail(answer, status))
        raise answer_error(status, answer, fields, f"GET {path}")

    def gc(self, network: str, valid: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """GC; the answer, checked to hold the ``released`` and ``errors`` lists."""
        body = endpointwire.gc_to_wire(GcRequest(network, frozenset(valid)))
        answer = self._call("POST", "/v1/gc", body)
        endpointwire.gc_answer_from_wire(answer, "POST /v1/gc")
        return answer

    def _call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        status, answer, fields = self._exchange(method, path, body)
        if status == 200:
            return answer
        raise answer_error(status, answer, fields, f"{method} {path}")

    def _exchange(
        self, method: str, path: str, body: object = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        status, fields, raw = self._transport(method, path, headers, data or b"")
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if status == 200:
                raise errors.RomanaError(
                    f"romana-agent answered {method} {path} with a body that is not a JSON "
                    f"object: {raw[:200]!r}"
                )
            answer = {"detail": raw[:200].decode("utf-8", "replace")}
        return status, answer, fields

    def _transport(
        self, method: str, path: str, headers: dict[str, str], data: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-case headers, body) of one exchange; Unavailable when the agent
        cannot be reached."""
        if self.failed:
            raise errors.Unavailable(self.failed)
        started = time.monotonic()
        try:
            return _http(self.socket_path, self.timeout, method, path, headers, data)
        except (OSError, ValueError) as exc:
            raise errors.Unavailable(
                f"romana-agent at {self.socket_path} is unreachable: "
                + _why(exc, self.timeout, time.monotonic() - started)
            ) from exc


def _why(exc: BaseException, timeout: float, waited: float) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no socket there (is romana-agent running?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is romana-agent running?)"
    if isinstance(exc, TimeoutError) and waited >= timeout:
        return f"no answer within {timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


def _slug(body: dict[str, Any]) -> str:
    return str(body.get("type", "")).rsplit("/", 1)[-1]


def _detail(body: dict[str, Any], status: int) -> str:
    return str(body.get("detail") or body.get("title") or f"HTTP {status}")


def answer_error(
    status: int, body: dict[str, Any], fields: dict[str, str], call: str
) -> errors.RomanaError:
    """The exception for a non-200 answer (``fields``: its headers, names in lower case):
    the one inverse's, else the agent failed."""
    detail = _detail(body, status)
    message = f"romana-agent: {detail}"
    error = problems.error_of(status, body, message, _retry_after(fields))
    if error is not None:
        return error
    return errors.RomanaError(f"romana-agent answered {call} with HTTP {status}: {detail}")


def _retry_after(fields: dict[str, str]) -> float | None:
    """Seconds of a ``Retry-After`` header; the agent sends delta-seconds only."""
    try:
        return max(0.0, float(fields["retry-after"]))
    except (KeyError, ValueError):
        return None


class AgentPort:
    """The :class:`~romana.core.endpoint.EndpointPort` of an agent reached through ``client``.

    Its coroutines never suspend: each is one blocking exchange, which is all a plugin process
    does meanwhile, so the plugin drives them without an event loop (:func:`.plugin.run`)."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client

    async def add(self, request: EndpointRequest) -> Endpoint:
        answer = self.client.add_endpoint(endpointwire.request_to_wire(request))
        return endpointwire.endpoint_from_wire(answer, "POST /v1/endpoints")

    async def delete(self, container_id: str, ifname: str) -> bool:
        return self.client.delete_endpoint(container_id, ifname)

    async def check(self, container_id: str, ifname: str) -> Endpoint:
        answer = self.client.get_endpoint(container_id, ifname)
        return endpointwire.endpoint_from_wire(answer, "GET /v1/endpoints")

    async def gc(self, request: GcRequest) -> GcAnswer:
        answer = self.client.gc(request.network, sorted(request.valid))
        return endpointwire.gc_answer_from_wire(answer, "POST /v1/gc")

    async def status(self, tenant: str | None, segment: str | None) -> Readiness:
        return self.client.status(tenant, segment)


_: type[EndpointPort] = AgentPort
