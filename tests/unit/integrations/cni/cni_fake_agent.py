"""A fake romana-agent: the local API of ``agentapi``'s docstring, in memory, on a Unix socket.

It exists for the plugin's protocol tests (the real agent is tested with the plugin elsewhere).
Addresses come from ``romana.core.addressing`` for host 1 of the fake's network, so answers
look like the real thing: ``10.1.<tenant·16+segment>.<ordinal>/32`` via ``10.1.0.1``.
An interface "exists in a netns" once an ADD wired it; knobs make the fake fail on purpose.
Its refusals are project errors answered as the real agent answers them, by the one table
(:func:`romana.core.problems.render`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import re
import socketserver
import threading
import time
import urllib.parse
from typing import Any

from romana.core import addressing, errors, problems
from romana.integrations.cni import agentapi

HOST = 1
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclasses.dataclass
class Record:
    body: dict[str, Any]
    address: str
    tenant_id: int
    segment_id: int
    ordinal: int
    created: float
    wired: bool = False


class FakeAgent:
    """In-memory agent. Start with :meth:`start`; stop with :meth:`stop`."""

    def __init__(self, socket_path: str, *, cidr: str = "10.0.0.0/8", endpoint_bits: int = 8):
        self.socket_path = socket_path
        self.layout = addressing.layout("romana", cidr, 4, 4, endpoint_bits)
        self.lock = threading.Lock()
        self.endpoints: dict[tuple[str, str], Record] = {}
        self.tenants: dict[str, int] = {}
        self.segments: dict[tuple[str, str], int] = {}
        self.calls: list[tuple[str, str, Any]] = []
        # Knobs.
        self.ready_problem: tuple[str, str] | None = None  # (slug, detail) → STATUS/ADD 503
        self.missing_netns: set[str] = set()
        self.fail_wiring: set[tuple[str, str]] = set()
        self.problems: dict[tuple[str, str], list[str]] = {}
        self.gc_errors: list[str] = []
        # Answer every request with this: (status, body) or (status, body, headers).
        self.scripted: tuple[int, bytes] | tuple[int, bytes, dict[str, str]] | None = None
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> FakeAgent:
        agent = self

        class Handler(_Handler):
            fake = agent

        class Server(socketserver.ThreadingUnixStreamServer):
            request_queue_size = 128  # as a real server's backlog: parallel ADDs must not queue

        server = Server(self.socket_path, Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def address_of(self, container_id: str, ifname: str) -> str:
        return self.endpoints[(container_id, ifname)].address

    # -- the API ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        with self.lock:
            self.calls.append((method, url.path, body))
            if method == "POST" and parts == ["v1", "endpoints"]:
                return self._add(body)
            if len(parts) == 4 and parts[:2] == ["v1", "endpoints"]:
                key = (parts[2], parts[3])
                if method == "GET":
                    return self._get(key)
                if method == "DELETE":
                    return 200, {"released": self._release(key)}
            if method == "GET" and parts == ["v1", "status"]:
                return self._status(urllib.parse.parse_qs(url.query))
            if method == "POST" and parts == ["v1", "gc"]:
                return self._gc(body)
        raise errors.NotFound(f"no route {method} {path}")

    def _add(self, body: Any) -> tuple[int, Any]:
        invalid = _invalid_add(body)
        if invalid:
            detail, field = invalid
            raise errors.InvalidInput([errors.Issue(field, detail)])
        key = (body["container_id"], body["ifname"])
        if body["netns"] in self.missing_netns:
            raise errors.NotFound(f"network namespace {body['netns']} does not exist")
        if self.ready_problem is not None:
            raise errors.Unavailable(self.ready_problem[1])
        record = self.endpoints.get(key)
        if record is not None and record.wired:
            raise errors.AlreadyExists(
                f"interface {key[1]} already exists in {record.body['netns']}"
            )
        if record is None:
            record = self._allocate(body)
            if record is None:
                raise errors.Exhausted(
                    f"no address left for tenant {body['tenant']} segment {body['segment']}"
                )
            self.endpoints[key] = record
        if key in self.fail_wiring:
            self.fail_wiring.discard(key)
            return 500, agentapi.problem(500, "internal", "Internal", "veth creation failed")
        record.body = body
        record.wired = True
        return 200, self._endpoint(record)

    def _allocate(self, body: dict[str, Any]) -> Record | None:
        tenant = self.tenants.setdefault(body["tenant"], len(self.tenants) + 1)
        seg_key = (body["tenant"], body["segment"])
        if body["segment"] == "default":
            segment = 0
        else:
            known = {k: v for k, v in self.segments.items() if k[0] == body["tenant"]}
            segment = self.segments.setdefault(seg_key, len(known) + 1)
        used = {
            r.ordinal
            for r in self.endpoints.values()
            if (r.tenant_id, r.segment_id) == (tenant, segment)
        }
        free = [o for o in range(1, self.layout.max_ordinal + 1) if o not in used]
        if not free:
            return None
        address = addressing.encode(self.layout, HOST, tenant, segment, free[0])
        return Record(body, f"{address}/32", tenant, segment, free[0], time.time())

    def _endpoint(self, record: Record) -> dict[str, Any]:
        body = record.body
        gateway = str(addressing.gateway(self.layout, HOST))
        digest = hashlib.sha1(f"{body['container_id']}/{body['ifname']}".encode()).hexdigest()
        mtu = body.get("mtu", 1500)
        return {
            "container_id": body["container_id"],
            "ifname": body["ifname"],
            "netns": body["netns"],
            "network": body["network"],
            "tenant": body["tenant"],
            "segment": body["segment"],
            "addresses": [{"address": record.address, "gateway": gateway}],
            "interface": {
                "name": body["ifname"],
                "mac": _mac("02", digest),
                "mtu": mtu,
                "sandbox": body["netns"],
            },
            "host_interface": {"name": f"romana{digest[:8]}", "mac": _mac("06", digest)},
            "routes": [{"dst": "0.0.0.0/0", "gw": gateway}],
            "mtu": mtu,
        }

    def _get(self, key: tuple[str, str]) -> tuple[int, Any]:
        record = self.endpoints.get(key)
        if record is None or not record.wired:
            raise errors.NotFound(f"no endpoint {key[0]}/{key[1]}")
        return 200, {**self._endpoint(record), "problems": self.problems.get(key, [])}

    def _release(self, key: tuple[str, str]) -> bool:
        return self.endpoints.pop(key, None) is not None

    def _status(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        if self.ready_problem is not None:
            slug, detail = self.ready_problem
            return 503, agentapi.problem(503, slug, "Not ready", detail)
        tenant = query.get("tenant", [""])[0]
        segment = query.get("segment", ["default"])[0]
        if tenant and self._allocate({"tenant": tenant, "segment": segment}) is None:
            detail = f"no address left for tenant {tenant} segment {segment}"
            return 503, agentapi.problem(503, "exhausted", "Exhausted", detail)
        return 200, {"ready": True}

    def _gc(self, body: Any) -> tuple[int, Any]:
        valid = {(v["container_id"], v["ifname"]) for v in body["valid"]}
        released = []
        for key, record in list(self.endpoints.items()):
            if record.body.get("network") == body["network"] and key not in valid:
                del self.endpoints[key]
                released.append({"container_id": key[0], "ifname": key[1]})
        answer: dict[str, Any] = {"released": released}
        if self.gc_errors:
            answer["errors"] = list(self.gc_errors)
        return 200, answer


def _invalid_add(body: Any) -> tuple[str, str] | None:
    """(detail, field) of the first problem of an ADD body, as a real agent would report it."""
    if not isinstance(body, dict):
        return "the body must be a JSON object", ""
    for key in ("container_id", "ifname", "netns", "network", "tenant", "segment"):
        if not isinstance(body.get(key), str) or not body[key]:
            return "required, a non-empty string", key
    if not _DNS_LABEL.fullmatch(body["tenant"]):
        return f"{body['tenant']!r} is not a lower-case DNS label", "tenant"
    if not _DNS_LABEL.fullmatch(body["segment"]):
        return f"{body['segment']!r} is not a lower-case DNS label", "segment"
    if not isinstance(body.get("labels"), dict):
        return "required, an object", "labels"
    return None


def _mac(first: str, digest: str) -> str:
    return ":".join([first, *(digest[i : i + 2] for i in range(0, 10, 2))])


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: FakeAgent
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        if self.fake.scripted is not None:
            status, data, *extra = self.fake.scripted
            headers = extra[0] if extra else {}
        else:
            try:
                status, answer = self.fake.handle(
                    method, self.path, json.loads(raw) if raw else None
                )
            except errors.RomanaError as exc:
                status, answer, headers = problems.render(exc)
            data = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        kind = "application/json" if status == 200 else "application/problem+json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass
