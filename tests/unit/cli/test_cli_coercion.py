"""Deferring Typer's conversion changes no answer: absent values and strings pass as Typer
passes them, and every other value is converted, or refused, by Typer's own conversion."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from romana.cli import coercion, main


def test_a_value_typer_refuses_is_refused_in_its_words() -> None:
    result = CliRunner().invoke(main.app, ["--timeout", "soon", "tenant", "list"])
    assert result.exit_code == 2
    assert "Invalid value for '--timeout'" in result.output
    assert "unable to parse string as a number" in result.output


def test_a_choice_outside_the_enum_is_refused_naming_the_choices() -> None:
    result = CliRunner().invoke(main.app, ["tenant", "list", "-o", "xml"])
    assert result.exit_code == 2
    assert "'xml' is not one of 'table', 'json', 'yaml'" in result.output


def test_every_parameter_of_the_tree_is_deferred_until_a_value_needs_converting() -> None:
    root = typer.main.get_command(main.app)
    coercion.defer(root)
    seen: list[str] = []

    def walk(command: object) -> None:
        for param in getattr(command, "params", []):
            seen.append(type(getattr(param, "_runtime_param", None)).__name__)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(root)
    assert seen and set(seen) == {"_Deferred"}
