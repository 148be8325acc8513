"""``romana install host|cni``: put romana's files onto this machine (or under ``--root``).

Both commands compute a plan (:mod:`romana.deploy.hostinstall`) and apply or remove it; they
never reach romanad. ``--root DIR`` is a DESTDIR: files go under DIR, the paths inside them
stay the target machine's. The password of the agent user is read from ``--password-file``,
standard input, ``ROMANA_AGENT_PASSWORD`` or a prompt, in that order, and never printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from romana.cli import context
from romana.cli.commands import kubeinstall
from romana.core.errors import InvalidInput, Issue

if TYPE_CHECKING:
    # Imported by the commands that install: `romana --help` loads this module to list it.
    from romana.deploy import hostinstall

PASSWORD_VARIABLE = "ROMANA_AGENT_PASSWORD"
NEXT_STEP = "systemctl daemon-reload && systemctl enable --now romana-agent"

app = context.group(
    "Install romana onto this machine: the agent's unit, configuration and secret, and the "
    "CNI plugin. Nothing here talks to romanad.\n\n"
    "Example: romana install host --url https://ctl-1:9600 --labels rack=r1 "
    "--password-file agent-node1.password"
)

RootOption = Annotated[
    Path,
    typer.Option(
        "--root",
        help="Write under this directory instead of / (paths inside the files stay the "
        "target machine's).",
    ),
]
PrefixOption = Annotated[
    Path | None,
    typer.Option(
        "--prefix",
        help="Installation whose bin/ holds romana-agent and romana-cni (default: the one "
        "running this command).",
    ),
]
UninstallOption = Annotated[
    bool, typer.Option("--uninstall", help="Remove what this command writes, and nothing else.")
]


def _password(password_file: Path | None, stdin: bool) -> str:
    if password_file is not None:
        try:
            return password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            rule = f"{password_file}: {exc.strerror}"
            raise InvalidInput([Issue("--password-file", rule)]) from exc
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if os.environ.get(PASSWORD_VARIABLE):
        return os.environ[PASSWORD_VARIABLE]
    return str(typer.prompt("Password of the agent user", hide_input=True))


def _print(report: hostinstall.Report, root: Path) -> None:
    from romana.deploy import hostinstall

    for verb, paths in (
        ("wrote", report.written),
        ("unchanged", report.unchanged),
        ("removed", report.removed),
    ):
        for path in paths:
            typer.echo(f"{verb:<10} {hostinstall.under(root, path)}")
    for path, why in report.kept:
        typer.echo(f"{'kept':<10} {hostinstall.under(root, path)} ({why})")


@app.command("host")
def host(
    url: Annotated[
        list[str] | None,
        typer.Option("--url", help="romanad root URL; repeat or separate by commas for more."),
    ] = None,
    labels: Annotated[
        list[str] | None,
        typer.Option("--labels", help="Topology labels of this host, key=value[,key=value]."),
    ] = None,
    firewall: Annotated[str, typer.Option(help="nftables or iptables.")] = "nftables",
    username: Annotated[
        str, typer.Option(help="Agent user (default: agent-HOST, as agent-credential names it).")
    ] = "",
    host_name: Annotated[
        str, typer.Option("--host", help="Name the agent registers (default: the host name).")
    ] = "",
    ca: Annotated[str, typer.Option(help="CA certificate (absolute path) verifying romanad.")] = "",
    interface: Annotated[
        str, typer.Option(help="Underlay interface (default: the default route's).")
    ] = "",
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            help="File holding the agent user's password (from romana agent-credential create).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    root: RootOption = Path("/"),
    uninstall: UninstallOption = False,
    prefix: PrefixOption = None,
) -> None:
    """Make this machine a romana host: write the agent's systemd unit
    (/etc/systemd/system/romana-agent.service), its configuration (/etc/romana/agent.toml),
    the agent user's password (/etc/romana/agent.password, mode 0600) and the CNI network
    configuration, and link the CNI front into /opt/cni/bin. Files already as planned are left
    alone, so running it again changes nothing. The password comes from --password-file,
    --password-stdin, ROMANA_AGENT_PASSWORD or a prompt.

    Example: romana install host --url https://ctl-1:9600 --url https://ctl-2:9600
    --labels rack=r1,zone=z1 --ca /etc/romana/tls/ca.crt --password-file agent-node1.password

    Example: romana install host --uninstall
    """
    import socket

    from romana.deploy import hostinstall

    where = (prefix or hostinstall.default_prefix()).absolute()
    if uninstall:
        _print(hostinstall.remove(hostinstall.host_removal(where), root), root)
        return
    options = hostinstall.HostOptions(
        url=_split(url),
        labels=_split(labels),
        password=_password(password_file, password_stdin),
        firewall=firewall,
        username=username,
        host=host_name,
        ca=ca,
        interface=interface,
        prefix=where,
    )
    plan = hostinstall.host_plan(options, socket.gethostname())
    report = hostinstall.apply(plan, root)
    _print(report, root)
    if root == Path("/"):
        typer.echo(f"next: {NEXT_STEP}")


@app.command("cni")
def cni(
    root: RootOption = Path("/"),
    copy: Annotated[
        bool,
        typer.Option(
            "--copy",
            help="Copy the front instead of linking it (when ROOT is another file system, "
            "as in the agent's init container).",
        ),
    ] = False,
    uninstall: UninstallOption = False,
    prefix: PrefixOption = None,
) -> None:
    """Install the CNI plugin: the compiled front into /opt/cni/bin (a symlink to this
    installation's, or a copy with --copy) and the network configuration
    /etc/cni/net.d/10-romana.conflist. Files already as planned are left alone.

    Example: romana install cni --root /host --copy
    """
    from romana.deploy import hostinstall

    where = (prefix or hostinstall.default_prefix()).absolute()
    if uninstall:
        _print(hostinstall.remove(hostinstall.cni_removal(where, copy=copy), root), root)
        return
    _print(hostinstall.apply(hostinstall.cni_plan(where, copy=copy), root), root)


def _split(values: list[str] | None) -> tuple[str, ...]:
    """Repeated options and comma-separated values alike, as one tuple."""
    return tuple(part.strip() for v in values or () for part in v.split(",") if part.strip())


app.command("kubernetes")(kubeinstall.kubernetes_manifests)
