"""``romana explain`` and ``romana policy apply``: Kubernetes NetworkPolicy without Kubernetes.

``explain`` answers whether one pod may reach another on PROTO/PORT, and why, from a model:
romanad's (the Kubernetes objects the listener or ``policy apply`` stored, on romanad's
networks, hosts and tenants; :func:`romana.client.kube.cluster`), or with ``-f`` the given YAML
files (Namespaces, Nodes, Pods with labels and ``nodeName``, NetworkPolicies), offline. The
model is translated and compiled per host exactly as the listener and the agents do, then
walked (:mod:`romana.core.policy.explain`); no packet is sent.

``policy apply`` takes the same kinds of documents and keeps romanad in step through the
listener's own reconciliation (:func:`romana.services.kubesync.sync`), over romanad's REST
API as the logged-in user (:class:`romana.client.kube.KubeRomanad`): namespaces → tenants,
nodes → hosts, pod labels → segments and address-set members (from the pods' addresses),
NetworkPolicies → ``kube.*`` policies. The files are the whole desired state of the
``kube.*`` policies and sets: a NetworkPolicy left out of them is removed.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from romana.cli import context
from romana.client import kube as kube_client
from romana.core import addressing
from romana.core.errors import InvalidInput, NotFound
from romana.core.policy import explain as explain_mod
from romana.core.policy import kubeobjects, kubernetes
from romana.services import kubesync

FilesOption = Annotated[
    list[Path],
    typer.Option("--file", "-f", help="Kubernetes YAML (one or many documents); repeatable."),
]


def documents(paths: list[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        try:
            loaded = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"{path}: {exc}") from exc
        for doc in loaded:
            if isinstance(doc, dict) and doc.get("kind") == "List":
                out += [d for d in doc.get("items") or [] if isinstance(d, dict)]
            elif isinstance(doc, dict):
                out.append(doc)
    return out


def objects(docs: list[dict[str, Any]]) -> list[kubeobjects.KubeObject]:
    parsed, problems = [], []
    for i, doc in enumerate(docs):
        try:
            parsed.append(kubeobjects.parse(doc))
        except InvalidInput as exc:
            problems.append(f"document {i + 1}: {exc}")
    if problems:
        raise InvalidInput("; ".join(problems))
    return parsed


def explain(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="NAMESPACE/POD sending")],
    target: Annotated[str, typer.Option("--to", help="NAMESPACE/POD receiving")],
    port: Annotated[str, typer.Option("--port", help="PROTO/PORT, e.g. tcp/80")],
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
            "CIDR,TENANT,SEGMENT,ENDPOINT bits"
        ),
    ] = "10.0.0.0/8,4,4,8",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Whether a pod may reach another, and which policies and rules decided.

    Without -f the answer comes from romanad: the namespaces, pods and NetworkPolicies the
    listener or `romana policy apply` stored, on romanad's networks, hosts and tenants.

    Example: romana explain --from x/b --to x/a --port tcp/80
    """
    proto, _, number = port.partition("/")
    if proto.lower() not in ("tcp", "udp", "sctp") or not number.isdigit():
        raise InvalidInput("--port must be PROTO/PORT with PROTO tcp, udp or sctp")
    if files:
        cluster = _from_files(files, network)
    else:
        cluster = kube_client.cluster(context.state(ctx).client())
    known = {n.name for n in cluster.namespaces}
    for key in (source, target):
        namespace = key.partition("/")[0]
        if namespace not in known:
            raise NotFound(f"no namespace {namespace!r} (give the pod as NAMESPACE/NAME)")
        if cluster.pod(key).node not in cluster.hosts:
            raise NotFound(f"pod {key}: node {cluster.pod(key).node!r} is not a known host")
    result = explain_mod.explain(cluster, source, target, proto, int(number))
    verdict = "allowed" if result.allowed else "denied"
    if as_json:
        body = {
            "allowed": result.allowed,
            "egress": {"allowed": result.egress.allowed, "decided_by": result.egress.decided_by},
            "ingress": {"allowed": result.ingress.allowed, "decided_by": result.ingress.decided_by},
        }
        typer.echo(json.dumps(body, indent=2))
        return
    typer.echo(f"{source} -> {target} {proto.lower()}/{number}: {verdict}")
    for name, step in (("egress", result.egress), ("ingress", result.ingress)):
        typer.echo(f"  {name}: {'allowed' if step.allowed else 'denied'}")
        for line in step.decided_by:
            typer.echo(f"    {line}")


def _from_files(files: list[Path], network: str) -> explain_mod.Cluster:
    cidr, *bits = network.split(",")
    lay = addressing.layout("pods", cidr, *(int(b) for b in bits))
    parsed = objects(documents(files))
    namespaces = tuple(o for o in parsed if isinstance(o, kubeobjects.Namespace))
    pods = tuple(o for o in parsed if isinstance(o, kubeobjects.Pod))
    known = {n.name for n in namespaces}
    namespaces += tuple(
        kubeobjects.Namespace(n) for n in sorted({p.namespace for p in pods} - known)
    )
    nodes = [o.name for o in parsed if isinstance(o, kubeobjects.Node)]
    nodes += sorted({p.node for p in pods if p.node} - set(nodes))
    cluster = explain_mod.with_addresses(
        explain_mod.Cluster(
            {lay.name: lay},
            {n: i + 1 for i, n in enumerate(nodes)},
            namespaces,
            pods,
            tuple(o for o in parsed if isinstance(o, kubeobjects.NetworkPolicy)),
        )
    )
    if any(ipaddress.ip_address(ip) not in lay.cidr for p in cluster.pods for ip in p.ips):
        raise InvalidInput("pod addresses must lie inside --network")
    return cluster


def apply(
    ctx: typer.Context,
    files: FilesOption,
    segment_label: Annotated[
        str, typer.Option(help="pod label naming the pod's segment")
    ] = kubernetes.SEGMENT_LABEL,
) -> None:
    """Apply Kubernetes Namespace, Node, Pod and NetworkPolicy YAML, as the listener does.

    The files hold the whole desired state: kube.* policies of NetworkPolicies they no longer
    contain are removed. Pods give their labels and status.podIPs (address-set members).

    Example: romana policy apply -f namespaces.yaml -f pods.yaml -f policies.yaml
    """
    parsed = objects(documents(files))
    target = kube_client.KubeRomanad(context.state(ctx).client())

    def of(kind: type[kubeobjects.KubeObject]) -> list[Any]:
        return [o for o in parsed if isinstance(o, kind)]

    kubesync.sync(
        target,
        of(kubeobjects.Namespace),
        of(kubeobjects.Node),
        of(kubeobjects.Pod),
        of(kubeobjects.NetworkPolicy),
        kubernetes.Settings(segment_label=segment_label),
        kubesync.Owned(),
    )
    stored = sorted(target.policies())
    typer.echo(f"applied {len(parsed)} objects; kube policies now: {', '.join(stored) or '-'}")
