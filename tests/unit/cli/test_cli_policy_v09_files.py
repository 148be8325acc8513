"""``romana policy add -f`` reads Romana v0.9 policy files: a ``{"securitypolicies": [...]}``
wrapper around policies whose clause is their own top-level ``peers`` and ``rules``. Runs against
a real romanad (the ``planned`` fixture); romanad stores them in the v1 shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def test_a_securitypolicies_file_adds_each_policy_as_one_clause(
    planned: Any, tmp_path: Path
) -> None:
    ok(planned("tenant", "create", "v09-shop"))
    document = {
        "securitypolicies": [
            {
                "name": "v09-web",
                "direction": "ingress",
                "applied_to": [{"tenant": "v09-shop"}],
                "peers": [{"cidr": "198.51.100.0/24"}],
                "rules": [{"protocol": "tcp", "ports": [80, 443]}],
            },
            {
                "name": "v09-ping",
                "direction": "ingress",
                "applied_to": [{"tenant": "v09-shop"}],
                "peers": [{"peer": "any"}],
                "rules": [{"protocol": "icmp", "icmp_type": 8}],
            },
        ]
    }
    path = tmp_path / "v09.json"
    path.write_text(json.dumps(document))
    added = json.loads(ok(planned("policy", "add", "-f", str(path), "-o", "json")).stdout)
    assert sorted(p["id"] for p in added) == ["v09-shop/v09-ping", "v09-shop/v09-web"]
    stored = json.loads(ok(planned("policy", "show", "v09-shop/v09-web", "-o", "json")).stdout)
    [clause] = stored["ingress"]
    assert clause["peers"] == [{"cidr": "198.51.100.0/24"}]
    assert clause["rules"][0]["ports"] == [80, 443]
    assert "peers" not in stored and "rules" not in stored


def test_a_policy_in_both_shapes_is_refused_naming_the_field(planned: Any, tmp_path: Path) -> None:
    both = {
        "name": "v09-both",
        "applied_to": [{"tenant": "v09-shop"}],
        "peers": [{"peer": "any"}],
        "rules": [{"protocol": "tcp"}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "udp"}]}],
    }
    path = tmp_path / "both.json"
    path.write_text(json.dumps({"securitypolicies": [both]}))
    refused = planned("policy", "add", "-f", str(path))
    assert refused.exit_code != 0
    assert "peers" in refused.output + refused.stderr
    assert "v0.9" in refused.output + refused.stderr
