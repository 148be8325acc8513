"""Plain HTTP only on loopback, unless ``--allow-plaintext`` says otherwise, loudly.

A ``--listen`` address other machines can reach (anything but 127.0.0.0/8, ::1 and
``localhost``, so also ``0.0.0.0`` and ``::``) without ``--tls-cert``/``--tls-key`` is a
settings error naming ``listen``, the address and both ways out: exit 2 before the socket is
bound and before anything is written. With ``--allow-plaintext`` romanad starts, and logs a
warning that passwords and tokens cross the network in clear; that run uses an address that
exists only inside a network namespace of a lab (``romana.lab``), never the machine's own.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from romana.api import main
from romana.core.errors import InvalidInput
from romana.dataplane import netns as netns_mod
from romana.lab import Lab
from support import env


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--listen", "0.0.0.0:9600"], {}),
        (["--listen", "[::]:9600"], {}),
        (["--listen", "198.18.0.200:9600"], {}),
        (["--listen", "romana.example:9600"], {}),
        ([], {"ROMANAD_LISTEN": "10.1.2.3:9600"}),
    ],
    ids=["any-v4", "any-v6", "address", "host-name", "environment"],
)
def test_plain_http_on_a_reachable_address_is_a_settings_error(
    argv: list[str], environ: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        main.load_settings(["--store", "memory://", *argv], environ)
    [issue] = [i for i in caught.value.issues if i.field == "listen"]
    assert "--tls-cert and --tls-key" in issue.rule and "--allow-plaintext" in issue.rule


@pytest.mark.parametrize(
    "argv",
    [
        ["--listen", "127.0.0.1:9600"],
        ["--listen", "[::1]:9600"],
        ["--listen", "localhost:9600"],
        ["--listen", "0.0.0.0:9600", "--tls-cert", "host.crt", "--tls-key", "host.key"],
        ["--listen", "0.0.0.0:9600", "--allow-plaintext"],
    ],
    ids=["loopback-v4", "loopback-v6", "localhost", "tls", "override"],
)
def test_loopback_tls_or_the_override_are_accepted(argv: list[str]) -> None:
    settings, _ = main.load_settings(["--store", "memory://", *argv], {})
    assert settings.listen == argv[1]


def test_romanad_refuses_before_binding_the_address(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Hold the port on loopback: had romanad tried to bind 0.0.0.0 at that port, it would fail
    # with "address in use" and exit 1, not refuse with exit 2.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        argv = [
            sys.executable, "-m", "romana.api.main",
            "--listen", f"0.0.0.0:{port}",
            "--store", f"sqlite:///{state / 'romana.db'}",
            "--credentials-file", str(state / "admin.credentials"),
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert f"listen: '0.0.0.0:{port}' is reachable from other machines" in done.stderr
    assert "--tls-cert" in done.stderr and "--allow-plaintext" in done.stderr
    assert not state.exists()


@pytest.mark.root
def test_the_override_starts_and_warns_loudly(tmp_path: Path) -> None:
    env.need_root()
    env.need_binary("ip")
    log = tmp_path / "romanad.log"
    with Lab() as lab:
        ctl = lab.add_host("ctl", underlay_ip="198.18.0.210")
        url = f"http://{ctl.underlay_ip}:9600"
        argv = [
            sys.executable, "-m", "romana.api.main",
            "--listen", f"{ctl.underlay_ip}:9600", "--allow-plaintext",
            "--store", "memory://",
            "--credentials-file", str(tmp_path / "admin.credentials"),
        ]  # fmt: skip
        with open(log, "w") as out:
            proc = lab.popen_in(ctl, argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 20
            status = 0
            while status != 200 and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                with netns_mod.entered(ctl.path), httpx.Client(trust_env=False) as http:
                    try:
                        status = http.get(f"{url}/healthz", timeout=1.0).status_code
                    except httpx.TransportError:
                        time.sleep(0.1)
            assert status == 200, log.read_text()
        finally:
            proc.terminate()
            proc.wait(10)
    text = log.read_text()
    assert (
        "WARNING" in text and "--allow-plaintext: serving plain HTTP on 198.18.0.210:9600" in text
    )
    assert "crosses the network in clear" in text
