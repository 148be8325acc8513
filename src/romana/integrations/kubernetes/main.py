"""Composition root for ``romana-listener``: Kubernetes API → listener → romanad's services.

``romana-listener --kube-api URL --store URL`` lists and watches Namespaces, Nodes, Pods,
NetworkPolicies, Services and ClusterNetworkPolicies and keeps the romanad services over the
given store in step (:mod:`romana.integrations.kubernetes.listener`). At start it brings
data an earlier release stored up to date (:mod:`romana.services.upgrade`). SIGTERM and
SIGINT stop it cleanly.

The listener never calls romanad; its one HTTP peer is the Kubernetes API server, which it
verifies against ``--ca`` (or the system's trust store) and may present ``--client-cert`` to.
Exit codes: 0 after a stop, 1 when the store or the API server fails, 2 for settings it
refuses before it starts: a ``--kube-api`` that is no http(s) URL, a token, password or TLS
file that cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from romana import config, logs, store
from romana.client.tls import client_context
from romana.core.errors import InvalidInput, RomanaError
from romana.core.kubernetes import translation
from romana.integrations.kubernetes import kubewatch, listener
from romana.services import kubesync, upgrade

log = logging.getLogger("romana.listener")


DESCRIPTION = """\
Keep romana in step with a Kubernetes cluster: list and watch its Namespaces, Nodes, Pods,
NetworkPolicies, Services and ClusterNetworkPolicies, and write what they mean (tenants,
hosts, segments, policies, VIPs) into romanad's store. It never calls romanad.
"""

EPILOG = """\
example:
  romana-listener --kube-api https://10.96.0.1:443 \\
      --token-file /var/run/secrets/kubernetes.io/serviceaccount/token \\
      --ca /var/run/secrets/kubernetes.io/serviceaccount/ca.crt \\
      --store sqlite:///var/lib/romana/romana.db

exit codes: 0 after a stop (SIGTERM, SIGINT); 1 the store or the API server failed; 2 a
usage error, or a --kube-api that is no http(s) URL, or a token, password or TLS file that
cannot be read.
"""


def parser() -> argparse.ArgumentParser:
    p = config.daemon_parser("romana-listener", DESCRIPTION, EPILOG)
    p.add_argument("--kube-api", required=True, help="Kubernetes API server URL")
    p.add_argument("--token-file", type=Path, help="file holding a bearer token")
    p.add_argument(
        "--ca",
        default="",
        help="CA certificate that verifies the Kubernetes API server (default: the system's)",
    )
    p.add_argument(
        "--client-cert", default="", help="client certificate for the Kubernetes API server"
    )
    p.add_argument("--client-key", default="", help="private key of --client-cert")
    p.add_argument("--store", required=True, help="romanad's store (sqlite:///path or etcd://…)")
    p.add_argument("--etcd-user", default="", help="etcd user, when etcd has auth enabled")
    p.add_argument(
        "--etcd-password-file", type=Path, help="file holding the password of --etcd-user"
    )
    p.add_argument(
        "--segment-label",
        default=translation.SEGMENT_LABEL,
        help="pod label naming the pod's segment (default %(default)s)",
    )
    p.add_argument(
        "--vip-pool",
        default=translation.VIP_POOL,
        help="external pool of the VIPs of LoadBalancer Services and Services with "
        "externalIPs, unless their romana.io/external-pool annotation names one "
        "(default %(default)s)",
    )
    p.add_argument("--log-level", default="info", choices=logs.LEVELS, help="how much to log")
    return p


def _secret(flag: str, path: Path | None) -> str:
    """The stripped content of the file ``flag`` names ("" without one); InvalidInput naming
    the flag when it cannot be read."""
    if path is None:
        return ""
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInput(f"{flag}: cannot read {str(path)!r}: {reason}") from exc


async def serve(args: argparse.Namespace) -> None:
    if not args.kube_api.startswith(("http://", "https://")):
        raise InvalidInput(f"--kube-api: {args.kube_api!r} must start with http:// or https://")
    token = _secret("--token-file", args.token_file)
    verify = client_context(args.ca, args.client_cert, args.client_key)
    client = kubewatch.KubeClient(args.kube_api, token, verify=verify)
    password = _secret("--etcd-password-file", args.etcd_password_file)
    db = store.open_store(args.store, etcd_user=args.etcd_user, etcd_password=password)
    # It writes to the store directly and may start before romanad: bring an earlier
    # release's data up to date first, as romanad does (idempotent).
    for note in upgrade.run(db):
        log.warning("%s", note)
    the_listener = listener.Listener(
        kubesync.ServicesRomanad(db),
        translation.Settings(segment_label=args.segment_label, vip_pool=args.vip_pool),
    )
    task = asyncio.create_task(the_listener.run(client))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await client.aclose()
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.setup(args.log_level)
    try:
        asyncio.run(serve(args))
    except InvalidInput as exc:  # settings refused before anything starts
        print(f"romana-listener: {exc}", file=sys.stderr)
        return 2
    except RomanaError as exc:
        print(f"romana-listener: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
