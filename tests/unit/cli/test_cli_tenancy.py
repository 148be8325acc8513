"""Logging in, tenants and segments, and how errors reach the user: against a real romanad."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import Any

import yaml

from romana.cli import main
from romana.core import errors
from romana.lab.etcd import free_ports


def code_of(kind: type[errors.RomanaError]) -> int:
    return next(code for k, code, _ in main.EXIT_CODES if k is kind)


def one_error_line(result: Any, code: int, *words: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("romana: ")
    for word in words:
        assert word in lines[0]


def test_login_saves_a_token_only_the_owner_can_read(romana: Any) -> None:
    token = romana.config_dir / "token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    saved = json.loads(token.read_text())
    assert saved["role"] == "admin" and saved["token"]
    result = romana("tenant", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), list)


def test_a_wrong_password_is_one_line_and_exit_code_unauthorized(fresh: Any, server: Any) -> None:
    user, _ = server.admin()
    result = fresh("login", "-u", user, "-p", "not-the-password")
    one_error_line(result, code_of(errors.Unauthorized), "unauthorized")
    assert not (fresh.config_dir / "token").exists()


def test_the_password_is_prompted_when_not_given(fresh: Any, server: Any) -> None:
    user, password = server.admin()
    result = fresh("login", "-u", user, input=f"{password}\n")
    assert result.exit_code == 0, result.output
    assert (fresh.config_dir / "token").exists()
    # --local: logging out revokes every token of the user, the session's admin token too.
    assert fresh("logout", "--local").exit_code == 0
    assert not (fresh.config_dir / "token").exists()


def test_without_a_token_reads_are_refused(fresh: Any) -> None:
    one_error_line(fresh("tenant", "list"), code_of(errors.Unauthorized))


def test_a_token_from_the_environment_is_used(fresh: Any, romana: Any) -> None:
    token = json.loads((romana.config_dir / "token").read_text())["token"]
    result = fresh("tenant", "list", "-o", "json", ROMANA_TOKEN=token)
    assert result.exit_code == 0, result.stderr


def test_tenant_lifecycle_with_segments(planned: Any) -> None:
    created = planned("tenant", "create", "acme", "--external-id", "x-1", "-o", "json")
    assert created.exit_code == 0, created.stderr
    tenant = json.loads(created.stdout)
    assert tenant["name"] == "acme" and tenant["external_id"] == "x-1"
    assert tenant["segments"] == {"default": 0}
    assert set(tenant["ids"]) == {"net"}

    added = planned("segment", "add", "acme", "web", "-o", "json")
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout)["segments"] == {"default": 0, "web": 1}

    listed = planned("segment", "list", "acme")
    assert listed.exit_code == 0
    assert "web" in listed.stdout and "default" in listed.stdout

    table = planned("tenant", "list")
    assert table.exit_code == 0
    assert "acme" in table.stdout and "x-1" in table.stdout and "web=1" in table.stdout

    shown = planned("tenant", "show", "acme", "-o", "yaml")
    assert yaml.safe_load(shown.stdout)["segments"] == {"default": 0, "web": 1}

    removed = planned("segment", "remove", "acme", "web", "-o", "json")
    assert json.loads(removed.stdout)["segments"] == {"default": 0}

    deleted = planned("tenant", "delete", "acme")
    assert deleted.exit_code == 0 and "acme deleted" in deleted.stdout
    one_error_line(planned("tenant", "show", "acme"), code_of(errors.NotFound), "acme")


def test_a_duplicate_tenant_is_already_exists(planned: Any) -> None:
    assert planned("tenant", "create", "dup").exit_code == 0
    one_error_line(planned("tenant", "create", "dup"), code_of(errors.AlreadyExists), "dup")


def test_invalid_input_names_the_field_on_one_line(planned: Any) -> None:
    result = planned("tenant", "create", "Bad Name!")
    one_error_line(result, code_of(errors.InvalidInput), "name")


def test_an_unreachable_server_is_one_line_and_exit_code_unavailable(fresh: Any) -> None:
    port = free_ports(1)[0]
    result = fresh("tenant", "list", ROMANA_URL=f"http://127.0.0.1:{port}")
    one_error_line(result, code_of(errors.Unavailable), f"127.0.0.1:{port}")


def test_the_config_file_supplies_url_and_output(fresh: Any, romana: Any, server: Any) -> None:
    token = json.loads((romana.config_dir / "token").read_text())["token"]
    config: Path = fresh.config_dir / "config.toml"
    config.write_text(f'url = "{server.url}"\noutput = "json"\ntoken = "{token}"\n')
    assert tomllib.loads(config.read_text())["output"] == "json"
    result = fresh("network", "list", ROMANA_URL=None)
    assert result.exit_code == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list)


def test_a_bad_setting_is_invalid_input_naming_it(fresh: Any) -> None:
    result = fresh("tenant", "list", ROMANA_OUTPUT="xml")
    one_error_line(result, code_of(errors.InvalidInput), "output")


def test_tenant_isolation_is_chosen_at_creation_shown_and_changed(planned: Any) -> None:
    made = planned("tenant", "create", "cli-iso", "--segments", "open", "-o", "json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["isolation"] == {"mode": "romana", "segments": "open"}
    listed = planned("tenant", "list")
    row = next(line for line in listed.stdout.splitlines() if "cli-iso" in line)
    assert "romana, segments open" in row
    changed = planned("tenant", "isolation", "cli-iso", "--isolation", "kubernetes")
    assert changed.exit_code == 0, changed.output
    shown = planned("tenant", "show", "cli-iso")
    assert "Isolation" in shown.stdout and "kubernetes" in shown.stdout
    bad = planned("tenant", "isolation", "cli-iso", "--segments", "half")
    assert bad.exit_code != 0 and "half" in bad.output
    assert planned("tenant", "delete", "cli-iso").exit_code == 0
