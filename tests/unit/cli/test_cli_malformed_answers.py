"""``romana decode`` and ``romana tenant list`` refuse an answer of the wrong shape clearly.

These two commands check romanad's answer with :mod:`romana.wire.light` (the standard library)
instead of pydantic. A server that answers something else than API v1's shape (a misbehaving
proxy, a romanad of another version) must get one line on stderr naming each field at fault
and the invalid-input exit code: no table of garbage on stdout, no traceback. The real entry
point runs as its own process, against a loopback HTTP server that answers as told, and its
import graph shows the check ran without pydantic.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.recorder import Recorder

ENTRY = "from romana.cli.main import main; main()"
INVALID_INPUT = 3
"""The exit code of InvalidInput (romana.core.problems), what ``romana --help`` lists."""

DECODED: dict[str, Any] = {
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
    "allocation": None,
}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    servers = contextlib.ExitStack()

    def romana(
        answers: dict[str, Any], *args: str
    ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
        """``romana ARGS`` against a server answering ``answers``; the run and its imports."""
        server = servers.enter_context(Recorder({"/v1/services": [], **answers}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROMANA_")}
        env.update(
            ROMANA_URL=server.url,
            ROMANA_TOKEN="token",
            ROMANA_CONFIG=str(tmp_path / "config.toml"),
            ROMANA_RETRIES="0",
        )
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", ENTRY, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        timings = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
        modules = {line.rsplit("|", 1)[1].strip() for line in timings[1:]}
        stderr = "".join(f"{line}\n" for line in done.stderr.splitlines() if line not in timings)
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, stderr), modules

    with servers:
        yield romana


def test_a_well_formed_decode_answer_is_printed(serve: Any) -> None:
    done, modules = serve({"/v1/decode/10.0.16.1": DECODED}, "decode", "10.0.16.1")
    assert done.returncode == 0, done.stderr
    assert "Tenant       acme (id 1)" in done.stdout
    assert "pydantic" not in modules


def test_decode_refuses_fields_of_the_wrong_type_naming_each(serve: Any) -> None:
    wrong = {**DECODED, "host_index": "0", "is_gateway": "no", "allocation": ["k"]}
    done, modules = serve({"/v1/decode/10.0.16.1": wrong}, "decode", "10.0.16.1")
    assert (done.returncode, done.stdout) == (INVALID_INPUT, "")
    assert done.stderr == (
        "romana: invalid input: romanad's answer does not match API v1's Decoded: "
        "host_index: Input should be a valid integer; "
        "is_gateway: Input should be a valid boolean; "
        "allocation: Input should be a valid dictionary or instance of Allocation\n"
    )
    assert "pydantic" not in modules


def test_decode_refuses_an_answer_that_is_no_object(serve: Any) -> None:
    done, _ = serve({"/v1/decode/10.0.16.1": ["10.0.16.1"]}, "decode", "10.0.16.1", "-o", "json")
    assert (done.returncode, done.stdout) == (INVALID_INPUT, "")
    assert done.stderr == (
        "romana: invalid input: romanad's answer does not match API v1's Decoded: "
        "Input should be a valid dictionary or instance of Decoded\n"
    )


def test_tenant_list_refuses_missing_and_mistyped_fields(serve: Any) -> None:
    tenants = [{"name": "acme", "external_id": "", "ids": {"pods": "1"}, "segments": {}}]
    done, modules = serve({"/v1/tenants": tenants}, "tenant", "list")
    assert (done.returncode, done.stdout) == (INVALID_INPUT, "")
    assert done.stderr == (
        "romana: invalid input: romanad's answer does not match API v1's Tenant: "
        "[0].ids.pods: Input should be a valid integer; "
        "[0].requested_networks: Field required; [0].isolation: Field required\n"
    )
    assert "pydantic" not in modules


def test_tenant_list_refuses_an_object_where_a_list_belongs(serve: Any) -> None:
    done, _ = serve({"/v1/tenants": {"tenants": []}}, "tenant", "list", "-o", "yaml")
    assert (done.returncode, done.stdout) == (INVALID_INPUT, "")
    assert done.stderr == (
        "romana: invalid input: romanad's answer does not match API v1's Tenant: "
        "Input should be a valid list\n"
    )
