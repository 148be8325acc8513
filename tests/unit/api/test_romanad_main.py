"""The romanad executable's settings and first-start work, without serving."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from romana.api import credentials, main
from romana.core.errors import InvalidInput
from romana.services.auth import AuthService
from romana.store.memory import MemoryStore


def test_flags_beat_environment_beat_defaults() -> None:
    settings, _ = main.load_settings(
        ["--listen", "127.0.0.1:9700", "--services", "ipam,tenant", "--root", "http://r:9600"],
        {"ROMANAD_LISTEN": "127.0.0.1:9800", "ROMANAD_TOKEN_TTL": "60"},
    )
    assert settings.port == 9700
    assert settings.services == ("ipam", "tenant")
    assert settings.token_ttl == 60.0
    assert settings.url == "http://127.0.0.1:9700"
    assert settings.instance_name == "127.0.0.1:9700"


def test_invalid_settings_are_all_reported() -> None:
    with pytest.raises(InvalidInput) as caught:
        main.load_settings(
            ["--listen", "nowhere", "--services", "ipam,dns", "--advertise", "ftp://x"], {}
        )
    fields = [i.field for i in caught.value.issues]
    assert fields == ["listen", "services", "root", "advertise"]


def test_main_exits_2_on_invalid_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["--services", "ipam"]) == 2
    assert "needs --root" in capsys.readouterr().err


def _read(path: Path) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in path.read_text().splitlines() if " = " in line)


def test_admin_credentials_are_created_once(tmp_path: Path) -> None:
    auth = AuthService(MemoryStore())
    path = tmp_path / "sub" / "admin.credentials"
    assert credentials.ensure_admin(auth, path, "admin", "http://h:9600") == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dict(line.split(" = ", 1) for line in path.read_text().splitlines() if " = " in line)
    assert values["url"] == "http://h:9600"
    first = auth.login("admin", values["password"])
    assert first.role == "admin"
    # Reused as it is on later starts.
    text = path.read_text()
    credentials.ensure_admin(auth, path, "admin", "http://h:9600")
    assert path.read_text() == text
    # Another machine without the file changes nothing ...
    other = tmp_path / "other.credentials"
    assert credentials.ensure_admin(auth, other, "admin", "http://h2:9600") is None
    assert not other.exists()
    auth.login("admin", values["password"])
    # ... unless asked to reset, which replaces the password.
    assert credentials.ensure_admin(auth, other, "admin", "http://h2:9600", reset=True) == other
    new = _read(other)
    auth.login("admin", new["password"])
    assert new["password"] != values["password"]
