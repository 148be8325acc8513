"""``--insecure`` (every request acts as admin) is served on loopback only.

Together with a listen address other machines can reach, romanad refuses to start: exit 2,
a settings error naming ``insecure`` and the address, and nothing is created on disk.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from romana.api import main
from romana.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--insecure", "--listen", "0.0.0.0:9600"], {}),
        (["--insecure", "--listen", "[::]:9600"], {}),
        (["--insecure", "--listen", "198.18.0.200:9600"], {}),
        (["--insecure", "--listen", "romana.example:9600"], {}),
        ([], {"ROMANAD_INSECURE": "true", "ROMANAD_LISTEN": "10.1.2.3:9600"}),
    ],
    ids=["any-v4", "any-v6", "address", "host-name", "environment"],
)
def test_insecure_with_a_reachable_address_is_a_settings_error(
    argv: list[str], environ: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        main.load_settings(["--store", "memory://", *argv], environ)
    issue = next(i for i in caught.value.issues if i.field == "insecure")
    assert "loopback" in issue.rule


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:9600", "127.0.0.53:9600", "[::1]:9600", "localhost:9600"]
)
def test_insecure_on_loopback_is_allowed(listen: str) -> None:
    settings, _ = main.load_settings(["--store", "memory://", "--insecure", "--listen", listen], {})
    assert settings.insecure


def test_romanad_refuses_to_start_insecure_on_every_address(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "romana.api.main",
            "--insecure",
            "--listen",
            "0.0.0.0:9600",
            "--store",
            f"sqlite:///{state / 'romana.db'}",
            "--credentials-file",
            str(state / "admin.credentials"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "insecure" in done.stderr and "'0.0.0.0:9600'" in done.stderr
    assert not state.exists()
