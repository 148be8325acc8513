"""Agent settings: sources in order, every problem at once, flags built from the fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from romana.agent import main
from romana.agent.settings import AgentSettings
from romana.core import errors


def test_flags_win_over_environment_over_file(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nfirewall = "iptables"\nmtu = 1400\nhost = "from-file"\n')
    loaded = main.load_settings(
        ["--config", str(config), "--host", "from-flag", "--insecure", "--labels", "rack=1,z=2"],
        {"ROMANA_AGENT_MTU": "1450", "ROMANA_AGENT_HOST": "from-env"},
    )
    s = loaded.settings
    assert (s.host, s.mtu, s.firewall, s.insecure) == ("from-flag", 1450, "iptables", True)
    assert s.parsed_labels() == {"rack": "1", "z": "2"}
    assert loaded.sources["host"] == "cli"
    assert loaded.sources["mtu"] == "env:ROMANA_AGENT_MTU"
    assert loaded.sources["firewall"] == f"file:{config}"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(errors.InvalidInput) as info:
        main.load_settings(
            [
                "--firewall",
                "pf",
                "--socket",
                "relative.sock",
                "--url",
                "ftp://x",
                "--metrics",
                "nowhere",
                "--mtu",
                "20",
                "--labels",
                "nokey",
                "--reconcile-interval",
                "0",
                "--host-ip",
                "300.1.1.1",
            ],
            {},
        )
    fields = {i.field for i in info.value.issues}
    assert fields == {
        "firewall",
        "socket",
        "url[0]",
        "metrics",
        "mtu",
        "labels[0]",
        "reconcile_interval",
        "host_ip",
        "token",
    }


def test_host_ip6_is_an_ipv6_address_beside_an_ipv4_host_ip() -> None:
    loaded = main.load_settings(
        ["--insecure", "--host-ip", "192.0.2.1"], {"ROMANA_AGENT_HOST_IP6": "2001:db8::1"}
    )
    assert (loaded.settings.host_ip, loaded.settings.host_ip6) == ("192.0.2.1", "2001:db8::1")
    for argv, rule in [
        (["--host-ip6", "192.0.2.9"], "'192.0.2.9' is not an IPv6 address"),
        (["--host-ip6", "nope"], "'nope' is not an IPv6 address"),
        (
            ["--host-ip", "2001:db8::1", "--host-ip6", "2001:db8::2"],
            "must not be set when --host-ip is IPv6 already",
        ),
    ]:
        with pytest.raises(errors.InvalidInput) as info:
            main.load_settings(["--insecure", *argv], {})
        assert [(i.field, i.rule) for i in info.value.issues] == [("host_ip6", rule)]


def test_defaults_are_valid_and_documented() -> None:
    AgentSettings(insecure=True).validate()
    import dataclasses

    for f in dataclasses.fields(AgentSettings):
        assert f.metadata["doc"], f.name
        assert f.metadata["env"].startswith("ROMANA_AGENT_"), f.name


def test_invalid_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["--firewall", "pf"]) == 2
    assert "firewall" in capsys.readouterr().err


def test_api_group_names_a_group_and_the_socket_fits_a_unix_address() -> None:
    with pytest.raises(errors.InvalidInput) as info:
        main.load_settings(
            ["--insecure", "--api-group", "no-such-group-romana", "--socket", "/" + "s" * 107],
            {},
        )
    fields = {issue.field for issue in info.value.issues}
    assert fields == {"api_group", "socket"}
    root = main.load_settings(["--insecure", "--api-group", "root"], {}).settings
    assert root.api_gid() == 0
    assert main.load_settings(["--insecure", "--api-group", "4242"], {}).settings.api_gid() == 4242
    assert main.load_settings(["--insecure"], {}).settings.api_gid() is None


def _secret(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "agent.password"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_password_file_holds_the_password_of_username(tmp_path: Path) -> None:
    secret = _secret(tmp_path, "s3cret pass\n")
    argv = ["--username", "agent-h1", "--password-file", str(secret)]
    loaded = main.load_settings(argv, {})
    assert loaded.settings.password == ""  # read at start, not by loading
    settings = loaded.settings.with_password_read()
    assert (settings.username, settings.password) == ("agent-h1", "s3cret pass")
    by_env = main.load_settings(
        ["--username", "agent-h1"], {"ROMANA_AGENT_PASSWORD_FILE": str(secret)}
    ).settings
    assert by_env.with_password_read().password == "s3cret pass"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644])
def test_password_file_open_to_group_or_others_stops_the_agent_with_exit_2(
    tmp_path: Path, mode: int, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = _secret(tmp_path, "s3cret\n", mode)
    code = main.main(["--username", "agent-h1", "--password-file", str(secret)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(secret) in err
    assert f"mode {mode:04o}" in err
    assert "s3cret" not in err


def test_password_file_must_exist_and_hold_a_password(tmp_path: Path) -> None:
    for path, rule in [
        (tmp_path / "missing", "cannot read"),
        (_secret(tmp_path, "\n"), "is empty"),
    ]:
        settings = main.load_settings(["--username", "u", "--password-file", str(path)], {})
        with pytest.raises(errors.InvalidInput) as info:
            settings.settings.with_password_read()
        [issue] = info.value.issues
        assert issue.field == "password_file"
        assert str(path) in issue.rule and rule in issue.rule


def test_password_and_password_file_together_are_refused(tmp_path: Path) -> None:
    secret = _secret(tmp_path, "s3cret\n")
    with pytest.raises(errors.InvalidInput) as info:
        main.load_settings(
            ["--username", "agent-h1", "--password-file", str(secret)],
            {"ROMANA_AGENT_PASSWORD": "other"},
        )
    assert [i.field for i in info.value.issues] == ["password_file"]
    with pytest.raises(errors.InvalidInput) as info:
        main.load_settings(["--token", "t", "--password-file", str(secret)], {})
    assert [(i.field, i.rule) for i in info.value.issues] == [
        ("password_file", "goes with --username")
    ]
