"""The CLI keeps its saved token with the root URL(s) that issued it (issue 12, Low).

``romana login`` records the URLs it logged in at beside the token. Pointed at another
server afterwards (``--url``, ``ROMANA_URL`` or the config file), the CLI refuses to send the
saved token there and says to log in again; it never leaks it to that server. The stranger is
a recording HTTP server; the issuer a real romanad.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from romana.lab.romanad import Romanad
from support.recorder import Recorder
from support.romanad import sqlite_fixture
from unit.cli import conftest as cli_conftest
from unit.cli.conftest import Cli

UNAUTHORIZED = 8


issuer = sqlite_fixture("issuer")


@pytest.fixture
def stranger() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


def saved(cli: Cli) -> dict[str, object]:
    """The token record the CLI saved in its config dir."""
    record: dict[str, object] = json.loads((cli.config_dir / "token").read_text())
    return record


def logged_in(issuer: Romanad, config_dir: Path) -> Cli:
    return cli_conftest.logged_in(issuer.url, config_dir, *issuer.admin(), ROMANA_RETRIES="0")


def refused(result: Result) -> None:
    assert result.exit_code == UNAUTHORIZED, result.output
    assert "is not sent" in result.stderr or "not sent there" in result.stderr
    assert "(romana login)" in result.stderr


def test_login_records_the_urls_that_issued_the_token(issuer: Romanad, tmp_path: Path) -> None:
    cli = logged_in(issuer, tmp_path)
    assert saved(cli)["urls"] == [issuer.url]
    listed = cli("tenant", "list", "-o", "json")
    assert listed.exit_code == 0, listed.output
    # The same URL written differently is the same server.
    listed = cli("tenant", "list", "-o", "json", ROMANA_URL=issuer.url + "/")
    assert listed.exit_code == 0, listed.output


def test_the_token_is_not_sent_to_another_url(
    issuer: Romanad, stranger: Recorder, tmp_path: Path
) -> None:
    cli = logged_in(issuer, tmp_path)
    token = str(saved(cli)["token"])
    refused(cli("tenant", "list", ROMANA_URL=stranger.url))
    refused(cli("--url", stranger.url, "network", "list"))
    # Adding a server to the list is another server too.
    refused(cli("tenant", "list", ROMANA_URL=f"{issuer.url},{stranger.url}"))
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{stranger.url}"\n')
    refused(cli("tenant", "list", ROMANA_URL=None))
    assert stranger.carrying(token) == []
    assert [s for s in stranger.seen if "authorization" in s.headers] == []
    # The token is kept: pointed back at its issuer, the CLI works again.
    config.unlink()
    assert cli("tenant", "list").exit_code == 0


def test_logging_in_at_the_new_url_replaces_the_token(issuer: Romanad, tmp_path: Path) -> None:
    cli = logged_in(issuer, tmp_path)
    other = Romanad(tmp_path / "other", store=f"sqlite://{tmp_path}/other.db", name="other")
    other.start()
    try:
        refused(cli("tenant", "list", ROMANA_URL=other.url))
        user, password = other.admin()
        result = cli("login", "-u", user, input=f"{password}\n", ROMANA_URL=other.url)
        assert result.exit_code == 0, result.output
        assert saved(cli)["urls"] == [other.url]
        assert cli("tenant", "list", ROMANA_URL=other.url).exit_code == 0
        refused(cli("tenant", "list"))
    finally:
        other.stop()


def test_a_token_saved_without_its_urls_is_not_sent(
    issuer: Romanad, stranger: Recorder, tmp_path: Path
) -> None:
    cli = logged_in(issuer, tmp_path)
    record = saved(cli)
    del record["urls"]
    (tmp_path / "token").write_text(json.dumps(record))
    refused(cli("tenant", "list", ROMANA_URL=stranger.url))
    refused(cli("tenant", "list"))
    assert stranger.seen == []


def test_an_explicit_token_is_the_callers_choice(issuer: Romanad, tmp_path: Path) -> None:
    cli = logged_in(issuer, tmp_path)
    other = Cli.at(issuer.url, tmp_path / "elsewhere")
    result = other("tenant", "list", ROMANA_TOKEN=str(saved(cli)["token"]))
    assert result.exit_code == 0, result.output
