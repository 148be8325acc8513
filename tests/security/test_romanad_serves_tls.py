"""romanad serves HTTPS with ``--tls-cert``/``--tls-key``, and its clients verify it.

A throwaway CA (``support.tls``, the openssl command line) signs romanad's certificate for
127.0.0.1. The CLI given that CA with ``--ca`` logs in and works; without it, or at a URL the
certificate does not name, it fails at once with one line naming the URL and ``--ca``, never a
traceback, and sends nothing (the password included). With ``--tls-client-ca`` a client
without a certificate is refused before HTTP. Files that cannot be loaded are settings errors
naming the setting (exit 2), found before anything starts.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from romana.api import main, tls
from romana.cli.main import app
from romana.client import Client, ClientSettings
from romana.client.errors import TlsFailure
from romana.core.errors import Unavailable
from romana.lab.romanad import Romanad
from support import tls as certs

TOPOLOGY = Path(__file__).resolve().parents[2] / "examples" / "topology" / "two-racks.json"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> certs.CA:
    return certs.make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def server(ca: certs.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Romanad]:
    work = tmp_path_factory.mktemp("romanad-tls")
    served = certs.Served(ca, ca.issue("romanad"))
    with Romanad(work, store=f"sqlite://{work}/romana.db", tls=served) as daemon:
        yield daemon


def romana(config: Path, *args: str, input: str | None = None, **env: str) -> Result:
    """The CLI in-process, its config and token in ``config``; only ``env`` says where to go."""
    base: dict[str, str | None] = {
        "ROMANA_CONFIG": str(config / "config.toml"),
        "ROMANA_RETRIES": "2",
        "ROMANA_TOKEN": None,
        "ROMANA_URL": None,
        "ROMANA_CA": None,
    }
    return CliRunner().invoke(app, list(args), input=input, env={**base, **env})


def test_the_cli_with_the_ca_logs_in_and_works(
    server: Romanad, ca: certs.CA, tmp_path: Path
) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    user, password = server.admin()
    common = ("--url", server.url, "--ca", str(ca.cert))
    login = romana(tmp_path, *common, "login", "-u", user, "--password-stdin", input=password)
    assert login.exit_code == 0, login.output
    applied = romana(tmp_path, *common, "topology", "apply", "-f", str(TOPOLOGY))
    assert applied.exit_code == 0, applied.output
    created = romana(tmp_path, *common, "tenant", "create", "acme")
    assert created.exit_code == 0, created.output
    # The same through the environment.
    listed = romana(tmp_path, "tenant", "list", ROMANA_URL=server.url, ROMANA_CA=str(ca.cert))
    assert listed.exit_code == 0, listed.output
    assert "acme" in listed.output


def test_without_the_ca_the_cli_fails_with_one_clear_line(server: Romanad, tmp_path: Path) -> None:
    user, password = server.admin()
    result = romana(tmp_path, "--url", server.url, "login", "-u", user, "-p", password)
    assert result.exit_code == 10, result.output
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"romana: unavailable: {server.url}: the server's TLS certificate")
    assert "--ca" in line
    assert not (tmp_path / "token").exists()


def test_a_certificate_failure_is_not_retried(server: Romanad) -> None:
    # Retries with long back-offs would take seconds; a configuration error fails at once.
    settings = ClientSettings(url=(server.url,), retries=5, backoff=3.0, backoff_max=3.0)
    started = time.monotonic()
    with Client(settings) as client, pytest.raises(TlsFailure) as caught:
        client.list_tenants()
    assert time.monotonic() - started < 2.0
    assert not caught.value.temporary
    assert isinstance(caught.value, Unavailable)


def test_a_url_the_certificate_does_not_name_is_refused(server: Romanad, ca: certs.CA) -> None:
    url = f"https://localhost:{server.port}"  # the certificate names romanad and 127.0.0.1
    settings = ClientSettings(url=(url,), ca=str(ca.cert), retries=0)
    with Client(settings) as client, pytest.raises(TlsFailure) as caught:
        client.health()
    assert url in str(caught.value) and "localhost" in str(caught.value)


def test_plain_http_is_not_answered_on_the_tls_port(server: Romanad) -> None:
    with httpx.Client(trust_env=False, timeout=3.0) as http, pytest.raises(httpx.HTTPError):
        http.get(f"http://127.0.0.1:{server.port}/healthz")


def test_client_ca_mode_refuses_a_client_without_a_certificate(
    ca: certs.CA, tmp_path: Path
) -> None:
    served = certs.Served(ca, ca.issue("romanad-mtls"), require_client=True)
    with Romanad(tmp_path, store="memory://", tls=served) as daemon:
        bare = ClientSettings(url=(daemon.url,), ca=str(ca.cert), retries=0)
        with Client(bare) as client, pytest.raises(Unavailable) as caught:
            client.health()
        assert "client cert" in str(caught.value)
        with daemon.http() as http:  # the test's client presents a certificate the CA signed
            assert http.get(f"{daemon.url}/healthz").status_code == 200
        other = certs.make_ca(tmp_path / "other").issue("stranger")
        foreign = ClientSettings(
            url=(daemon.url,),
            ca=str(ca.cert),
            client_cert=str(other.cert),
            client_key=str(other.key),
            retries=0,
        )
        with Client(foreign) as client, pytest.raises(Unavailable):
            client.health()
        pair = ca.issue("cli")
        signed = ClientSettings(
            url=(daemon.url,), ca=str(ca.cert), client_cert=str(pair.cert),
            client_key=str(pair.key),
        )  # fmt: skip
        with Client(signed) as client:
            assert client.health()["status"] == "ok"


def test_tls_1_2_is_the_oldest_protocol_served(ca: certs.CA, tmp_path: Path) -> None:
    pair = ca.issue("romanad-min")
    settings, _ = main.load_settings(
        ["--store", "memory://", "--tls-cert", str(pair.cert), "--tls-key", str(pair.key)], {}
    )
    context = tls.server_context(settings)
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.outbound_context(settings).minimum_version == ssl.TLSVersion.TLSv1_2
    assert settings.url.startswith("https://")


def _exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main.main(["--store", "memory://", *argv])
    return code, capsys.readouterr().err


def test_a_certificate_without_its_key_is_a_settings_error(
    ca: certs.CA, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _exit(["--tls-cert", str(ca.cert)], capsys)
    assert code == 2 and "tls_cert: --tls-cert and --tls-key go together" in err
    code, err = _exit(["--tls-client-ca", str(ca.cert)], capsys)
    assert code == 2 and "tls_client_ca: needs --tls-cert" in err


def test_files_that_cannot_be_loaded_name_their_setting(
    ca: certs.CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = ca.issue("romanad-files")
    missing = str(tmp_path / "missing.pem")
    good = ["--tls-cert", str(pair.cert), "--tls-key", str(pair.key)]
    cases = {
        "tls_cert": ["--tls-cert", missing, "--tls-key", str(pair.key)],
        "tls_key": ["--tls-cert", str(pair.cert), "--tls-key", missing],
        "tls_client_ca": [*good, "--tls-client-ca", missing],
        "ca": [*good, "--services", "tenant", "--root", "https://127.0.0.1:1", "--ca", missing],
    }
    for field, argv in cases.items():
        code, err = _exit(argv, capsys)
        assert code == 2, (field, err)
        assert f"{field}: cannot load" in err and missing in err, (field, err)
    # A key of another certificate is about the pair.
    code, err = _exit(["--tls-cert", str(pair.cert), "--tls-key", str(ca.key)], capsys)
    assert code == 2 and "tls_cert: cannot load" in err and "mismatch" in err
