"""The OpenAPI document states the patterns the server enforces.

Issue 12, Low point "schema": names, label keys and values, allocation keys and URLs were
plain strings in ``/openapi.json`` (a length at most), so a client generated from it, or a
fuzzer, learnt nothing of what romanad refuses. Now each such field carries its validator's
own pattern (imported, not copied: ``romana.wire.rest``), addresses carry the
``ipv4``/``ipv6`` formats, and a value the schema refuses is a 422 naming the field and
quoting the validator's rule.

Checked here: each pattern equals its validator's regex; the schema and the validator
accept and refuse the same values (generated from the pattern and at random); and a live
romanad answers bad values 422 with the field and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from romana.api.app import create_app
from romana.api.settings import RomanadSettings
from romana.core import ipam, names, tenancy
from romana.core.errors import InvalidInput, Issues
from romana.core.topology import model
from romana.services import auth, instances
from romana.store.memory import MemoryStore
from unit.api.conftest import Api, start

jsonschema_rs = pytest.importorskip("jsonschema_rs")


def _check(fn: Callable[[str, str, Issues], object]) -> Callable[[str], bool]:
    def accepts(value: str) -> bool:
        issues = Issues()
        fn(value, "f", issues)
        return not list(issues)

    return accepts


def _re(pattern: re.Pattern[str], limit: int = 10**6) -> Callable[[str], bool]:
    return lambda v: names.matches(pattern, v) and len(v) <= limit


NAME = (names.NAME_RE, _check(tenancy.check_name))
HOST = (model.HOST_NAME_RE, _re(model.HOST_NAME_RE))
NETWORK = (names.NETWORK_RE, _check(names.check_network))
KEY = (ipam.KEY_RE, lambda v: _raises_not(ipam.check_key, v))
URL = (instances.URL_RE, _re(instances.URL_RE, instances.URL_MAX))
USERNAME = (auth.USERNAME_RE, _re(auth.USERNAME_RE))
LABEL_KEY = (names.LABEL_KEY_RE, _check(names.check_label_key))
LABEL_VALUE = (names.LABEL_VALUE_RE, _check(names.check_label_value))


def _raises_not(fn: Callable[[str], object], value: str) -> bool:
    try:
        fn(value)
    except InvalidInput:
        return False
    return True


# (schema, path to the field's string schema, the validator's regex, the server's check)
FIELDS: list[tuple[str, tuple[str, ...], re.Pattern[str], Callable[[str], bool]]] = [
    ("TenantIn", ("name",), *NAME),
    ("TenantIn", ("networks", "items"), *NETWORK),
    ("SegmentIn", ("name",), *NAME),
    ("HostIn", ("name",), *HOST),
    ("HostIn", ("labels", "propertyNames"), *LABEL_KEY),
    ("HostIn", ("labels", "additionalProperties"), *LABEL_VALUE),
    ("LabelsIn", ("labels", "propertyNames"), *LABEL_KEY),
    ("LabelsIn", ("labels", "additionalProperties"), *LABEL_VALUE),
    ("AllocationIn", ("key",), *KEY),
    ("AllocationIn", ("host",), *HOST),
    ("AllocationIn", ("tenant",), *NAME),
    ("AllocationIn", ("segment",), *NAME),
    ("UserIn", ("username",), *USERNAME),
    ("UserIn", ("tenant",), *NAME),
    ("UserIn", ("host",), *HOST),
    ("RegistrationIn", ("url",), *URL),
]
IDS = [f"{s}.{'.'.join(p)}" for s, p, *_ in FIELDS]


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(RomanadSettings(), MemoryStore()).openapi()


def field_schema(openapi: dict[str, Any], schema: str, path: tuple[str, ...]) -> dict[str, Any]:
    """The string schema at ``path`` (properties, then keywords) of component ``schema``;
    of a nullable field, its string branch."""
    node: dict[str, Any] = openapi["components"]["schemas"][schema]["properties"][path[0]]
    for key in path[1:]:
        node = node[key]
    if "anyOf" in node and "pattern" not in node:
        node = next(b for b in node["anyOf"] if b.get("type") == "string")
    return node


@pytest.mark.parametrize(("schema", "path", "regex", "server"), FIELDS, ids=IDS)
def test_each_pattern_is_the_validators_regex(
    openapi: dict[str, Any],
    schema: str,
    path: tuple[str, ...],
    regex: re.Pattern[str],
    server: Callable[[str], bool],
) -> None:
    found = field_schema(openapi, schema, path)
    assert found["pattern"] == regex.pattern
    assert found["pattern"] in names.RULES, "a schema refusal must quote the validator's rule"
    assert "maxLength" in found


def test_addresses_carry_their_formats(openapi: dict[str, Any]) -> None:
    host = openapi["components"]["schemas"]["HostIn"]["properties"]
    assert host["ip"]["anyOf"] == [{"format": "ipv4"}, {"format": "ipv6"}]
    assert field_schema(openapi, "HostIn", ("ip6",))["format"] == "ipv6"


@pytest.mark.parametrize(("schema", "path", "regex", "server"), FIELDS, ids=IDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_schema_and_server_refuse_the_same_values(
    openapi: dict[str, Any],
    schema: str,
    path: tuple[str, ...],
    regex: re.Pattern[str],
    server: Callable[[str], bool],
    data: st.DataObject,
) -> None:
    validator = jsonschema_rs.validator_for(field_schema(openapi, schema, path))
    near = st.from_regex(regex, fullmatch=True)
    value = data.draw(
        st.one_of(
            near,
            near.map(lambda v: v + data.draw(st.sampled_from(["\n", " ", "_", "-", "A", "/"]))),
            st.text(max_size=80),
            st.text(alphabet="aZ09-_./:@ \n", max_size=400),
        )
    )
    by_schema, by_server = validator.is_valid(value), server(value)
    prefix = value.rpartition("/")[0]
    if regex is names.LABEL_KEY_RE and len(prefix) > names.LABEL_PREFIX_MAX:
        # The one rule a lookaround-free pattern cannot state (docs/security.md).
        assert not by_server
        return
    assert by_schema == by_server, (value, by_schema, by_server)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = start(tmp_path_factory.mktemp("patterns"))
    try:
        yield Api(daemon)
    finally:
        daemon.stop()


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "rule"),
    [
        ("POST", "/v1/tenants", {"name": "bad name"}, "name", names.NAME_RULE),
        (
            "POST",
            "/v1/tenants",
            {"name": "t", "networks": ["P"]},
            "networks[0]",
            names.NETWORK_RULE,
        ),
        ("POST", "/v1/hosts", {"name": "h 1", "ip": "192.0.2.9"}, "name", names.HOST_RULE),
        (
            "POST",
            "/v1/allocations",
            {"key": "-k", "host": "h1", "tenant": "t"},
            "key",
            ipam.KEY_RULE,
        ),
        (
            "POST",
            "/v1/users",
            {"username": "-u", "password": "a-password", "role": "service"},
            "username",
            auth.USERNAME_RULE,
        ),
        ("PUT", "/v1/services/ipam/i1", {"url": "ftp://x"}, "url", instances.URL_RULE),
    ],
)
def test_romanad_refuses_a_bad_value_with_the_validators_rule(
    api: Api, method: str, path: str, body: dict[str, Any], field: str, rule: str
) -> None:
    r = api.admin.request(method, path, json=body)
    assert r.status_code == 422, r.text
    issues = {i["field"]: i["rule"] for i in r.json()["issues"]}
    assert rule in issues[field], issues
