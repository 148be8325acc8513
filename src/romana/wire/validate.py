"""Reading an answer of a romana protocol: strict validation against its wire model.

Readers validate what they decoded from JSON strictly (no coercion of one JSON type into
another) and refuse a malformed answer whole, with InvalidInput naming every field in the
project's notation (``networks[0].cidr``, ``address_sets.kube.a[1]``): a reader never works
from half an answer. Unknown fields are the models' business (answer models ignore them).

The annotated types here add checks a reader relies on beyond the JSON types, as validators
that leave the JSON Schema (and so the OpenAPI document) as it is.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, TypeAdapter, ValidationError

from romana.core import names
from romana.core.errors import InvalidInput, Issue

# Defined in light, which the CLI's quick commands read without pydantic; exported here too.
from romana.wire.light import JSON as JSON
from romana.wire.light import field_path as field_path

M = TypeVar("M", bound=BaseModel)
AnyAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AnyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=1 << 16)
def ip_address(value: str) -> AnyAddress:
    """``ipaddress.ip_address``, remembered: a reader validates an address and then makes
    it a value, and reads the same addresses in every view."""
    return ipaddress.ip_address(value)


@functools.lru_cache(maxsize=1 << 16)
def ip_network(value: str) -> AnyNetwork:
    """``ipaddress.ip_network`` (strict), remembered like :func:`ip_address`."""
    return ipaddress.ip_network(value)


def _parses(parse: Callable[[str], object], what: str) -> Callable[[str], str]:
    """A validator keeping a string that ``parse`` takes, refusing others as not ``what``."""

    def validator(value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not {what}") from None
        return value

    return validator


Address = Annotated[str, AfterValidator(_parses(ip_address, "an IP address"))]
"""An IP address in an answer (its schema stays a plain string)."""
CIDR = Annotated[str, AfterValidator(_parses(ip_network, "a CIDR"))]
"""A network prefix in an answer (its schema stays a plain string)."""


def text(limit: int) -> Any:
    """A free-text field an agent reports, of at most ``limit`` printable ASCII characters
    (:data:`romana.core.names.TEXT_RULE`; may be empty): readers print it to terminals."""
    return Field(max_length=limit, pattern=names.TEXT_PATTERN)


Text = Annotated[str, text(256)]
"""Free text of at most 256 printable ASCII characters (:func:`text`)."""
Finite = Annotated[float, Field(allow_inf_nan=False)]
"""A time in a report: a finite number. Python's JSON reads ``NaN``, ``Infinity`` and
``1e999``; stored, they would be answered as null and every reader of the report refuse it."""


# -- validating answers ------------------------------------------------------------------


def invalid(exc: ValidationError, context: str) -> InvalidInput:
    """The InvalidInput naming every field ``exc`` refused."""
    found = [
        Issue(field_path(tuple(err["loc"])), str(err["msg"]).removeprefix("Value error, "))
        for err in exc.errors(include_url=False)
    ]
    return InvalidInput(found or str(exc), context=context)


def parse(shape: type[M], raw: object, context: str) -> M:
    """``raw`` (decoded JSON) as a ``shape``; InvalidInput naming every field that is not."""
    try:
        return shape.model_validate(raw, strict=True)
    except ValidationError as exc:
        raise invalid(exc, context) from None


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def check(shape: Any, raw: Any, context: str) -> Any:
    """``raw`` itself once it is a ``shape`` (a model, or ``list[model]``); InvalidInput
    naming every field that is not. The value is returned as decoded, unknown fields kept,
    so a caller prints or forwards exactly what the server sent."""
    try:
        _adapter(shape).validate_python(raw, strict=True)
    except ValidationError as exc:
        raise invalid(exc, context) from None
    return raw
