"""``romana external-pool``, ``romana external-ip`` and ``romana egress-nat``: what they print
and what a refusal says.

Runs against a real romanad holding examples/topology/two-racks.json (network ``net``; h1, h2
in rack-a, h3 in rack-b); everything made here is removed again (the romanad is shared).
"""

from __future__ import annotations

import json
from typing import Any

from support.cliresults import ok, refused


def test_pools_and_external_ips_from_create_to_delete(planned: Any) -> None:
    ok(planned("tenant", "create", "outside"))
    ok(planned("ipam", "allocate", "--host", "h3", "--tenant", "outside", "--key", "out-1"))
    try:
        created = ok(
            planned("external-pool", "create", "cli-pool", "203.0.113.0/29", "--group", "rack-b")
        ).stdout
        assert "cli-pool" in created and "203.0.113.0/29" in created and "rack-b" in created
        table = ok(planned("external-pool", "list")).stdout
        assert table.split("\n")[1].split() == ["NAME", "CIDRS", "GROUP", "NETWORK"], table
        shown = json.loads(ok(planned("external-pool", "show", "cli-pool", "-o", "json")).stdout)
        assert shown == {
            "name": "cli-pool",
            "cidrs": ["203.0.113.0/29"],
            "group": "rack-b",
            "network": None,
        }

        assigned = ok(
            planned("external-ip", "assign", "cli-pool", "out-1", "--address", "203.0.113.3")
        ).stdout
        assert "203.0.113.3" in assigned and "out-1" in assigned
        listed = ok(planned("external-ip", "list", "--pool", "cli-pool")).stdout
        assert listed.split("\n")[1].split() == ["ADDRESS", "POOL", "KEY", "TENANT"], listed
        assert listed.split("\n")[3].split() == ["203.0.113.3", "cli-pool", "out-1", "outside"]
        rows = json.loads(
            ok(planned("external-ip", "list", "--endpoint", "out-1", "-o", "json")).stdout
        )
        assert [r["address"] for r in rows] == ["203.0.113.3"]

        busy = refused(planned("external-pool", "delete", "cli-pool"))
        assert "has 1 assigned address, e.g. 203.0.113.3" in busy
        done = ok(planned("external-ip", "unassign", "203.0.113.3")).stdout
        assert "unassigned 203.0.113.3 from out-1" in done
        gone = ok(planned("external-pool", "delete", "cli-pool")).stdout
        assert "deleted external pool cli-pool" in gone
    finally:
        planned("external-ip", "unassign", "203.0.113.3")
        planned("external-pool", "delete", "cli-pool")
        ok(planned("ipam", "release", "out-1"))
        ok(planned("tenant", "delete", "outside"))


def test_refusals_name_the_field_and_change_nothing(planned: Any) -> None:
    before = ok(planned("external-pool", "list", "-o", "json")).stdout
    overlap = refused(planned("external-pool", "create", "cli-bad", "10.3.0.0/16"))
    assert "cidrs[0]: 10.3.0.0/16 overlaps romana network 'net' (10.0.0.0/8)" in overlap
    host_bits = refused(planned("external-pool", "create", "cli-bad", "203.0.113.1/29"))
    assert "has host bits set (the network is 203.0.113.0/29)" in host_bits
    assert ok(planned("external-pool", "list", "-o", "json")).stdout == before
    missing = refused(planned("external-ip", "assign", "cli-none", "no-such-key"))
    assert "no allocation 'no-such-key'" in missing


def test_egress_nat_show_and_set(planned: Any) -> None:
    ok(planned("tenant", "create", "natted"))
    try:
        table = ok(planned("egress-nat", "show")).stdout
        assert table.split("\n")[1].split() == ["NETWORK", "MODE", "TENANTS", "NO-NAT"], table
        row = next(line.split() for line in table.split("\n") if line.split()[:1] == ["net"])
        assert row == ["net", "on", "-", "-"]
        setting = ok(
            planned(
                "egress-nat", "set", "net", "tenants", "--tenant", "natted",
                "--no-nat", "192.168.0.0/16", "-o", "json",
            )
        ).stdout  # fmt: skip
        assert json.loads(setting) == {
            "network": "net", "mode": "tenants", "tenants": ["natted"], "no_nat": ["192.168.0.0/16"]
        }  # fmt: skip
        shown = ok(planned("egress-nat", "show", "net")).stdout
        assert "tenants" in shown and "natted" in shown and "192.168.0.0/16" in shown
        empty = refused(planned("egress-nat", "set", "net", "tenants"))
        assert "tenants: mode 'tenants' needs at least one tenant" in empty
        wrong = refused(planned("egress-nat", "set", "net", "sometimes"))
        assert "mode" in wrong
        assert json.loads(ok(planned("egress-nat", "show", "net", "-o", "json")).stdout) == (
            json.loads(setting)
        )
    finally:
        ok(planned("egress-nat", "set", "net", "on"))
        ok(planned("tenant", "delete", "natted"))
