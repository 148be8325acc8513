"""``romana policy apply`` and ``romana explain -f``: Kubernetes NetworkPolicy without Kubernetes.

:func:`documents` reads Kubernetes YAML (Namespaces, Nodes, Pods with labels and
``nodeName``, NetworkPolicies, ClusterNetworkPolicies) for both commands; it only loads the
YAML (a ``List`` gives its items), and never reads an object itself.

``policy apply`` posts the documents to romanad (``POST /v1/kube/apply``,
:func:`romana.client.kube.apply`) as the logged-in user; romanad parses them and runs the
listener's own sync (:func:`romana.core.kubernetes.sync.apply`): namespaces → tenants, nodes
→ hosts, pod labels → segments and address-set members (from the pods' addresses),
NetworkPolicies → ``kube.*`` policies, ClusterNetworkPolicies → tiered ``kube.cnp:*``
policies. The files are the whole desired state of what such syncs derived: a policy or set
derived from a NetworkPolicy the files no longer hold is removed; a policy anyone else
stored under a ``kube.`` id is not. Namespaces' tenants are created in ``kubernetes``
isolation mode.

``explain -f`` makes the documents into the model romanad would hold, offline
(:func:`romana.core.kubernetes.explain.offline_model`).

PyYAML and the client are imported by the commands that use them, not by ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.core.errors import InvalidInput
from romana.core.kubernetes import SEGMENT_LABEL

FilesOption = Annotated[
    list[Path],
    typer.Option("--file", "-f", help="Kubernetes YAML (one or many documents); repeatable."),
]


def documents(paths: list[Path]) -> list[dict[str, Any]]:
    """The objects of every file. A file that holds no document at all (empty, or comments
    only) is refused: applied as the whole desired state, it would remove every policy an
    earlier apply derived; ``kind: List`` with no items says that on purpose."""
    import yaml

    out: list[dict[str, Any]] = []
    for path in paths:
        try:
            loaded = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except OSError as exc:
            raise InvalidInput(f"{path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path}: not YAML: {' '.join(str(exc).split())}") from exc
        if not loaded:
            raise InvalidInput(
                f"{path}: holds no Kubernetes objects (to remove every object an earlier "
                "apply derived, give a `kind: List` with `items: []`)"
            )
        for doc in loaded:
            if isinstance(doc, dict):
                out += _unlisted(doc)
    return out


def _unlisted(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of a list document, else ``[doc]``. kubectl's ``kind: List`` carries each
    item's kind; a typed list (``NetworkPolicyList``, what the API's list call answers) leaves
    it out of its items, which then take the list's kind less ``List`` and its apiVersion."""
    kind = doc.get("kind")
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list)):
        return [doc]
    typed = {"apiVersion": doc.get("apiVersion"), "kind": kind[: -len("List")]}
    items = [d for d in doc["items"] if isinstance(d, dict)]
    return items if kind == "List" else [{**typed, **d} for d in items]


def apply(
    ctx: typer.Context,
    files: FilesOption,
    segment_label: Annotated[
        str, typer.Option(help="pod label naming the pod's segment")
    ] = SEGMENT_LABEL,
    out: context.OutputOption = None,
) -> None:
    """Apply Kubernetes Namespace, Node, Pod, NetworkPolicy and Service YAML, as the listener does.

    The files hold the whole desired state: the kube.* policies derived from NetworkPolicies
    they no longer contain are removed (never a policy stored otherwise). A file holding no
    object at all is refused; `kind: List` with `items: []` removes them all on purpose.
    ClusterNetworkPolicies (policy.networking.k8s.io/v1alpha2) become tiered policies
    kube.cnp:NAME (admin or baseline tier); an invalid one is refused with every problem
    named, and nothing changes. Namespaces become tenants in kubernetes isolation mode. Pods
    give their labels and status.podIPs (address-set members). LoadBalancer Services and
    Services with externalIPs get VIPs (pool: their romana.io/external-pool annotation, else
    "kubernetes"), pods annotated romana.io/external-ip external IPs (docs/external.md).

    Example: romana policy apply -f namespaces.yaml -f pods.yaml -f policies.yaml
    """
    from romana.client import kube as kube_client

    docs = documents(files)
    state = context.state(ctx)
    applied = kube_client.apply(state.client(), docs, segment_label)
    fmt = state.fmt(out)
    if fmt is not output.Format.table:
        output.emit(applied, fmt)  # refusals and notes included
        return
    for refusal in applied["refused"]:
        typer.echo(f"not written: {refusal['object']}: {refusal['reason']}", err=True)
    for note in applied.get("notes") or []:
        typer.echo(f"note: {note}", err=True)
    stored = applied["policies"]
    typer.echo(
        f"applied {applied['objects']} objects; kube policies now: {', '.join(stored) or '-'}"
    )
