"""Each shape of :mod:`romana.wire.light` reads answers exactly as the model of its name in
:mod:`romana.wire.rest` or :mod:`romana.wire.rest_addresses` does.

The client checks tenants, allocations and decoded addresses with these standard-library
shapes (so that ``romana decode`` and ``romana tenant list`` never import pydantic), while
romanad renders them from the models. A shape must declare the model's fields, in its order,
with the same required ones; and for a well-formed answer and every variant of it (each field,
at any depth, left out or replaced by a value of every JSON type, an unknown field added) the
shape must accept what the model accepts and refuse what it refuses with the same message,
naming the same fields with the same rules.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from romana.core.errors import InvalidInput
from romana.wire import light, rest, rest_addresses

ALLOCATION: dict[str, Any] = {
    "key": "c1:eth0",
    "host": "h2",
    "tenant": "acme",
    "segment": "default",
    "addresses": ["10.0.16.1", "fd00::1"],
    "origin": "h1",
    "workload": "docker:" + "f" * 64,
}
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "Allocation": [ALLOCATION],
    "Decoded": [
        {
            "address": "10.0.16.1",
            "network": "pods",
            "host_index": 0,
            "host": "h1",
            "tenant_id": 1,
            "tenant": "acme",
            "segment_id": 0,
            "segment": "default",
            "ordinal": 1,
            "host_prefix": "10.0.0.0/16",
            "is_gateway": False,
            "allocation": ALLOCATION,
            "lives_on": "h2",
        },
        {
            "address": "10.0.16.9",
            "network": "pods",
            "host_index": 0,
            "host": None,
            "tenant_id": 1,
            "tenant": None,
            "segment_id": 0,
            "segment": None,
            "ordinal": 9,
            "host_prefix": "10.0.0.0/16",
            "is_gateway": True,
        },
    ],
    "Isolation": [{"mode": "romana", "segments": "isolated"}],
    "Tenant": [
        {
            "name": "acme",
            "external_id": "",
            "ids": {"pods": 1, "vms": 2},
            "segments": {"default": 0, "web": 1},
            "requested_networks": ["pods"],
            "isolation": {"mode": "kubernetes", "segments": "open"},
            "owner": "neutron",
        }
    ],
}
OTHERS: tuple[object, ...] = (
    None,
    True,
    0,
    -1,
    1.5,
    "",
    "x",
    "10.0.0.1",
    [],
    ["x"],
    [1],
    {},
    {"k": 1},
    {"k": "v"},
)
"""What a field is replaced by: a value of each JSON type, valid for some fields."""


def variants(value: Any) -> Iterator[Any]:
    """``value`` with one thing changed, at any depth: each member or item replaced by each of
    :data:`OTHERS`, each member left out, an unknown member added to each object."""
    yield value
    if isinstance(value, dict):
        yield {**value, "unknown": 1}
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
            for other in (*OTHERS, *variants(value[key])):
                yield {**value, key: other}
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for other in (*OTHERS, *variants(item)):
                yield [*value[:i], other, *value[i + 1 :]]


def outcome(read: Callable[[Any, Any], Any], shape: Any, raw: Any) -> tuple[str, Any]:
    """What ``read(shape, raw)`` gives: the answer, or the refusal's message and issues."""
    try:
        return "accepted", read(shape, raw)
    except InvalidInput as exc:
        return str(exc), exc.issues


def model_of(shape: light.Shape) -> Any:
    """The model of the shape's name: a tenant's in :mod:`romana.wire.rest`, an allocation's
    and a decoded address's in :mod:`romana.wire.rest_addresses`."""
    for module in (rest, rest_addresses):
        if hasattr(module, shape.name):
            return getattr(module, shape.name)
    raise AssertionError(f"no model named {shape.name}")


@pytest.mark.parametrize("shape", light.SHAPES, ids=lambda s: s.name)
def test_a_shape_declares_the_fields_of_its_model(shape: light.Shape) -> None:
    model = model_of(shape)
    declared = [(name, required) for name, _, required in shape.fields]
    assert declared == [(name, f.is_required()) for name, f in model.model_fields.items()]


@pytest.mark.parametrize("shape", light.SHAPES, ids=lambda s: s.name)
def test_a_shape_accepts_and_refuses_what_its_model_does(shape: light.Shape) -> None:
    model = model_of(shape)
    tried = 0
    for sample in SAMPLES[shape.name]:
        for raw in (*OTHERS, *variants(sample)):
            kept = copy.deepcopy(raw)
            one = outcome(light.answer, shape, raw)
            assert one == outcome(rest.answer, model, raw), raw
            many = [sample, raw]
            assert outcome(light.answers, shape, many) == outcome(rest.answers, model, many), many
            assert raw == kept, "a check changed the answer"
            tried += 1
    assert tried > len(OTHERS) * len(shape.fields)  # every field was varied


def test_a_refused_answer_names_every_field_at_fault() -> None:
    raw = {**SAMPLES["Decoded"][0], "ordinal": True, "allocation": {**ALLOCATION, "key": None}}
    del raw["host"]
    with pytest.raises(InvalidInput) as info:
        light.answer(light.DECODED, raw)
    assert [(i.field, i.rule) for i in info.value.issues] == [
        ("host", "Field required"),
        ("ordinal", "Input should be a valid integer"),
        ("allocation.key", "Input should be a valid string"),
    ]
    assert str(info.value).startswith("romanad's answer does not match API v1's Decoded: ")
