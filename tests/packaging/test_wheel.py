"""The wheel and sdist: built as a packager builds them, installed as a cluster machine does.

One ``python -m build`` of this checkout (the sdist, then the wheel from it) and one fresh
virtual environment holding the wheel, installed with no C compiler on PATH, serve every test
here (:mod:`support.packaging`). The wheel must be a platform wheel carrying the compiled CNI
front as an executable script, so that the environment's ``bin/`` holds ``romana-cni`` beside
``romana-cni-py``; that front must answer VERSION (through the Python plugin it finds beside
itself) and forward ADD and DEL to a real agent of a lab cluster.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator

import pytest

from cni import cnilab
from romana.core import errors
from romana.lab import Cluster, cluster, topologies
from support import env, packaging

pytestmark = pytest.mark.slow

VERSION = "0.1.0"
EXECUTABLES = ("romana", "romanad", "romana-agent", "romana-cni", "romana-cni-py",
               "romana-listener", "romana-aws")  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> packaging.Built:
    env.need_binary("gcc")
    made = packaging.build(tmp_path_factory.mktemp("dist"))
    print(f"python -m build (sdist, wheel from it): {made.seconds:.1f} s")
    return made


@pytest.fixture(scope="module")
def installed(
    built: packaging.Built, tmp_path_factory: pytest.TempPathFactory
) -> packaging.Installed:
    made = packaging.install(built.wheel, tmp_path_factory.mktemp("venv") / "romana")
    print(f"pip install {built.wheel.name} into a fresh venv: {made.seconds:.1f} s")
    return made


def run(installed: packaging.Installed, argv: list[str], stdin: str = "", **extra: str) -> str:
    done = subprocess.run(
        argv, input=stdin, env={**installed.environ(), **extra}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done.stdout


def test_the_wheel_is_a_platform_wheel_carrying_the_front_as_an_executable_script(
    built: packaging.Built,
) -> None:
    # py3-none: no Python ABI (the front is static); the platform: the front is machine code.
    name, version, python, abi, platform = built.wheel.name.removesuffix(".whl").split("-")
    assert (name, version, python, abi) == ("romana", VERSION, "py3", "none")
    assert platform.startswith("linux_")
    with zipfile.ZipFile(built.wheel) as wheel:
        front = wheel.getinfo(f"romana-{VERSION}.data/scripts/romana-cni")
        assert wheel.read(front.filename).startswith(b"\x7fELF")
        mode = front.external_attr >> 16
        assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, oct(mode)
        assert "Root-Is-Purelib: false" in wheel.read(f"romana-{VERSION}.dist-info/WHEEL").decode()
        names = set(wheel.namelist())
    assert {"romana/py.typed", "romana/cli/main.py"} <= names


def test_the_sdist_holds_what_the_wheel_is_built_from(built: packaging.Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
        script = sdist.getmember(f"romana-{VERSION}/scripts/build-cni.sh")
    assert {
        "src/romana/integrations/cni/front/romana-cni.c",
        "scripts/hatch_build.py",
        "README.md",
        "pyproject.toml",
    } <= names
    assert script.mode & 0o111


def test_the_wheel_carries_every_data_file_of_the_package(built: packaging.Built) -> None:
    # Hatchling takes what git does not ignore: every non-Python file under src/romana
    # (the unit files, py.typed, ...) must reach the wheel, not only the modules.
    source = packaging.ROOT / "src"
    wanted = {
        str(path.relative_to(source))
        for path in (source / "romana").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    with zipfile.ZipFile(built.wheel) as wheel:
        assert wanted - set(wheel.namelist()) == set()


def test_every_executable_is_installed_and_starts_without_a_compiler(
    installed: packaging.Installed,
) -> None:
    for name in EXECUTABLES:
        assert os.access(installed.bin / name, os.X_OK), name
    for name in ("romanad", "romana-agent", "romana-listener", "romana-aws"):
        assert f"usage: {name}" in run(installed, [str(installed.bin / name), "--help"])


def test_the_installed_cli_reports_the_version_of_the_wheel(
    installed: packaging.Installed,
) -> None:
    assert VERSION in run(installed, [str(installed.bin / "romana"), "--version"])


def test_the_installed_front_answers_version(installed: packaging.Installed) -> None:
    # VERSION is the Python plugin's to answer: the front must find romana-cni-py beside it.
    out = run(
        installed, [str(installed.bin / "romana-cni")], '{"cniVersion":"1.1.0"}',
        CNI_COMMAND="VERSION",
    )  # fmt: skip
    assert "1.1.0" in json.loads(out)["supportedVersions"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    env.need_agent_lab("nsenter")
    workdir = tmp_path_factory.mktemp("lab")
    with cluster(workdir, "nftables", hosts=1, topology=topologies.pods()) as made:
        try:
            made.api.create_tenant("t1")
            yield made
        except BaseException:
            print(made.log_tails())
            raise


@pytest.mark.root
def test_the_installed_front_forwards_add_and_del_to_the_agent(
    installed: packaging.Installed, lab: Cluster
) -> None:
    nsenter = env.need_binary("nsenter")
    host = lab.hosts[0]
    agent = lab.agent(host)
    before = cnilab.snapshot(lab, host)
    workload = lab.lab.add_workload(host, "wheel")
    container = f"c-{lab.lab.prefix}-wheel"
    conf = json.dumps(cnilab.netconf(agent))

    def cni(command: str) -> subprocess.CompletedProcess[str]:
        # ROMANA_CNI_PY names no file: should the front not forward, it would fail to start
        # its Python plugin, so a success can only be the agent's answer.
        environ = {
            **cnilab.environ(command, container, workload.path),
            "PATH": installed.path,
            "ROMANA_AGENT_SOCKET": agent.socket,
            "ROMANA_CNI_PY": "/nonexistent/romana-cni-py",
        }
        # The runtime's PATH is the environment's bin/ alone, so nsenter is named absolutely.
        argv = [nsenter, f"--net={host.path}", "--", str(installed.bin / "romana-cni")]
        return subprocess.run(
            argv, input=conf, env=environ, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    added = cni("ADD")
    assert added.returncode == 0, f"{added.stdout}{added.stderr}"
    address = json.loads(added.stdout)["ips"][0]["address"].split("/")[0]
    held = lab.api.get_allocation(f"{container}:eth0")
    assert (held["tenant"], held["segment"], held["addresses"]) == ("t1", "default", [address])
    inside = lab.lab.run(workload, ["ip", "-o", "-4", "addr", "show", "eth0"]).stdout
    assert f"inet {address}/32 " in inside

    deleted = cni("DEL")
    assert deleted.returncode == 0, f"{deleted.stdout}{deleted.stderr}"
    # DEL answers once the endpoint is off the host; romanad's release follows it.
    assert cnilab.settle(lab, host, before), cnilab.snapshot(lab, host)
    with pytest.raises(errors.NotFound):
        lab.api.get_allocation(f"{container}:eth0")
