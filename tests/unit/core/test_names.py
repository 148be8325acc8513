"""The name and label rules of ``romana.core.names``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from romana.core import names
from romana.core.errors import InvalidInput, Issues


def issues_of(fn: object, value: object) -> list[tuple[str, str]]:
    found = Issues()
    fn(value, "f", found)  # type: ignore[operator]
    return [(i.field, i.rule) for i in found]


@pytest.mark.parametrize("name", ["a", "pods", "pods-v6", "0", "a" * 63, "1-2-3"])
def test_dns_labels_are_network_names(name: str) -> None:
    assert issues_of(names.check_network, name) == []


@pytest.mark.parametrize(
    "name", ["", "Pods", "pods_v4", "pods.v4", "-a", "a-", "a" * 64, "pods\n", " a", 3, None]
)
def test_other_network_names_are_refused_with_the_rule(name: object) -> None:
    [(field, rule)] = issues_of(names.check_network, name)
    assert field == "f"
    assert rule.endswith(names.NETWORK_RULE)


@pytest.mark.parametrize(
    "key",
    [
        "rack",
        "Rack_1.x-y",
        "example.com/rack",
        "a.b-c.d/R",
        "x" * 63,
        ".".join(["a" * 63] * 3) + "." + "a" * 61 + "/k",  # prefix of 253
    ],
)
def test_kubernetes_label_keys(key: str) -> None:
    assert issues_of(names.check_label_key, key) == []


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/rack",
        "rack/",
        "a/b/c",
        "Example.com/rack",
        "ex_ample.com/rack",
        "-rack",
        "rack-",
        "rack name",
        "x" * 64,
        ".".join(["a" * 63] * 3) + "." + "a" * 62 + "/k",  # prefix of 254
        "rack\n",
        7,
    ],
)
def test_other_label_keys_are_refused(key: object) -> None:
    [(field, rule)] = issues_of(names.check_label_key, key)
    assert field == "f" and rule.endswith(names.LABEL_KEY_RULE)


@pytest.mark.parametrize("value", ["", "a", "A-b_c.d", "x" * 63])
def test_kubernetes_label_values(value: str) -> None:
    assert issues_of(names.check_label_value, value) == []


@pytest.mark.parametrize("value", ["-a", "a-", "a b", "x" * 64, "a/b", None, 1])
def test_other_label_values_are_refused(value: object) -> None:
    [(field, rule)] = issues_of(names.check_label_value, value)
    assert field == "f" and rule.endswith(names.LABEL_VALUE_RULE)


def test_check_labels_keeps_the_good_pairs_and_names_each_bad_one() -> None:
    issues = Issues()
    good = names.check_labels({"rack": "a", "bad key": "x", "zone": "z z"}, "labels", issues)
    assert good == {"rack": "a"}
    assert [i.field for i in issues] == ["labels", "labels.zone"]


def test_clash_finds_the_existing_spelling() -> None:
    assert names.clash("ta", ["x", "TA"]) == "TA"
    assert names.clash("TA", ["ta", "TA"]) == "TA"
    assert names.clash("tb", ["TA"]) is None
    assert names.clash("STRASSE", ["straße"]) == "straße"


def test_every_pattern_has_its_rule_and_needs_no_lookaround() -> None:
    for pattern, rule in names.RULES.items():
        assert rule.startswith("must")
        assert "(?" not in pattern, pattern
        assert pattern.startswith("^") and pattern.endswith("$")


@pytest.mark.parametrize(
    ("make", "good", "bad", "rule"),
    [
        (names.host_name, "Node_1.example", "-node", names.HOST_RULE),
        (names.tenant_name, "Team.A", "team a", names.NAME_RULE),
        (names.segment_name, "front-end", "front/end", names.NAME_RULE),
        (names.network_name, "pods-v6", "Pods", names.NETWORK_RULE),
    ],
)
def test_validating_constructors_return_the_name_or_refuse_with_field_and_rule(
    make: Callable[[object, str], str], good: str, bad: str, rule: str
) -> None:
    assert make(good, "body.name") == good
    with pytest.raises(InvalidInput) as refused:
        make(bad, "body.name")
    assert [(i.field, i.rule) for i in refused.value.issues] == [("body.name", rule)]
