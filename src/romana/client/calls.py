"""The plumbing of romanad's typed client: its session, the checks of answers, the request
bodies.

:class:`Calls` holds the session (:mod:`romana.client.session`) and the four verbs; the groups
of endpoint methods (:mod:`romana.client.ipamcalls`, :mod:`romana.client.policycalls`) and
:class:`romana.client.http.Client`, which joins them, build on it. :func:`answer` checks an
answer against a standard-library shape of :mod:`romana.wire.light` or a model of the
``romana.wire.rest*`` modules.

Invariants:

* The verbs mark GET, PUT and DELETE idempotent (the session may retry them), a POST only
  when its caller says it is safe to repeat; a call that must not be repeated (a password
  change) goes to the session marked so.
* The pydantic models are imported when a method first names one (:func:`lazy`), never at
  import: ``romana decode`` and ``romana tenant list`` read only light shapes and never load
  pydantic.
* An answer is returned unchanged once it is of its shape; otherwise InvalidInput naming each
  field that is not.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, Unpack
from urllib.parse import quote

from romana.client.session import Call, Hooks, Params, Session
from romana.client.settings import ClientSettings
from romana.wire import light
from romana.wire.light import JSON


class _Lazy:
    """A module of the wire models, imported when a method first names one of its models."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self._module), name)


def lazy(module: str) -> Any:
    """``module``, to be imported on the first attribute read (see :class:`_Lazy`)."""
    return _Lazy(module)


if TYPE_CHECKING:
    from romana.wire import rest as rest
else:
    rest = lazy("romana.wire.rest")


def seg(value: str) -> str:
    """``value`` as one path segment (every reserved character quoted)."""
    return quote(value, safe="")


def answer(shape: Any, raw: Any) -> JSON:
    """``raw`` once it is a ``shape``: a :class:`romana.wire.light.Shape`, or a model of the
    ``romana.wire.rest*`` modules (or :data:`JSON`) that ``rest.answer`` checks."""
    if isinstance(shape, light.Shape):
        return light.answer(shape, raw)
    return rest.answer(shape, raw)


def answers(shape: Any, raw: Any) -> list[JSON]:
    """A list answer, each item a ``shape``; see :func:`answer`."""
    if isinstance(shape, light.Shape):
        return light.answers(shape, raw)
    return rest.answers(shape, raw)


def body_of(**members: object) -> dict[str, Any]:
    """A request body of the members that are not None (a member left out takes the server's
    default), with mappings and sequences as the dicts and lists JSON has."""
    body: dict[str, Any] = {}
    for key, value in members.items():
        if isinstance(value, Mapping):
            body[key] = dict(value)
        elif isinstance(value, Sequence) and not isinstance(value, str):
            body[key] = list(value)
        elif value is not None:
            body[key] = value
    return body


class Calls:
    """A session to romanad and the four verbs its endpoints use; the base of
    :class:`romana.client.http.Client` and of the groups of its methods. Use as a context
    manager or call close()."""

    def __init__(self, settings: ClientSettings, **hooks: Unpack[Hooks]) -> None:
        self._session = Session(settings, **hooks)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    @property
    def token(self) -> str:
        return self._session.token

    @token.setter
    def token(self, value: str) -> None:
        self._session.token = value

    @property
    def roots(self) -> tuple[str, ...]:
        return self._session.directory.roots

    # -- plumbing ------------------------------------------------------------------------

    def _get(self, service: str, path: str, params: Params | None = None) -> Any:
        return self._session.call(service, Call("GET", path, params=params), idempotent=True)

    def _put(self, service: str, path: str, body: Any) -> Any:
        return self._session.call(service, Call("PUT", path, body), idempotent=True)

    def _delete(self, service: str, path: str) -> Any:
        return self._session.call(service, Call("DELETE", path), idempotent=True)

    def _post(self, service: str, path: str, body: Any, *, idempotent: bool = False) -> Any:
        return self._session.call(service, Call("POST", path, body), idempotent=idempotent)
