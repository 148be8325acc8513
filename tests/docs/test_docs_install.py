"""docs/install.md is current: every ``romana`` command line it shows exists with the options it
gives, and the names it quotes (release, image, capabilities, the init container's command, the
agent's probe address) are the ones :mod:`romana.deploy` renders."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import typer

from docs.test_docs_current import command_lines, prose
from romana import __version__
from romana.agent.settings import AgentSettings
from romana.cli import main as cli_main
from romana.deploy import kubeagent, layout

INSTALL = Path(__file__).resolve().parents[2] / "docs" / "install.md"
ROOT_FLAGS = {"--version", "--help"}
"""Options of ``romana`` itself that answer without a command."""


def test_every_romana_command_line_exists_with_its_options() -> None:
    root = typer.main.get_command(cli_main.app)
    lines = command_lines(prose(INSTALL), "romana")
    assert {"romana install host", "romana install kubernetes"} <= set(lines)
    for line in lines:
        cmd, known = root, {o for p in root.params for o in p.opts}
        words = shlex.split(line, comments=True)[1:]
        for word in words:
            if word.startswith("-") and word != "-":
                assert word.split("=")[0] in known, f"{line!r}: no option {word}"
            elif word in (commands := getattr(cmd, "commands", {})):
                cmd = commands[word]
                known |= {o for p in cmd.params for o in p.opts + p.secondary_opts}
        if cmd is root:
            assert ROOT_FLAGS & set(words), f"{line!r} names no command"
        else:
            assert not hasattr(cmd, "commands"), f"{line!r} names no command"


def test_the_release_and_image_named_are_the_packages() -> None:
    text = INSTALL.read_text()
    assert layout.IMAGE in text
    named = set(re.findall(r"romana[-:](\d+\.\d+\.\d+)", text))
    assert named == {__version__}, f"install.md names releases {sorted(named)}"


def test_what_the_agents_pod_gets_is_what_the_daemon_set_renders() -> None:
    text = " ".join(INSTALL.read_text().split())
    (capabilities,) = re.findall(r"exactly the capabilities (.*?); it is\s+not privileged", text)
    assert set(re.findall(r"`([A-Z_]+)`", capabilities)) == set(layout.AGENT_CAPABILITIES)
    install_cni = shlex.join(["romana", *kubeagent.install_cni_command()[1:]])
    assert f"runs `{install_cni}`" in text
    (default_metrics,) = [
        f.default for f in dataclasses.fields(AgentSettings) if f.name == "metrics"
    ]
    assert default_metrics == f"127.0.0.1:{kubeagent.METRICS_PORT}"
    assert f"probes on `{default_metrics}`" in text


def test_no_doc_sends_an_operator_to_curl_but_for_the_agents_own_socket() -> None:
    # romanad's API has a command for everything routine; only the agent's local debugging
    # API (state, recent drops on one host) has none, and is read over its socket.
    docs = [*sorted(INSTALL.parent.glob("*.md")), INSTALL.parents[1] / "README.md"]
    uses = [(doc.name, use) for doc in docs for use in re.findall(r"curl [^`\n]*", doc.read_text())]
    others = [u for u in uses if f"--unix-socket {layout.RUN_DIR}/agent.sock" not in u[1]]
    assert others == [], others
