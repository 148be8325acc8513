"""``romana install host|cni --root DIR``: exactly the expected files with the expected modes,
a configuration the agent loads, idempotent, undone by ``--uninstall``, nothing written on
bad input. No root needed: everything is written under a temporary root."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from romana import config
from romana.agent.settings import AgentSettings
from romana.cli.main import app
from romana.core import errors
from romana.deploy import hostinstall, layout
from support import env

UNIT = "/etc/systemd/system/romana-agent.service"
CONFLIST = "/etc/cni/net.d/10-romana.conflist"
FRONT = "/opt/cni/bin/romana-cni"
FILES = {
    UNIT: 0o644,
    "/etc/romana/agent.toml": 0o644,
    "/etc/romana/agent.password": 0o600,
    CONFLIST: 0o644,
}


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    """An installation whose bin/ holds a romana-agent and a (stand-in) compiled front."""
    bin_dir = tmp_path / "opt-romana" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("romana-agent", "#!/bin/sh\n"), ("romana-cni", "\x7fELF front")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir.parent


def tree(root: Path) -> dict[str, str]:
    """Every file and symlink under ``root`` (target path → mode or link), directories aside."""
    found = {}
    for path in root.rglob("*"):
        target = "/" + str(path.relative_to(root))
        if path.is_symlink():
            found[target] = "-> " + os.readlink(path)
        elif path.is_file():
            found[target] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def install(root: Path, prefix: Path, *args: str, input: str = "s3cret\n") -> Result:
    argv = ["install", "host", "--root", str(root), "--prefix", str(prefix), *args]
    return CliRunner().invoke(app, argv, input=input, env={"ROMANA_AGENT_PASSWORD": None})


HOST_ARGS = ("--url", "https://ctl-1:9600,https://ctl-2:9600", "--labels", "rack=r1,zone=z1",
             "--host", "node1", "--password-stdin")  # fmt: skip


def test_install_host_writes_exactly_the_files_with_their_modes(
    tmp_path: Path, prefix: Path
) -> None:
    root = tmp_path / "root"
    done = install(root, prefix, *HOST_ARGS)
    assert done.exit_code == 0, done.output
    expected = {path: oct(mode) for path, mode in FILES.items()}
    expected[FRONT] = f"-> {prefix / 'bin' / 'romana-cni'}"
    assert tree(root) == expected
    for directory in ("etc/romana", "etc/cni/net.d", "opt/cni/bin", "etc/systemd/system"):
        assert stat.S_IMODE((root / directory).stat().st_mode) == 0o755
    assert (root / "etc/romana/agent.password").read_text() == "s3cret\n"
    assert "s3cret" not in done.output
    for path in expected:
        assert f"wrote      {root}{path}" in done.output
    assert "systemctl" not in done.output  # with --root it only says where it wrote


def test_the_configuration_is_the_agents_and_names_target_paths(
    tmp_path: Path, prefix: Path
) -> None:
    root = tmp_path / "root"
    args = ("--ca", "/etc/romana/tls/ca.crt", "--interface", "eth1", "--firewall", "iptables")
    assert install(root, prefix, *HOST_ARGS, *args).exit_code == 0
    loaded = config.load(
        AgentSettings, environ={}, file=root / "etc/romana/agent.toml", section="agent"
    )
    s = loaded.settings
    assert loaded.warnings == ()
    assert s.url == ("https://ctl-1:9600", "https://ctl-2:9600")
    assert s.parsed_labels() == {"rack": "r1", "zone": "z1"}
    assert (s.host, s.username, s.firewall) == ("node1", "agent-node1", "iptables")
    assert (s.ca, s.interface) == ("/etc/romana/tls/ca.crt", "eth1")
    assert s.password_file == layout.AGENT_PASSWORD_FILE  # the target's path, not the root's
    # Read from the written file, as the agent does at start.
    written = dataclasses.replace(s, password_file=str(root / "etc/romana/agent.password"))
    assert written.with_password_read().password == "s3cret"
    unit = (root / UNIT.lstrip("/")).read_text()
    assert f"ExecStart={prefix}/bin/romana-agent --config /etc/romana/agent.toml" in unit
    assert "@PREFIX@" not in unit and str(root) not in unit
    conflist = json.loads((root / CONFLIST.lstrip("/")).read_text())
    assert conflist["cniVersion"] == "1.1.0" and conflist["name"] == "romana"
    assert [p["type"] for p in conflist["plugins"]] == ["romana-cni"]
    assert "ipam" not in conflist["plugins"][0]


def test_a_second_install_changes_nothing(tmp_path: Path, prefix: Path) -> None:
    root = tmp_path / "root"
    assert install(root, prefix, *HOST_ARGS).exit_code == 0
    before = {p: (p.lstat().st_mtime_ns, p.lstat().st_ino) for p in root.rglob("*")}
    again = install(root, prefix, *HOST_ARGS)
    assert again.exit_code == 0, again.output
    assert "wrote" not in again.output
    assert again.output.count("unchanged") == len(FILES) + 1
    assert {p: (p.lstat().st_mtime_ns, p.lstat().st_ino) for p in root.rglob("*")} == before


def test_a_changed_setting_rewrites_only_its_file(tmp_path: Path, prefix: Path) -> None:
    root = tmp_path / "root"
    assert install(root, prefix, *HOST_ARGS).exit_code == 0
    (root / "etc/romana/agent.password").chmod(0o644)  # someone widened the secret
    changed = install(root, prefix, *HOST_ARGS[:-1], "--labels", "rack=r2", "--password-stdin")
    assert changed.exit_code == 0, changed.output
    wrote = {line.split()[1] for line in changed.output.splitlines() if line.startswith("wrote")}
    assert wrote == {f"{root}/etc/romana/agent.toml", f"{root}/etc/romana/agent.password"}
    assert stat.S_IMODE((root / "etc/romana/agent.password").stat().st_mode) == 0o600


def test_uninstall_removes_exactly_what_install_wrote(tmp_path: Path, prefix: Path) -> None:
    root = tmp_path / "root"
    other = root / "etc/cni/net.d/99-other.conflist"
    other.parent.mkdir(parents=True)
    other.write_text("{}")
    assert install(root, prefix, *HOST_ARGS).exit_code == 0
    done = install(root, prefix, "--uninstall", input="")
    assert done.exit_code == 0, done.output
    assert tree(root) == {"/etc/cni/net.d/99-other.conflist": "0o644"}
    assert not (root / "etc/romana").exists()  # left empty: removed
    assert sorted(line.split()[1] for line in done.output.splitlines()) == sorted(
        f"{root}{p}" for p in [*FILES, FRONT]
    )
    assert install(root, prefix, "--uninstall", input="").output == ""  # nothing left to do


def test_uninstall_keeps_a_front_link_that_is_not_ours(tmp_path: Path, prefix: Path) -> None:
    root = tmp_path / "root"
    assert install(root, prefix, *HOST_ARGS).exit_code == 0
    link = root / FRONT.lstrip("/")
    link.unlink()
    link.symlink_to("/usr/lib/cni/other")
    done = install(root, prefix, "--uninstall", input="")
    assert "kept       " in done.output and "points at /usr/lib/cni/other" in done.output
    assert os.readlink(link) == "/usr/lib/cni/other"


@pytest.mark.parametrize(
    ("args", "flag", "rule"),
    [
        (("--url", "ctl-1:9600", "--labels", "rack=1"), "--url", "must start with http://"),
        (("--url", "http://c:9600", "--labels", "rack"), "--labels", "must be key=value"),
        (("--url", "http://c:9600", "--labels", "ra ck=1"), "--labels", "key 'ra ck'"),
        (("--url", "http://c:9600", "--labels", "r=1", "--firewall", "pf"), "--firewall", "one of"),
        (("--url", "http://c:9600", "--labels", "r=1", "--ca", "ca.crt"), "--ca", "absolute"),
        (("--labels", "r=1"), "--url", "at least one romanad URL"),
    ],
)
def test_bad_input_names_the_flag_and_writes_nothing(
    tmp_path: Path, prefix: Path, args: tuple[str, ...], flag: str, rule: str
) -> None:
    root = tmp_path / "root"
    done = install(root, prefix, *args, "--password-stdin")
    assert done.exit_code != 0
    assert flag in done.output and rule in done.output, done.output
    assert not root.exists()


def test_every_problem_is_reported_at_once(prefix: Path) -> None:
    options = hostinstall.HostOptions(
        url=("ftp://x",), labels=("nokey",), password="", firewall="pf", prefix=prefix
    )
    with pytest.raises(errors.InvalidInput) as info:
        hostinstall.host_plan(options, "node1")
    assert {i.field for i in info.value.issues} == {
        "--url",
        "--labels",
        "--firewall",
        "--password-file",
    }


def test_a_missing_front_is_refused_before_anything_is_written(
    tmp_path: Path, prefix: Path
) -> None:
    (prefix / "bin" / "romana-cni").unlink()
    root = tmp_path / "root"
    done = install(root, prefix, *HOST_ARGS)
    assert done.exit_code != 0
    assert "--prefix" in done.output and "romana-cni does not exist" in done.output
    assert not root.exists()


def test_password_from_a_file_or_the_environment(tmp_path: Path, prefix: Path) -> None:
    secret = tmp_path / "agent-node1.password"
    secret.write_text("from-file\n")
    root = tmp_path / "root"
    args = HOST_ARGS[:-1]
    assert install(root, prefix, *args, "--password-file", str(secret)).exit_code == 0
    assert (root / "etc/romana/agent.password").read_text() == "from-file\n"
    argv = ["install", "host", "--root", str(root), "--prefix", str(prefix), *args]
    done = CliRunner().invoke(app, argv, env={"ROMANA_AGENT_PASSWORD": "from-env"})
    assert done.exit_code == 0, done.output
    assert (root / "etc/romana/agent.password").read_text() == "from-env\n"


def test_install_cni_links_or_copies_the_front_idempotently(tmp_path: Path, prefix: Path) -> None:
    runner = CliRunner()
    for copy, expected in ((False, f"-> {prefix}/bin/romana-cni"), (True, "0o755")):
        root = tmp_path / f"root-{copy}"
        argv = ["install", "cni", "--root", str(root), "--prefix", str(prefix)]
        argv += ["--copy"] if copy else []
        first = runner.invoke(app, argv)
        assert first.exit_code == 0, first.output
        assert tree(root) == {CONFLIST: "0o644", FRONT: expected}
        if copy:
            assert (root / FRONT.lstrip("/")).read_bytes() == b"\x7fELF front"
        assert runner.invoke(app, argv).output.count("unchanged") == 2
        assert runner.invoke(app, [*argv, "--uninstall"]).exit_code == 0
        assert tree(root) == {}


def test_the_shipped_units_are_valid_for_systemd(tmp_path: Path, prefix: Path) -> None:
    analyze = env.need_binary("systemd-analyze")
    units = Path(hostinstall.__file__).parent / "units"
    for unit in units.glob("*.service"):
        written = tmp_path / unit.name
        written.write_text(unit.read_text().replace("@PREFIX@", str(prefix)))
        done = subprocess.run(
            [analyze, "verify", str(written)], capture_output=True, text=True, timeout=60
        )
        problems = [
            line for line in done.stderr.splitlines() if unit.name in line and "Unknown" in line
        ]
        assert problems == [], done.stderr
    assert {u.name for u in units.glob("*.service")} == {
        "romana-agent.service",
        "romanad.service",
        "romana-listener.service",
    }
