"""``romana explain``: may one endpoint reach another on PROTO/PORT, and why — no packet sent.

Without ``-f`` the answer comes from romanad's whole model (:func:`romana.client.reach.model`)
for any endpoint: an address (allocated or not, or outside every romana network), an
allocation key, or a Kubernetes ``NAMESPACE/POD`` a sync stored. Each host's ruleset is the
one its agent enforces (:func:`romana.core.policy.hostrules.host_firewall`), walked by
:class:`romana.core.policy.reach.Explainer`, for Romana-native and Kubernetes policies alike.

With ``-f`` the given Kubernetes YAML is made into the model romanad would hold once the
listener synced it (:func:`romana.core.kubernetes.explain.offline_model`; pods without
addresses are placed on ``--network``) and answered by the same explainer, in the same words
and JSON.

The model and the explainer are imported inside the command: the CLI stays fast to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from romana.cli import context, output
from romana.cli.commands import kube

if TYPE_CHECKING:
    from romana.core.policy import reach


def explain(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option("--from", help="sender: address, allocation key or NAMESPACE/POD"),
    ],
    target: Annotated[
        str,
        typer.Option("--to", help="receiver: address, allocation key or NAMESPACE/POD"),
    ],
    port: Annotated[
        str, typer.Option("--port", help="tcp/PORT, udp/PORT, sctp/PORT, icmp or icmp/TYPE")
    ],
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            "-f",
            help="Kubernetes YAML to evaluate offline (repeatable); without it, romanad's model.",
        ),
    ] = None,
    network: Annotated[
        str,
        typer.Option(
            help="with -f, the address plan for pods without addresses: "
            "CIDR,TENANT,SEGMENT,ENDPOINT bits (a pod without a node runs on the first node "
            "the files name)"
        ),
    ] = "10.0.0.0/8,4,4,8",
    as_json: Annotated[bool, typer.Option("--json", help="Same as -o json.")] = False,
    out: context.OutputOption = None,
) -> None:
    """Whether one endpoint may reach another, and which policy, rule or default decided.

    Without -f the answer comes from romanad: its networks, hosts, tenants (and their
    isolation mode), policies, address sets, allocations and stored Kubernetes objects.
    An outside address (no romana network holds it) is judged as ipBlock/cidr rules see it.
    Needs a user who may read the whole model (admin, service or agent).

    Example: romana explain --from web-1 --to 10.1.33.2 --port tcp/80 -o json

    Offline, Kubernetes YAML: romana explain --from x/b --to x/a --port tcp/80 -f cluster.yaml
    """
    from romana.core.policy import reach as reach_mod

    probe = reach_mod.Probe.parse(port)
    if files:
        from romana.core.kubernetes import explain as offline

        model = offline.offline_model(kube.documents(files), network, (source, target))
    else:
        from romana.client import reach as reach_client

        model = reach_client.model(context.state(ctx).client())
    result = reach_mod.Explainer(model).explain(source, target, probe)
    fmt = output.Format.json if as_json else context.state(ctx).fmt(out)
    if fmt is not output.Format.table:
        output.emit(result.to_dict(), fmt)
        return
    for line in lines(source, target, result):
        typer.echo(line)


def lines(source: str, target: str, result: reach.Explanation) -> list[str]:
    verdict = "allowed" if result.allowed else "denied"
    out = [
        f"{source} -> {target} {result.probe}: {verdict}",
        f"  from {result.source}",
        *(f"    ({note})" for note in result.source.notes),
        f"  to   {result.target}",
        *(f"    ({note})" for note in result.target.notes),
    ]
    for name, step in (("egress", result.egress), ("ingress", result.ingress)):
        where = f" at host {step.host}" if step.host else ""
        out.append(f"  {name}{where}: {'allowed' if step.allowed else 'denied'}")
        out += [f"    {line}" for line in step.decided_by]
        rule = step.rule
        if rule is not None and rule.networkpolicy is not None:
            out.append(f"    as {rule.action} policy {rule.policy} {rule.path}, peer {rule.peer}")
        elif rule is not None:
            out.append(f"    peer {rule.peer}")
    out += [f"  note: {note}" for note in result.notes]
    return out
