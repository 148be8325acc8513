"""A small Kubernetes API server for listener tests: list and watch in the wire format.

Serves ``GET <collection>`` (``{"kind": "<Kind>List", "metadata": {"resourceVersion"},
"items"}``) and ``GET <collection>?watch=1&resourceVersion=R`` (chunked, one JSON event per
line) for namespaces, nodes, pods, NetworkPolicies, Services and ClusterNetworkPolicies, on
127.0.0.1 with a random port; a collection named in ``unserved`` answers 404, as one whose
CustomResourceDefinition is not installed, and one named in ``forbidden`` answers 403, as
to a role that may not read it (``refused`` counts those answers). One global resource
version counts every change, as etcd's revision does.
``PATCH /api/v1/namespaces/NS/services/NAME/status`` with a JSON merge patch
(``application/merge-patch+json``) changes a Service's status as the API server does
(watchers get MODIFIED); each such call is recorded in ``patches`` as (namespace, name,
body).

Tests drive it: :meth:`FakeApi.put` / :meth:`FakeApi.delete` change objects (watchers get
ADDED / MODIFIED / DELETED); :meth:`FakeApi.disconnect` cuts every open watch mid-stream
(the connection closes without the final chunk); :meth:`FakeApi.expire` forgets the history,
so every open watch gets an ``ERROR`` event with a 410 ``Status`` and any watch from an older
version is answered the same way. ``lists`` and ``watches`` count requests per collection.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PATHS = {
    "Namespace": "/api/v1/namespaces",
    "Node": "/api/v1/nodes",
    "Pod": "/api/v1/pods",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/networkpolicies",
    "Service": "/api/v1/services",
    "ClusterNetworkPolicy": "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies",
}
STATUS = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)/status$")


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386: ``patch`` merged into ``target``."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


KINDS = {path: kind for kind, path in PATHS.items()}


class FakeApi:
    def __init__(self) -> None:
        self.version = 1
        self.oldest = 1
        self.objects: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in KINDS}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []
        self.cond = threading.Condition()
        self.generation = 0  # bumps on disconnect / expire
        self.expired_generations: set[int] = set()
        self.lists: Counter[str] = Counter()
        self.watches: Counter[str] = Counter()
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.unserved: set[str] = set()
        self.forbidden: set[str] = set()
        self.refused: Counter[str] = Counter()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path not in KINDS or url.path in api.unserved:
                    self.send_error(404)
                    return
                if url.path in api.forbidden:
                    api.refused[url.path] += 1
                    self.send_error(403)
                    return
                if query.get("watch") == ["1"]:
                    api._watch(self, url.path, int(query.get("resourceVersion", ["0"])[0] or 0))
                else:
                    api._list(self, url.path)

            def do_PATCH(self) -> None:
                found = STATUS.match(urlparse(self.path).path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if found is None:
                    self.send_error(404)
                    return
                if self.headers.get("Content-Type") != "application/merge-patch+json":
                    self.send_error(415)
                    return
                answer = api._patch_status(found[1], found[2], json.loads(body))
                if answer is None:
                    self.send_error(404)
                    return
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        with self.cond:
            self.generation += 1
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # --- changing the cluster -------------------------------------------------------------

    def put(self, obj: dict[str, Any], *, unseen: bool = False) -> None:
        """Add or change ``obj``; ``unseen``: as if it happened while no watch was open."""
        path = PATHS[obj["kind"]]
        meta = obj["metadata"]
        key = f"{meta.get('namespace', '')}/{meta['name']}"
        with self.cond:
            self.version += 1
            stored = {**obj, "metadata": {**meta, "resourceVersion": str(self.version)}}
            kind = "MODIFIED" if key in self.objects[path] else "ADDED"
            self.objects[path][key] = stored
            if not unseen:
                self.history.append((self.version, path, kind, stored))
            self.cond.notify_all()

    def delete(self, kind: str, name: str, namespace: str = "") -> None:
        path = PATHS[kind]
        with self.cond:
            gone = self.objects[path].pop(f"{namespace}/{name}")
            self.version += 1
            stored = {
                **gone,
                "metadata": {**gone["metadata"], "resourceVersion": str(self.version)},
            }
            self.history.append((self.version, path, "DELETED", stored))
            self.cond.notify_all()

    def _patch_status(self, namespace: str, name: str, patch: Any) -> dict[str, Any] | None:
        """The Service with ``patch``'s ``status`` merged into its own (nothing else of a
        status patch applies); None when there is no such Service."""
        path = PATHS["Service"]
        key = f"{namespace}/{name}"
        with self.cond:
            self.patches.append((namespace, name, patch))
            current = self.objects[path].get(key)
            if current is None:
                return None
            status = merge(current.get("status") or {}, (patch or {}).get("status") or {})
            self.version += 1
            meta = {**current["metadata"], "resourceVersion": str(self.version)}
            stored = {**current, "metadata": meta, "status": status}
            self.objects[path][key] = stored
            self.history.append((self.version, path, "MODIFIED", stored))
            self.cond.notify_all()
            return {k: v for k, v in stored.items() if k != "kind"}

    def disconnect(self) -> None:
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def expire(self) -> None:
        with self.cond:
            self.oldest = self.version + 1
            self.history.clear()
            self.generation += 1
            self.expired_generations.add(self.generation)
            self.cond.notify_all()

    # --- serving --------------------------------------------------------------------------

    def _list(self, h: BaseHTTPRequestHandler, path: str) -> None:
        with self.cond:
            self.lists[path] += 1
            body = {
                "kind": KINDS[path] + "List",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self.version)},
                "items": [
                    {k: v for k, v in o.items() if k != "kind"} for o in self.objects[path].values()
                ],
            }
        data = json.dumps(body).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _watch(self, h: BaseHTTPRequestHandler, path: str, since: int) -> None:
        with self.cond:
            self.watches[path] += 1
            generation = self.generation
            expired = since < self.oldest - 1
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def chunk(event: dict[str, Any]) -> None:
            line = json.dumps(event).encode() + b"\n"
            h.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            h.wfile.flush()

        gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
        try:
            if expired:
                chunk(gone)
                h.wfile.write(b"0\r\n\r\n")
                return
            while True:
                with self.cond:
                    pending = [e for e in self.history if e[0] > since and e[1] == path]
                    if not pending and self.generation == generation:
                        self.cond.wait(timeout=0.5)
                        continue
                    changed = self.generation != generation
                    expired = self.generation in self.expired_generations
                for version, _, kind, obj in pending:
                    chunk({"type": kind, "object": {k: v for k, v in obj.items() if k != "kind"}})
                    since = version
                if changed:
                    if expired:
                        chunk(gone)
                        h.wfile.write(b"0\r\n\r\n")
                    h.close_connection = True
                    # A cut connection: no terminating chunk, as when a proxy drops it.
                    return
        except OSError:
            return
