"""The wire form of a dataclass: one key per field, in declaration order, converters applied."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from romana.core import records


@dataclass(frozen=True, slots=True)
class _Lease:
    name: str
    address: ipaddress.IPv4Address
    gateways: tuple[ipaddress.IPv4Address, ...] = ()
    note: str | None = None


LEASE = _Lease(
    "web-1",
    ipaddress.IPv4Address("10.0.0.5"),
    (ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2")),
)


def test_every_field_in_declaration_order_through_its_converter() -> None:
    out = records.fields_dict(LEASE, {"address": str, "gateways": records.strings})
    assert list(out) == ["name", "address", "gateways", "note"]
    assert out == {
        "name": "web-1",
        "address": "10.0.0.5",
        "gateways": ["10.0.0.1", "10.0.0.2"],
        "note": None,
    }


def test_only_keeps_the_named_fields_in_the_order_named() -> None:
    out = records.fields_dict(LEASE, {"address": str}, only=("address", "name"))
    assert list(out.items()) == [("address", "10.0.0.5"), ("name", "web-1")]
