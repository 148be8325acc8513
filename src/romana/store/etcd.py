"""etcd store: :class:`romana.core.store.Store` over etcd v3's JSON gateway (``/v3/``), for HA.

Speaks HTTP/JSON with httpx (no gRPC stack): keys and values travel base64-encoded, 64-bit
numbers come back as strings, and fields equal to their zero value are omitted (a failed
txn has no ``succeeded``, an empty value no ``value``).

Invariants:

* ``prefix`` namespaces every key: it is prepended on the way in and stripped on the way
  out, so stores with prefixes that are not prefixes of each other (end them with ``/``)
  never see each other's keys. Revisions are the cluster's, shared by all namespaces.
* ``Compare(key, 0)`` is sent as ``MOD == 0``: etcd compares a missing key as a zero
  KeyValue, whose mod revision is 0, while every existing key has mod revision >= 1.
* ``Unchanged(prefix, r)`` is sent as ``MOD < r + 1`` over the prefix's range: etcd requires
  it of every key in the range, and compares an empty range as one zero KeyValue (holds).
* Fail-over: requests go to the endpoint that answered last. A request that could not be
  delivered (connection refused, connect timeout) moves on to the next endpoint; when every
  endpoint fails, :class:`~romana.core.errors.Unavailable` names all of them.
* A transaction etcd refuses as too large (more compares or operations than the cluster's
  ``--max-txn-ops``, 128 by default, or a request above ``--max-request-bytes``) raises
  :class:`~romana.core.errors.InvalidInput` naming its size and the setting; nothing was
  applied, and the same transaction would be refused again.
* No write is ever applied twice by this adapter. Reads and watches are retried on the next
  endpoint after any failure. A txn is retried only when it provably never reached a server;
  when its outcome is unknown (the connection dropped or timed out after sending, or the
  server answered with an error) it raises Unavailable and the next call starts at the next
  endpoint. Callers recover as from any lost CAS race: re-read, then decide again.
* With a ``user`` (etcd auth enabled), every request carries a token from
  ``/v3/auth/authenticate``. A request refused for an expired or unknown token was not
  applied, so it is sent once more with a fresh token. The store must have a ``prefix``: the
  user is granted that prefix only, and :meth:`EtcdStore.revision` reads inside it. A refusal
  of the user or of its permissions raises :class:`~romana.core.errors.Unavailable` saying so,
  never InvalidInput (the caller's request was fine).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from romana.core import errors, store

_HEADERS = {"Content-Type": "application/json"}

# gRPC status codes the gateway reports in ``code``.
_INVALID_ARGUMENT = 3
_PERMISSION_DENIED = 7
_OUT_OF_RANGE = 11
_UNAUTHENTICATED = 16

# What etcd says (with code 3) to a request without a token when auth is enabled.
_NO_USER = "user name is empty"

# What etcd says (with code 3) when a transaction is over one of its size limits.
_TOO_MANY_OPS = "too many operations in txn request"
_TOO_LARGE = "request is too large"


def prefix_end(prefix: bytes) -> bytes:
    """etcd's ``range_end`` for every key starting with ``prefix``; ``b"\\0"`` means no bound."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _refused(exc: errors.InvalidInput, compares: int, ops: int) -> errors.InvalidInput:
    """``exc`` (etcd refused a txn), saying how to get a transaction that size through."""
    if _TOO_MANY_OPS in exc.message:
        rule = (
            f"etcd refused a transaction of {ops} operations and {compares} compares: etcd "
            "takes at most --max-txn-ops of each (128 unless the cluster sets it); raise "
            f"--max-txn-ops to at least {max(ops, compares)} on every etcd member"
        )
    elif _TOO_LARGE in exc.message:
        rule = (
            f"etcd refused a transaction of {ops} operations as too large: etcd takes requests "
            "of at most --max-request-bytes (1.5 MiB unless the cluster sets it); raise "
            "--max-request-bytes on every etcd member"
        )
    else:
        return exc
    return errors.InvalidInput([errors.Issue("txn", rule)], context="etcd")


def normalise_endpoint(endpoint: str) -> str:
    """``host:port`` or ``http(s)://host:port`` → the base URL the gateway is under."""
    endpoint = endpoint.strip().rstrip("/")
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    return endpoint


class _Undelivered(Exception):
    """The request never reached the server; trying another endpoint is always safe."""


class _Failed(Exception):
    """The request reached the server, or may have; whether it took effect is unknown."""


class EtcdStore:
    """A :class:`~romana.core.store.Store` on an etcd v3 cluster (see module docstring).

    ``timeout`` bounds each request to one endpoint (a watch waits its own ``timeout`` on
    top). ``transport`` replaces httpx's network transport, for tests.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        prefix: str = "",
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        user: str = "",
        password: str = "",
    ) -> None:
        issues = errors.Issues("etcd store")
        if isinstance(endpoints, str) or not endpoints:
            issues.add("endpoints", "must be a non-empty list of host:port or http URLs")
        if timeout <= 0:
            issues.add("timeout", "must be > 0")
        if bool(user) != bool(password):
            issues.add("user", "a user needs its password, and a password its user")
        if user and not prefix.strip("/"):
            issues.add(
                "prefix",
                "an etcd user needs a key prefix (etcd://HOST:PORT/PREFIX), the part of etcd "
                "it is granted",
            )
        issues.raise_if_any()
        self._user = user
        self._password = password
        self._token = ""
        self._endpoints = [normalise_endpoint(e) for e in endpoints]
        self._prefix = prefix.encode()
        self._timeout = timeout
        self._current = 0
        self._timeouts = {"connect": min(timeout, 1.0), "read": timeout, "write": timeout}
        self._timeouts["pool"] = timeout
        # Unary requests go straight to the transport: httpx.Client's per-request work
        # (URL merging, cookies, auth, hooks) costs about 0.3 ms, a third of a round trip.
        self._transport = transport or httpx.HTTPTransport()
        self._client = httpx.Client(transport=self._transport, trust_env=False)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    @property
    def prefix(self) -> str:
        return self._prefix.decode()

    # -- requests and fail-over ------------------------------------------------------------

    def _order(self) -> list[int]:
        start = self._current
        n = len(self._endpoints)
        return [(start + i) % n for i in range(n)]

    def _request(self, path: str, body: dict[str, Any], *, write: bool) -> dict[str, Any]:
        """POST ``body`` to ``/v3/<path>``, failing over as the module docstring says."""
        problems: list[str] = []
        for index in self._order():
            endpoint = self._endpoints[index]
            try:
                result = self._post(endpoint, path, body)
            except _Undelivered as exc:
                problems.append(f"{endpoint}: {exc}")
                continue
            except _Failed as exc:
                if not write:
                    problems.append(f"{endpoint}: {exc}")
                    continue
                self._current = (index + 1) % len(self._endpoints)
                raise errors.Unavailable(
                    f"etcd {endpoint}: {exc}; the write may or may not have been applied"
                ) from exc
            self._current = index
            return result
        raise errors.Unavailable("no etcd endpoint answered: " + "; ".join(problems))

    def _post(self, endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, data = self._exchange(endpoint, path, body, self._headers(endpoint))
        if self._user and data.get("code") == _UNAUTHENTICATED:
            # Tokens expire (etcd's --auth-token-ttl); a refused request was not applied, so
            # sending it again with a fresh token is safe, even for a txn.
            self._token = ""
            status, data = self._exchange(endpoint, path, body, self._headers(endpoint))
        if status != 200 or "error" in data:
            self._raise_server_error(data, status)
        return data

    def _headers(self, endpoint: str) -> dict[str, str]:
        if not self._user:
            return _HEADERS
        if not self._token:
            self._token = self._authenticate(endpoint)
        return {**_HEADERS, "Authorization": self._token}

    def _authenticate(self, endpoint: str) -> str:
        """A token for ``user`` from ``endpoint``; Unavailable naming the user when refused."""
        body = {"name": self._user, "password": self._password}
        status, data = self._exchange(endpoint, "auth/authenticate", body, _HEADERS)
        if status == 200 and data.get("token"):
            return str(data["token"])
        message = str(data.get("message") or data.get("error") or f"HTTP {status}")
        raise errors.Unavailable(
            f"etcd {endpoint} refused to authenticate user {self._user!r}: {message} (a "
            "cluster without auth enabled refuses too: see docs/security.md)"
        )

    def _exchange(
        self, endpoint: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """POST ``body``; the HTTP status and the JSON answer, whatever they say."""
        request = httpx.Request(
            "POST",
            f"{endpoint}/v3/{path}",
            content=json.dumps(body).encode(),
            headers=headers,
            extensions={"timeout": self._timeouts},
        )
        try:
            response = self._transport.handle_request(request)
            try:
                raw = response.read()
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _Undelivered(str(exc) or type(exc).__name__) from exc
        except httpx.TransportError as exc:
            raise _Failed(str(exc) or type(exc).__name__) from exc
        try:
            data: dict[str, Any] = json.loads(raw)
        except ValueError as exc:
            raise _Failed(f"HTTP {response.status_code}, not a JSON answer") from exc
        return response.status_code, data

    def _raise_server_error(self, data: dict[str, Any], status: int) -> None:
        message = str(data.get("message") or data.get("error") or f"HTTP {status}")
        # Unary answers carry ``code``; errors inside a watch stream carry ``grpc_code``.
        code = data.get("code", data.get("grpc_code"))
        if code in (_PERMISSION_DENIED, _UNAUTHENTICATED) or _NO_USER in message:
            if self._user:
                hint = f"etcd refused user {self._user!r} the store's keys: {message}; grant "
                hint += "it readwrite on the store's prefix"
            else:
                hint = f"etcd has auth enabled and this store has no etcd user: {message}; "
                hint += "give it one (etcd_user and etcd_password)"
            raise errors.Unavailable(f"{hint} (docs/security.md)")
        if code == _INVALID_ARGUMENT:
            # Rejected before anything was applied: a request no endpoint would accept.
            raise errors.InvalidInput([errors.Issue("ops", message)], context="etcd")
        if code == _OUT_OF_RANGE:
            raise errors.Compacted(message)
        raise _Failed(message)

    # -- key encoding ----------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return _b64(self._prefix + key.encode())

    def _range_body(self, prefix: str) -> dict[str, Any]:
        raw = self._prefix + prefix.encode()
        return {"key": _b64(raw or b"\0"), "range_end": _b64(prefix_end(raw))}

    def _strip(self, raw_key: str) -> str:
        return _unb64(raw_key)[len(self._prefix) :].decode()

    def _kv(self, item: dict[str, Any]) -> store.KeyValue:
        return store.KeyValue(
            self._strip(item["key"]),
            _unb64(item.get("value", "")),
            int(item.get("create_revision", 0)),
            int(item.get("mod_revision", 0)),
            int(item.get("version", 0)),
        )

    def _compare(self, c: store.Condition) -> dict[str, Any]:
        if isinstance(c, store.Compare):
            key = {"key": self._key(c.key)}
            return {"target": "MOD", "result": "EQUAL", **key, "mod_revision": str(c.mod_revision)}
        span = self._range_body(c.prefix)
        return {"target": "MOD", "result": "LESS", **span, "mod_revision": str(c.revision + 1)}

    def _op(self, op: store.Op) -> dict[str, Any]:
        if isinstance(op, store.Put):
            return {"request_put": {"key": self._key(op.key), "value": _b64(op.value)}}
        return {"request_delete_range": {"key": self._key(op.key)}}

    # -- the Store port --------------------------------------------------------------------

    def get(self, key: str) -> store.KeyValue | None:
        data = self._request("kv/range", {"key": self._key(key)}, write=False)
        kvs = data.get("kvs")
        return self._kv(kvs[0]) if kvs else None

    def range(self, prefix: str) -> store.Range:
        data = self._request("kv/range", self._range_body(prefix), write=False)
        items = tuple(self._kv(item) for item in data.get("kvs", ()))
        return store.Range(items, int(data["header"]["revision"]))

    def txn(
        self, compares: store.Conditions, on_success: store.Ops, on_failure: store.Ops = ()
    ) -> store.TxnResult:
        body = {
            "compare": [self._compare(c) for c in compares],
            "success": [self._op(op) for op in on_success],
            "failure": [self._op(op) for op in on_failure],
        }
        try:
            data = self._request("kv/txn", body, write=True)
        except errors.InvalidInput as exc:
            raise _refused(exc, len(compares), max(len(on_success), len(on_failure))) from exc
        return store.TxnResult(bool(data.get("succeeded", False)), int(data["header"]["revision"]))

    def revision(self) -> int:
        body = {"key": _b64(self._prefix or b"\0"), "count_only": True}
        data = self._request("kv/range", body, write=False)
        return int(data["header"]["revision"])

    def watch(self, prefix: str, start_revision: int, timeout: float) -> list[store.Event]:
        request = self._range_body(prefix)
        # etcd reads start_revision 0 as "from now"; the port means "from the beginning".
        request["start_revision"] = str(max(start_revision, 1))
        body = {"create_request": request}
        problems: list[str] = []
        for index in self._order():
            endpoint = self._endpoints[index]
            try:
                events = self._watch_once(endpoint, body, timeout)
            except (_Undelivered, _Failed) as exc:
                problems.append(f"{endpoint}: {exc}")
                continue
            self._current = index
            return events
        raise errors.Unavailable("no etcd endpoint answered the watch: " + "; ".join(problems))

    def _watch_once(self, endpoint: str, body: dict[str, Any], timeout: float) -> list[store.Event]:
        """One watch stream: the first batch of events, or [] when ``timeout`` passes.

        Every read waits up to ``timeout`` (at least 50 ms, so the stream can be set up even
        for a zero timeout); the wait starts once etcd has confirmed the watch.
        """
        wait = httpx.Timeout(
            self._timeout, connect=min(self._timeout, 1.0), read=max(timeout, 0.05)
        )
        created = False
        deadline = time.monotonic() + timeout
        try:
            headers = self._headers(endpoint)
            with self._client.stream(
                "POST", f"{endpoint}/v3/watch", json=body, timeout=wait, headers=headers
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise _Failed(f"HTTP {response.status_code}: {response.text[:200]}")
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    if "error" in message:
                        error = message["error"]
                        self._raise_server_error(error, int(error.get("http_code", 500)))
                    result = message.get("result", {})
                    if "compact_revision" in result:
                        raise errors.Compacted(
                            f"revision {body['create_request']['start_revision']} has been"
                            f" compacted; the oldest kept is {result['compact_revision']}"
                        )
                    if result.get("canceled"):
                        # An expired token cancels the watch: the next attempt takes a new one.
                        self._token = ""
                        raise _Failed(result.get("cancel_reason") or "watch canceled by etcd")
                    created = created or bool(result.get("created"))
                    if result.get("events"):
                        return [self._event(e) for e in result["events"]]
                    if created and time.monotonic() >= deadline:
                        return []
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _Undelivered(str(exc) or type(exc).__name__) from exc
        except httpx.ReadTimeout as exc:
            if created:
                return []
            raise _Failed("the watch was not confirmed in time") from exc
        except (httpx.TransportError, ValueError) as exc:
            raise _Failed(str(exc) or type(exc).__name__) from exc
        raise _Failed("the watch stream ended")

    def _event(self, item: dict[str, Any]) -> store.Event:
        kv = item["kv"]
        if item.get("type") == "DELETE":
            return store.Event(
                store.EventType.DELETE, self._strip(kv["key"]), b"", int(kv["mod_revision"])
            )
        return store.Event(
            store.EventType.PUT,
            self._strip(kv["key"]),
            _unb64(kv.get("value", "")),
            int(kv["mod_revision"]),
        )

    def compact(self, revision: int) -> None:
        """Drop the cluster's history before ``revision`` (for every namespace)."""
        # Compacted means an earlier compaction already reached ``revision``.
        with contextlib.suppress(errors.Compacted):
            self._request("kv/compaction", {"revision": str(revision)}, write=False)

    def close(self) -> None:
        self._client.close()
