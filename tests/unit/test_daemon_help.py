"""``romanad --help`` and ``romana-agent --help`` teach an operator what each does, where its
settings come from, every flag's environment variable and default, an example and the exit
codes; the CLI's ``--url`` says its variable and default too."""

from __future__ import annotations

import argparse

import pytest
from typer.testing import CliRunner

from romana.agent import main as agent_main
from romana.api import main as romanad_main
from romana.cli.main import app


def _help(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_help().split())


@pytest.mark.parametrize(
    ("parser", "facts"),
    [
        (
            romanad_main.parser,
            [
                "ROMANAD_<SETTING> environment variables",
                "section [romanad]",
                "--store STORE store URL (sqlite:///PATH, etcd://HOST:PORT, memory://) (env "
                "ROMANAD_STORE; default sqlite:///var/lib/romana/romana.db)",
                "(env ROMANAD_LISTEN; default 127.0.0.1:9600)",
                "(env ROMANAD_CREDENTIALS_FILE; default /var/lib/romana/admin.credentials)",
                "example: romanad --store",
                "exit codes: 0 clean stop;",
                "a listen address in use",
            ],
        ),
        (
            agent_main.parser,
            [
                "ROMANA_AGENT_<SETTING> environment variables",
                "section [agent]",
                "(env ROMANA_AGENT_URL; default http://127.0.0.1:9600)",
                "(env ROMANA_AGENT_HOST)",
                "example: romana-agent --url",
                "exit codes: 0 clean stop",
            ],
        ),
    ],
    ids=["romanad", "romana-agent"],
)
def test_daemon_help_names_settings_defaults_example_and_exit_codes(
    parser: type[argparse.ArgumentParser], facts: list[str]
) -> None:
    text = _help(parser())
    for fact in facts:
        assert fact in text


def test_romanad_flags_still_parse_as_before() -> None:
    args = romanad_main.parser().parse_args(
        ["--insecure", "--max-body-bytes", "2048", "--body-timeout", "1.5", "--log-level", "debug"]
    )
    assert args.insecure is True and args.allow_plaintext is None
    assert args.max_body_bytes == 2048 and args.body_timeout == 1.5
    assert args.log_level == "debug" and args.store is None


def test_cli_url_help_says_its_variable_and_default() -> None:
    result = CliRunner().invoke(app, ["--help"])
    text = " ".join(result.stdout.split())
    assert "(env ROMANA_URL; default http://127.0.0.1:9600)" in text
