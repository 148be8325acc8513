"""Token lifetimes are finite: romanad refuses to start with a TTL that is not.

Issue 12, point 5: ``ROMANAD_TOKEN_TTL=nan`` or ``inf`` passed the ``> 0`` check (``nan <= 0``
is false) and minted tokens that never expired. Every lifetime setting must now be a finite
number of seconds above 0, from the environment or the config file, and romanad exits with
status 2 naming the setting before it serves anything. A finite token lifetime over 30 days
(``1e300``) is refused the same way, naming the bound.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from romana.core.errors import InvalidInput
from romana.lab import etcd
from romana.services.auth import MAX_TOKEN_TTL, AuthService
from romana.store.memory import MemoryStore

START_TIMEOUT = 20.0


def _run(tmp_path: Path, env: dict[str, str], *extra: str) -> tuple[int | None, str]:
    """Start romanad; its exit status and output, or None when it started serving."""
    port = etcd.free_ports(1)[0]
    argv = [
        sys.executable,
        "-m",
        "romana.api.main",
        "--store",
        f"sqlite://{tmp_path / 'romana.db'}",
        "--listen",
        f"127.0.0.1:{port}",
        "--credentials-file",
        str(tmp_path / "admin.credentials"),
        *extra,
    ]
    proc = subprocess.Popen(
        argv,
        env={**os.environ, "ROMANAD_LOG_LEVEL": "warning", **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out, _ = proc.communicate(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()  # by PID: it started serving with a TTL it should have refused
        out, _ = proc.communicate()
        return None, out.decode(errors="replace")
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity", "0", "-5"])
def test_romanad_refuses_a_token_ttl_that_is_not_finite_and_positive(
    tmp_path: Path, value: str
) -> None:
    status, output = _run(tmp_path, {"ROMANAD_TOKEN_TTL": value})
    assert status == 2, output
    assert "token_ttl" in output and "finite" in output, output
    assert not (tmp_path / "admin.credentials").exists()


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_config_file_cannot_make_tokens_immortal_either(tmp_path: Path, value: str) -> None:
    config = tmp_path / "romanad.toml"
    config.write_text(f"[romanad]\ntoken_ttl = {value}\n")
    status, output = _run(tmp_path, {}, "--config", str(config))
    assert status == 2, output
    assert "token_ttl" in output, output


@pytest.mark.parametrize("name", ["ROMANAD_REGISTRATION_TTL", "ROMANAD_MAX_WAIT"])
def test_other_lifetimes_must_be_finite_too(tmp_path: Path, name: str) -> None:
    status, output = _run(tmp_path, {name: "inf"})
    assert status == 2, output
    assert name.removeprefix("ROMANAD_").lower() in output, output


@pytest.mark.parametrize("value", ["1e300", "2592001"])
def test_romanad_refuses_a_token_ttl_over_thirty_days(tmp_path: Path, value: str) -> None:
    # A finite but huge lifetime is as good as none: a leaked token would never expire.
    status, output = _run(tmp_path, {"ROMANAD_TOKEN_TTL": value})
    assert status == 2, output
    assert "token_ttl" in output and "at most 2592000 seconds (30 days)" in output, output
    assert not (tmp_path / "admin.credentials").exists()


def test_the_auth_service_refuses_a_token_ttl_over_the_bound_too() -> None:
    with pytest.raises(InvalidInput) as caught:
        AuthService(MemoryStore(), token_ttl=MAX_TOKEN_TTL + 1)
    assert [issue.field for issue in caught.value.issues] == ["token_ttl"]
    AuthService(MemoryStore(), token_ttl=MAX_TOKEN_TTL)
