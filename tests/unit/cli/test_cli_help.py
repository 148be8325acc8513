"""The CLI teaches: every command's help shows an example, and the exit codes are documented."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from romana.cli import main
from romana.core import errors


def _commands() -> list[list[str]]:
    group = typer.main.get_command(main.app)
    found: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(group, [])
    return found


COMMANDS = _commands()


def test_every_command_the_brief_names_exists() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for expected in [
        "login",
        "tenant list", "tenant show", "tenant create", "tenant delete",
        "segment list", "segment add", "segment remove",
        "network list", "network show",
        "topology apply", "topology show",
        "host list", "host show", "host add", "host remove", "host label",
        "ipam list", "ipam show", "ipam allocate", "ipam release",
        "decode",
        "policy add", "policy list", "policy show", "policy remove",
        "route show",
        "status",
    ]:  # fmt: skip
        assert expected in names


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_each_command_help_has_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(main.app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"Example: romana {' '.join(command)}" in result.output


def test_top_level_help_documents_every_exit_code() -> None:
    result = CliRunner().invoke(main.app, ["--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for _, code, label in main.EXIT_CODES:
        assert f"{code} {label}" in text or (code == 1 and "1 any other error" in text)


def test_exit_codes_are_distinct_and_subclasses_map_through_their_parent() -> None:
    codes = [code for _, code, _ in main.EXIT_CODES]
    assert len(codes) == len(set(codes))
    assert main.exit_code(errors.Compacted("gone")) == main.exit_code(errors.Unavailable("x"))
    assert main.exit_code(errors.RomanaError("x")) == (1, "error")


def test_shell_completion_is_offered() -> None:
    result = CliRunner().invoke(main.app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in result.output
