"""The wire form of a frozen dataclass, read off its fields.

Many value objects turn into JSON the same way: one key per field, named as the field, in
declaration order, with a few fields passed through a converter (an address through ``str``).
:func:`fields_dict` is that mapping written once.

Invariants: keys keep the declaration order of the fields (JSON shapes and their documented
examples depend on it); a field without a converter goes out as it is; ``only`` picks and
orders a subset for a public form that leaves fields out.

The field names of each class are read once (:func:`names`): listing a dataclass's fields
costs more than copying them, and records are turned into JSON on every request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Converter = Callable[[Any], Any]

_NAMES: dict[type, tuple[str, ...]] = {}
_NO_CONVERSION: Mapping[str, Converter] = {}


def names(cls: type) -> tuple[str, ...]:
    """The field names of dataclass ``cls`` in declaration order (read once per class)."""
    found = _NAMES.get(cls)
    if found is None:
        found = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return found


def fields_dict(
    obj: Any,
    convert: Mapping[str, Converter] | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, Any]:
    """``{field: value}`` for the dataclass instance ``obj``, each value through its converter.

    ``only`` names the fields to keep, in the order to keep them; every field by default.
    """
    keep = names(type(obj)) if only is None else only
    convert = convert or _NO_CONVERSION
    out: dict[str, Any] = {}
    for name in keep:
        value = getattr(obj, name)
        out[name] = convert[name](value) if name in convert else value
    return out


def strings(values: Iterable[object]) -> list[str]:
    """A converter: each item as text (addresses, networks)."""
    return [str(v) for v in values]
