"""``romana ipam allocate --address``: against a real romanad.

The session romanad holds examples/topology/two-racks.json: network ``net`` 10.0.0.0/8, h1 the
first host (10.0.0.0/16), h3 the first of rack-b.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from romana.cli import main
from romana.core import errors


def code_of(kind: type[errors.RomanaError]) -> int:
    return next(code for k, code, _ in main.EXIT_CODES if k is kind)


def allocate(planned: Any, key: str, *more: str) -> Any:
    return planned(
        "ipam", "allocate", "--host", "h1", "--tenant", "pincli", "--key", key, *more, "-o", "json"
    )


def test_allocate_the_address_asked_for_or_say_why_not(planned: Any) -> None:
    assert planned("tenant", "create", "pincli").exit_code == 0
    try:
        first = allocate(planned, "pin-a")
        assert first.exit_code == 0, first.output
        wanted = str(ipaddress.ip_address(json.loads(first.stdout)["addresses"][0]) + 9)
        made = allocate(planned, "pin-b", "--address", wanted)
        assert made.exit_code == 0, made.output
        assert json.loads(made.stdout)["addresses"] == [wanted]
        taken = allocate(planned, "pin-c", "--address", wanted)
        assert taken.exit_code == code_of(errors.AlreadyExists), taken.output
        assert f"address {wanted} is allocated to key 'pin-b'" in taken.stderr
        gateway = allocate(planned, "pin-c", "--address", "10.0.0.1")
        assert gateway.exit_code == code_of(errors.InvalidInput), gateway.output
        assert "address: 10.0.0.1 is the gateway of host 'h1'" in gateway.stderr
        assert planned("ipam", "show", "pin-c").exit_code == code_of(errors.NotFound)
    finally:
        # The session's romanad is shared: what this test holds would be in others' way.
        for key in ("pin-a", "pin-b"):
            planned("ipam", "release", key)
