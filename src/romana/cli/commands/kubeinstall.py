"""``romana install kubernetes``: print (or write) romana's Kubernetes manifests.

The manifests are rendered by :mod:`romana.deploy.kubernetes` from the one layout of an
installation; this command only chooses the options and where the YAML goes. It never
reaches romanad or the Kubernetes API: apply its output with ``kubectl apply -f``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from romana.deploy import kubernetes

_DEFAULTS = kubernetes.Options()


def kubernetes_manifests(
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="romanad's https:// URL as every node reaches it with the node's own resolver "
            "(an address, or a name in the nodes' DNS; not a cluster DNS name, which answers "
            "only once romana has given pods addresses). romanad's certificate must name it.",
        ),
    ],
    image: Annotated[
        str,
        typer.Option("--image", help="Image of every romana container (push it to your registry)."),
    ] = _DEFAULTS.image,
    store: Annotated[
        str,
        typer.Option(
            "--store",
            help="romanad's store: sqlite (a PersistentVolumeClaim shared by romanad and the "
            "listener) or an etcd://HOST:PORT[,HOST:PORT...][/PREFIX] URL.",
        ),
    ] = _DEFAULTS.store,
    storage_class: Annotated[
        str,
        typer.Option(
            "--storage-class",
            help="StorageClass of the SQLite volume (default: the cluster's default).",
        ),
    ] = _DEFAULTS.storage_class,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write the manifests to this file instead of stdout."),
    ] = None,
) -> None:
    """Print the Kubernetes manifests of romana (namespace romana): romanad, the listener,
    the agent DaemonSet, their service accounts, RBAC and settings.

    Example: romana install kubernetes --image registry.example/romana:0.1.0 \\
        --url https://10.0.0.1:9600 | kubectl apply -f -
    """
    options = kubernetes.Options(image=image, store=store, storage_class=storage_class, url=url)
    text = kubernetes.to_yaml(kubernetes.render(options))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
