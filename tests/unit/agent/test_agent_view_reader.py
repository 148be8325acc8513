"""Successive host views read by one Reader: the same views as parsing each whole, the
unchanged bulk handed on as it was, a malformed view refused whole all the same."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from agent_fakes import TENANTS, raw_view

from romana.agent import desired, report, view
from romana.core import errors

POLICY = {
    "name": "web",
    "applied_to": [{"tenant": "t2"}],
    "ingress": [{"peers": [{"address_set": "peers"}], "rules": [{"protocol": "tcp"}]}],
}


def endpoint(i: int) -> dict[str, Any]:
    return {
        "key": f"k{i}",
        "host": "h1",
        "tenant": "t1",
        "segment": "default",
        "addresses": [f"10.1.16.{i}"],
    }


def views() -> list[dict[str, Any]]:
    """Views as romanad sends them one after another, each decoded afresh."""
    t3 = {**TENANTS[1], "name": "t3", "ids": {"pods": 3}}
    open_t1 = {**TENANTS[0], "isolation": {"mode": "romana", "segments": "open"}}
    steps = [
        raw_view(1, policies=[POLICY], address_sets={"peers": ["10.2.16.1/32"]}),
        raw_view(2, policies=[POLICY], address_sets={"peers": ["10.2.16.1/32", "10.2.16.2/32"]}),
        raw_view(3, policies=[POLICY], address_sets={"peers": []}, endpoints=[endpoint(1)]),
        raw_view(4, policies=[], endpoints=[endpoint(1), endpoint(2)], tenants=[*TENANTS, t3]),
        raw_view(5, endpoints=[endpoint(2)], tenants=[open_t1, TENANTS[1], t3]),
        raw_view(6, endpoints=[endpoint(2)], tenants=[open_t1, TENANTS[1], t3]),
    ]
    return [copy.deepcopy(s) for s in steps]


def test_a_reader_gives_what_parsing_each_view_whole_gives() -> None:
    reader = view.Reader()
    keys = report.FirewallKeys()
    for raw in views():
        alone = view.parse(copy.deepcopy(raw))
        hv = reader.parse(raw)
        assert hv == alone
        assert keys(hv) == report.firewall_key(alone)
        assert desired.firewall(hv) == desired.firewall(alone)


def test_an_unchanged_section_is_handed_on_as_it_was() -> None:
    reader = view.Reader()
    first, second, third, fourth, fifth, sixth = (reader.parse(raw) for raw in views())
    # The tenants stay the very mapping while their records do not change: what the
    # firewall key and the compiler's memos recognise without looking inside.
    assert second.tenants is first.tenants and third.tenants is first.tenants
    assert fourth.tenants is not third.tenants
    assert fourth.tenants["t1"] is first.tenants["t1"]
    assert fifth.tenants["t1"] != fourth.tenants["t1"]
    assert fifth.tenants["t3"] is fourth.tenants["t3"]
    assert sixth.tenants is fifth.tenants and sixth.endpoints is fifth.endpoints
    assert third.address_sets["peers"] == ()


def test_a_malformed_view_is_refused_whole_and_the_next_read_against_the_last_good_one() -> None:
    reader = view.Reader()
    good, changed, *_ = views()
    reader.parse(good)
    bad = copy.deepcopy(changed)
    bad["tenants"][1]["ids"] = {"pods": "two"}
    bad["address_sets"] = {"peers": ["nonsense"]}
    with pytest.raises(errors.InvalidInput) as info:
        reader.parse(bad)
    with pytest.raises(errors.InvalidInput) as whole:
        view.parse(copy.deepcopy(bad))
    assert {i.field for i in info.value.issues} == {i.field for i in whole.value.issues}
    assert {"tenants[1].ids.pods", "address_sets.peers[0]"} <= {i.field for i in info.value.issues}
    assert reader.parse(changed) == view.parse(copy.deepcopy(changed))
