"""etcd store: :class:`romana.core.store.Store` over etcd v3's JSON gateway (``/v3/``), for HA.

Speaks HTTP/JSON with httpx (no gRPC stack): keys and values travel base64-encoded, 64-bit
numbers come back as strings, and fields equal to their zero value are omitted (a failed
txn has no ``succeeded``, an empty value no ``value``).
The requests themselves (fail-over, tokens, etcd's errors, the watch stream) are made by
:class:`romana.store.etcdgateway.Gateway`; this module encodes keys, values and transactions.

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
from collections.abc import Sequence
from typing import Any

import httpx

from romana.core import errors, store
from romana.store.etcdgateway import Gateway

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
        self._prefix = prefix.encode()
        self._gateway = Gateway(
            endpoints, timeout=timeout, transport=transport, user=user, password=password
        )

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._gateway.endpoints

    @property
    def prefix(self) -> str:
        return self._prefix.decode()

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
        data = self._gateway.request("kv/range", {"key": self._key(key)}, write=False)
        kvs = data.get("kvs")
        return self._kv(kvs[0]) if kvs else None

    def range(self, prefix: str) -> store.Range:
        data = self._gateway.request("kv/range", self._range_body(prefix), write=False)
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
            data = self._gateway.request("kv/txn", body, write=True)
        except errors.InvalidInput as exc:
            raise _refused(exc, len(compares), max(len(on_success), len(on_failure))) from exc
        return store.TxnResult(bool(data.get("succeeded", False)), int(data["header"]["revision"]))

    def revision(self) -> int:
        body = {"key": _b64(self._prefix or b"\0"), "count_only": True}
        data = self._gateway.request("kv/range", body, write=False)
        return int(data["header"]["revision"])

    def watch(self, prefix: str, start_revision: int, timeout: float) -> list[store.Event]:
        request = self._range_body(prefix)
        # etcd reads start_revision 0 as "from now"; the port means "from the beginning".
        request["start_revision"] = str(max(start_revision, 1))
        return self._gateway.watch({"create_request": request}, timeout, self._event)

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
            self._gateway.request("kv/compaction", {"revision": str(revision)}, write=False)

    def close(self) -> None:
        self._gateway.close()
