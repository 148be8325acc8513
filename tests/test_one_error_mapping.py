"""One error mapping across every boundary, and no second table beside it.

Each class of the exception tree goes out through romanad's handlers and through the agent's
local API, and comes back through the client of each, as the class whose row it takes in
:mod:`romana.core.problems`. Every module that maps errors imports that table, and no module
of ``src`` holds a literal of its own pairing several error classes with codes.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import pytest

from romana.agent import http as agent_http
from romana.api import errors as api_errors
from romana.client import errors as client_errors
from romana.core import errors, problems
from romana.integrations.cni import agentapi

SRC = Path(__file__).resolve().parents[1] / "src" / "romana"
MAPPERS = (
    "api/errors.py",
    "agent/http.py",
    "client/errors.py",
    "integrations/cni/agentapi.py",
    "integrations/cni/commands.py",
    "cli/main.py",
)
TREE = sorted(
    (k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, errors.RomanaError)),
    key=lambda k: k.__name__,
)


def sample(kind: type[errors.RomanaError]) -> errors.RomanaError:
    if issubclass(kind, errors.InvalidInput):
        return kind([errors.Issue("tenant", "must be a DNS label")])
    if issubclass(kind, errors.QuotaExceeded):
        return kind("shop", "allocations", 4, 4)
    return kind(f"a {kind.__name__} happened")


def owner(kind: type[errors.RomanaError]) -> type[errors.RomanaError]:
    return next(c for c in kind.__mro__ if c in problems.TABLE)


@pytest.mark.parametrize("kind", TREE, ids=lambda k: k.__name__)
def test_through_romanad_and_its_client(kind: type[errors.RomanaError]) -> None:
    sent = api_errors.from_error(sample(kind))
    request = httpx.Request("GET", "http://romanad.test/v1/x")
    response = httpx.Response(
        sent.status_code, headers=dict(sent.headers), content=bytes(sent.body), request=request
    )
    back = client_errors.from_response(response)
    # A 500 is a server bug; romanad's client tries another instance.
    expected = errors.Unavailable if kind is errors.RomanaError else owner(kind)
    assert type(back) is expected


@pytest.mark.parametrize("kind", TREE, ids=lambda k: k.__name__)
def test_through_the_agent_and_the_plugins_client(kind: type[errors.RomanaError]) -> None:
    sent = agent_http.problem(sample(kind))
    body = json.loads(agent_http.payload(sent))
    fields = {name.lower(): value for name, value in sent.headers.items()}
    back = agentapi.answer_error(sent.status, body, fields, "POST /v1/endpoints")
    assert type(back) is owner(kind)
    assert body["type"] == problems.row_of(kind).type
    assert sent.status == problems.row_of(kind).status


def test_both_servers_answer_an_error_alike() -> None:
    for kind in TREE:
        exc = sample(kind)
        romanad = api_errors.from_error(exc)
        agent = agent_http.problem(exc)
        assert romanad.status_code == agent.status
        body = json.loads(agent_http.payload(agent))
        body.pop("field", None)
        assert json.loads(bytes(romanad.body)) == body


def test_a_malformed_body_is_400_as_in_romanad_and_still_invalid_input() -> None:
    exc = agent_http.MalformedBody([errors.Issue("body", "is not valid JSON")])
    sent = agent_http.problem(exc)
    body = json.loads(agent_http.payload(sent))
    assert (sent.status, body["status"], body["title"]) == (400, 400, "Bad Request")
    assert type(agentapi.answer_error(400, body, {}, "POST /v1/endpoints")) is errors.InvalidInput


def test_every_module_that_maps_errors_uses_the_table() -> None:
    for name in MAPPERS:
        tree = ast.parse((SRC / name).read_text())
        imported = {
            (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert ("romana.core", "problems") in imported, name


def _error_classes_named(node: ast.AST) -> int:
    names = {k.__name__ for k in TREE}
    return sum(
        1
        for sub in ast.walk(node)
        if (isinstance(sub, ast.Attribute) and sub.attr in names)
        or (isinstance(sub, ast.Name) and sub.id in names)
    )


def test_no_other_table_pairs_error_classes_with_codes() -> None:
    """A dict, tuple or list literal naming three or more error classes beside numbers."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "core" / "problems.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Dict | ast.Tuple | ast.List):
                continue
            numbers = any(
                isinstance(sub, ast.Constant) and type(sub.value) is int for sub in ast.walk(node)
            )
            if numbers and _error_classes_named(node) >= 3:
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []
