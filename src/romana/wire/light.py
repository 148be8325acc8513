"""The answers the quickest CLI commands read, checked with the standard library alone.

``romana decode`` and ``romana tenant list`` start a new process each time, and importing
pydantic with the models of :mod:`romana.wire.rest` cost them more than everything else they
do (issue 19: 150 ms for a command). The answers they read, a :data:`DECODED` address (with its
:data:`ALLOCATION`) and a :data:`TENANT` (with its :data:`ISOLATION`), are checked here instead,
the way :func:`romana.wire.validate.check` checks them against the models of the same name:
strictly (JSON types as decoded, a boolean is no integer), every field at fault named in the
project's notation (``allocation.addresses[0]``) with pydantic's own words, unknown fields
ignored, the answer returned unchanged once it passed.

This module also holds what a client needs of the API without its models: :data:`VERSION`,
:data:`PREFIX`, :data:`JSON` and :func:`field_path` (re-exported by the modules that use them).

Invariants:

* Only the standard library and the error tree are imported here: the point is not to load
  pydantic.
* A shape accepts and refuses exactly what the model of its name does, with the same issues,
  and declares its fields in the model's order with the same required ones
  (``tests/contract/test_wire_light.py`` holds each shape against its model).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from romana.core.errors import InvalidInput, Issue

VERSION = "v1"
"""The version of the API these shapes describe."""
PREFIX = f"/{VERSION}"
"""The path every endpoint of this version starts with (``/healthz`` and ``/readyz`` are
outside any version)."""

JSON = dict[str, Any]
"""An answer as decoded, once it was found of its shape."""

Loc = tuple[int | str, ...]
Found = list[tuple[Loc, str]]
Check = Callable[[object, Loc, Found], None]
"""Appends to ``found`` a (location, rule) for each way ``value`` at ``loc`` breaks the shape."""


def field_path(loc: Loc) -> str:
    """A location as the project names fields: ``networks[0].cidr``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _scalar(accepts: Callable[[object], bool], rule: str) -> Check:
    def check(value: object, loc: Loc, found: Found) -> None:
        if not accepts(value):
            found.append((loc, rule))

    return check


STR = _scalar(lambda v: isinstance(v, str), "Input should be a valid string")
INT = _scalar(
    lambda v: isinstance(v, int) and not isinstance(v, bool), "Input should be a valid integer"
)
BOOL = _scalar(lambda v: isinstance(v, bool), "Input should be a valid boolean")


def _address(value: object, loc: Loc, found: Found) -> None:
    if not isinstance(value, str):
        found.append((loc, "Input should be a valid string"))
        return
    try:
        ipaddress.ip_address(value)
    except ValueError:
        found.append((loc, f"{value!r} is not an IP address"))


ADDRESS: Check = _address
"""A string that parses as an IP address (``romana.wire.validate.Address``)."""


def optional(check: Check) -> Check:
    """``X | None``."""

    def nullable(value: object, loc: Loc, found: Found) -> None:
        if value is not None:
            check(value, loc, found)

    return nullable


def list_of(check: Check) -> Check:
    """``list[X]``."""

    def items(value: object, loc: Loc, found: Found) -> None:
        if not isinstance(value, list):
            found.append((loc, "Input should be a valid list"))
            return
        for i, item in enumerate(value):
            check(item, (*loc, i), found)

    return items


def dict_of(check: Check) -> Check:
    """``dict[str, X]``."""

    def members(value: object, loc: Loc, found: Found) -> None:
        if not isinstance(value, dict):
            found.append((loc, "Input should be a valid dictionary"))
            return
        for key, item in value.items():
            if not isinstance(key, str):
                found.append(((*loc, key, "[key]"), "Input should be a valid string"))
            check(item, (*loc, key), found)

    return members


class Shape:
    """An answer model: its ``name`` and its ``fields`` in order, each (name, check,
    required). Calling it checks a value, like :data:`Check`."""

    __slots__ = ("fields", "name")

    def __init__(self, name: str, *fields: tuple[str, Check, bool]) -> None:
        self.name = name
        self.fields = fields

    def __call__(self, value: object, loc: Loc, found: Found) -> None:
        if not isinstance(value, dict):
            found.append((loc, f"Input should be a valid dictionary or instance of {self.name}"))
            return
        for name, check, required in self.fields:
            if name in value:
                check(value[name], (*loc, name), found)
            elif required:
                found.append(((*loc, name), "Field required"))


ALLOCATION = Shape(
    "Allocation",
    ("key", STR, True),
    ("host", STR, True),
    ("tenant", STR, True),
    ("segment", STR, True),
    ("addresses", list_of(ADDRESS), True),
    ("origin", optional(STR), False),
    ("workload", optional(STR), False),
)
DECODED = Shape(
    "Decoded",
    ("address", STR, True),
    ("network", STR, True),
    ("host_index", INT, True),
    ("host", optional(STR), True),
    ("tenant_id", INT, True),
    ("tenant", optional(STR), True),
    ("segment_id", INT, True),
    ("segment", optional(STR), True),
    ("ordinal", INT, True),
    ("host_prefix", STR, True),
    ("is_gateway", BOOL, True),
    ("allocation", optional(ALLOCATION), False),
    ("lives_on", optional(STR), False),
)
ISOLATION = Shape("Isolation", ("mode", STR, True), ("segments", STR, True))
TENANT = Shape(
    "Tenant",
    ("name", STR, True),
    ("external_id", STR, True),
    ("ids", dict_of(INT), True),
    ("segments", dict_of(INT), True),
    ("requested_networks", list_of(STR), True),
    ("isolation", ISOLATION, True),
    ("owner", optional(STR), False),
)
SHAPES = (ALLOCATION, DECODED, ISOLATION, TENANT)
"""Every shape here, each named as the model it stands for (:mod:`romana.wire.rest` holds the
tenant's, :mod:`romana.wire.rest_addresses` the allocation's and the decoded address's)."""


def _checked(check: Check, raw: Any, name: str) -> Any:
    found: Found = []
    check(raw, (), found)
    if found:
        issues = [Issue(field_path(loc), rule) for loc, rule in found]
        raise InvalidInput(
            issues, context=f"romanad's answer does not match API {VERSION}'s {name}"
        )
    return raw


def answer(shape: Shape, raw: Any) -> JSON:
    """``raw`` as decoded, once it is a ``shape``; InvalidInput naming every field that is not,
    which says romanad and its reader disagree on the API (as ``romana.wire.rest.answer``)."""
    checked: JSON = _checked(shape, raw, shape.name)
    return checked


def answers(shape: Shape, raw: Any) -> list[JSON]:
    """A list answer, each item a ``shape``; see :func:`answer`."""
    checked: list[JSON] = _checked(list_of(shape), raw, shape.name)
    return checked
