"""``romana policy apply`` and ``romana explain -f``: Kubernetes NetworkPolicy without Kubernetes.

:func:`documents` and :func:`objects` read Kubernetes YAML (Namespaces, Nodes, Pods with
labels and ``nodeName``, NetworkPolicies) as the API server would hold it, for both
commands. :func:`offline_model` makes them into the model ``romana explain -f`` answers
from, offline (:mod:`romana.cli.commands.explain`).

``policy apply`` takes the same kinds of documents and keeps romanad in step through the
listener's own reconciliation (:func:`romana.services.kubesync.sync`), over romanad's REST
API as the logged-in user (:class:`romana.client.kube.KubeRomanad`): namespaces → tenants,
nodes → hosts, pod labels → segments and address-set members (from the pods' addresses),
NetworkPolicies → ``kube.*`` policies. The files are the whole desired state of what such
syncs derived: a policy or set derived from a NetworkPolicy the files no longer hold is
removed; a policy anyone else stored under a ``kube.`` id is not. Namespaces' tenants are
created in ``kubernetes`` isolation mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from romana.cli import context
from romana.client import kube as kube_client
from romana.core import addressing
from romana.core.errors import InvalidInput, NotFound
from romana.core.policy import endpoints, kubemodel, kubeobjects, kubernetes
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
    """The documents as the API server would hold them (Namespaces carry their name label)."""
    parsed, problems = [], []
    for i, doc in enumerate(docs):
        try:
            parsed.append(kubeobjects.admitted(kubeobjects.parse(doc)))
        except InvalidInput as exc:
            problems.append(f"document {i + 1}: {exc}")
    if problems:
        raise InvalidInput("; ".join(problems))
    return parsed


def offline_model(files: list[Path], network: str, names: tuple[str, str]) -> endpoints.Model:
    """``romana explain -f``: the model romanad would hold for the YAML in ``files``.

    Pods without addresses are placed on ``network`` (CIDR,TENANT,SEGMENT,ENDPOINT bits);
    a NAMESPACE/POD among ``names`` that the files lack is named as missing from them."""
    cidr, *bits = network.split(",")
    try:
        lay = addressing.layout("pods", cidr, *(int(b) for b in bits))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"--network {network!r}: CIDR,TENANT,SEGMENT,ENDPOINT bits") from exc
    cluster = kubemodel.of_objects(objects(documents(files)), {lay.name: lay})
    outside = [f"{p.key} ({ip})" for p in cluster.pods for ip in p.ips if ip not in lay.cidr]
    if outside:
        raise InvalidInput(f"pod addresses must lie inside --network: {', '.join(outside)}")
    known = {n.name for n in cluster.namespaces}
    for name in names:
        namespace, slash, _ = name.partition("/")
        if slash and namespace not in known:
            raise NotFound(f"no namespace {namespace!r} in the given files (give NAMESPACE/POD)")
        if slash and all(p.key != name for p in cluster.pods):
            raise NotFound(f"no pod {name!r} in the given files")
    return kubemodel.model(cluster)


def apply(
    ctx: typer.Context,
    files: FilesOption,
    segment_label: Annotated[
        str, typer.Option(help="pod label naming the pod's segment")
    ] = kubernetes.SEGMENT_LABEL,
) -> None:
    """Apply Kubernetes Namespace, Node, Pod and NetworkPolicy YAML, as the listener does.

    The files hold the whole desired state: the kube.* policies derived from NetworkPolicies
    they no longer contain are removed (never a policy stored otherwise). Namespaces become
    tenants in kubernetes isolation mode. Pods give their labels and status.podIPs
    (address-set members).

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
