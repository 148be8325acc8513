"""``romana vip``: what it prints and what a refusal says.

Runs against a real romanad holding examples/topology/two-racks.json (network ``net``; h1, h2
in rack-a, h3 in rack-b); everything made here is removed again (the romanad is shared).
"""

from __future__ import annotations

import json
from typing import Any

from support.cliresults import ok, refused


def test_a_vip_from_create_to_delete(planned: Any) -> None:
    ok(planned("tenant", "create", "balanced"))
    ok(planned("ipam", "allocate", "--host", "h1", "--tenant", "balanced", "--key", "lb-1"))
    ok(planned("ipam", "allocate", "--host", "h3", "--tenant", "balanced", "--key", "lb-2"))
    ok(planned("external-pool", "create", "cli-vips", "198.51.100.0/29"))
    try:
        created = ok(
            planned("vip", "create", "cli-web", "cli-vips", "lb-1", "lb-2", "--address",
                    "198.51.100.4")
        ).stdout  # fmt: skip
        assert "cli-web" in created and "198.51.100.4" in created and "nobody" in created
        table = ok(planned("vip", "list")).stdout
        lines = table.split("\n")
        assert lines[1].split() == ["NAME", "ADDRESS", "POOL", "ENDPOINTS", "HOLDER"], table
        assert lines[3].split() == ["cli-web", "198.51.100.4", "cli-vips", "2", "-"], table
        shown = json.loads(ok(planned("vip", "show", "cli-web", "-o", "json")).stdout)
        assert shown == {"name": "cli-web", "address": "198.51.100.4", "pool": "cli-vips",
                         "endpoints": ["lb-1", "lb-2"], "holder": None}  # fmt: skip
        # Its address is listed with the external IPs, as the VIP's.
        ips = ok(planned("external-ip", "list", "--pool", "cli-vips")).stdout
        assert ips.split("\n")[3].split() == ["198.51.100.4", "cli-vips", "vip:cli-web", "-"], ips
        busy = refused(planned("external-ip", "assign", "cli-vips", "lb-1", "--address",
                               "198.51.100.4"))  # fmt: skip
        assert "198.51.100.4 is assigned already, to VIP 'cli-web'" in busy

        changed = json.loads(
            ok(planned("vip", "set-endpoints", "cli-web", "lb-2", "-o", "json")).stdout
        )
        assert changed["endpoints"] == ["lb-2"]
        done = ok(planned("vip", "delete", "cli-web")).stdout
        assert "deleted VIP cli-web (198.51.100.4)" in done
        assert "VIP 'cli-web' does not exist" in refused(planned("vip", "show", "cli-web"))
    finally:
        planned("vip", "delete", "cli-web")
        ok(planned("external-pool", "delete", "cli-vips"))
        ok(planned("ipam", "release", "lb-1"))
        ok(planned("ipam", "release", "lb-2"))
        ok(planned("tenant", "delete", "balanced"))


def test_refusals_name_the_field_and_change_nothing(planned: Any) -> None:
    ok(planned("tenant", "create", "unbalanced"))
    ok(planned("ipam", "allocate", "--host", "h2", "--tenant", "unbalanced", "--key", "lb-3"))
    ok(planned("external-pool", "create", "cli-vips-bad", "198.51.100.8/29"))
    try:
        before = ok(planned("vip", "list", "-o", "json")).stdout
        missing = refused(planned("vip", "create", "cli-bad", "cli-vips-bad", "no-such-key"))
        assert "endpoints[0]: no allocation 'no-such-key'" in missing
        outside = refused(
            planned("vip", "create", "cli-bad", "cli-vips-bad", "lb-3", "--address", "192.0.2.1")
        )
        assert "address: 192.0.2.1 is in no CIDR of external pool 'cli-vips-bad'" in outside
        assert "name: 'Bad' must be" in refused(
            planned("vip", "create", "Bad", "cli-vips-bad", "lb-3")
        )
        assert ok(planned("vip", "list", "-o", "json")).stdout == before
    finally:
        ok(planned("external-pool", "delete", "cli-vips-bad"))
        ok(planned("ipam", "release", "lb-3"))
        ok(planned("tenant", "delete", "unbalanced"))


def test_every_vip_command_teaches_by_example(planned: Any) -> None:
    for command in ("create", "list", "show", "set-endpoints", "delete"):
        text = ok(planned("vip", command, "--help")).stdout
        assert "Example: romana vip " + command in " ".join(text.split()), text
