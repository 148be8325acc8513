"""A person who runs the CNI plugin by hand is told what it is, instead of a plugin waiting on
its standard input: ``--help``/``--version``, or a terminal as stdin, with no ``CNI_COMMAND``
print what it does, the CNI versions, its environment, exit codes and an example (exit 0).
A runtime's call (``CNI_COMMAND`` set, stdin not a terminal) is answered as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PLUGIN = [sys.executable, "-m", "romana.integrations.cni.main"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    return {**env, **extra}


def _teaches(out: str) -> None:
    assert out.startswith("romana-cni: romana's CNI plugin")
    assert "CNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" in out
    assert "ROMANA_AGENT_SOCKET (the agent's socket, default /run/romana/agent.sock)" in out
    assert "ROMANA_CNI_TIMEOUT (seconds, default 60)" in out
    assert "Example: echo" in out and "CNI_COMMAND=VERSION romana-cni-py" in out


@pytest.mark.parametrize("flag", ["--help", "-h", "--version"])
def test_help_flags_without_a_command_print_what_the_plugin_is(flag: str) -> None:
    done = subprocess.run(
        [*PLUGIN, flag], env=_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    _teaches(done.stdout)


def test_a_terminal_as_stdin_is_a_person_not_a_runtime() -> None:
    primary, secondary = os.openpty()
    try:
        done = subprocess.run(
            PLUGIN, env=_env(), stdin=secondary, capture_output=True, text=True, timeout=30
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert done.returncode == 0, done.stderr
    _teaches(done.stdout)


def test_a_runtime_without_a_command_still_gets_error_4() -> None:
    done = subprocess.run(PLUGIN, env=_env(), input="{}", capture_output=True, text=True)
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == 4


def test_a_command_with_a_help_flag_is_served_as_a_command() -> None:
    done = subprocess.run(
        [*PLUGIN, "--help"],
        env=_env(CNI_COMMAND="VERSION"),
        input='{"cniVersion": "1.0.0"}',
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cniVersion"] == "1.0.0"
