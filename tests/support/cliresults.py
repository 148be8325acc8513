"""What the CLI tests check of every command they run: that it succeeded, or that it was
refused and what the refusal says."""

from __future__ import annotations

from typing import Any


def ok(result: Any) -> Any:
    """``result`` (a CliRunner result), asserting the command exited 0."""
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def refused(result: Any) -> str:
    """The refusal's text on one line (output and stderr, whitespace collapsed), asserting
    the command failed."""
    assert result.exit_code != 0, result.output
    return " ".join((result.output + result.stderr).split())
