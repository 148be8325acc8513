"""``romana-aws``: keeps the VPC route tables the topology names in step with its groups.

settings (``romana.config.load``: defaults < ``--config`` section ``[aws]`` < ``ROMANA_AWS_*``
< flags) → logging → romanad client → EC2 client (boto3, imported only now) → recorded routes
→ loop: every ``poll`` seconds read the topology from romanad; reconcile (:mod:`.publisher`)
when it changed, and every ``interval`` seconds in any case (instances stop and start without
romanad knowing). ``--once`` reconciles once and exits.

Exit codes: 0 clean stop (SIGTERM, SIGINT) or, with ``--once``, a reconcile without refusal
or error; 1 a reconcile with ``--once`` that refused a table or failed a call, or a start-up
failure (boto3 missing, an unreadable route record); 2 invalid settings.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from romana import config, logs
from romana.client import Client, ClientSettings
from romana.client.tls import client_context
from romana.core import topology
from romana.core.errors import InvalidInput, RomanaError, Unauthorized
from romana.integrations.aws.owned import OwnedRoutes
from romana.integrations.aws.publisher import Publisher
from romana.integrations.aws.settings import AwsSettings

log = logging.getLogger("romana.aws")

DESCRIPTION = """\
Publish romana's topology groups to AWS VPC route tables.

For every topologies[] entry with an "aws" key, each leaf group holding hosts gets one route
per network of the entry (the group's aggregate prefix) in each route table the key names,
via the instance whose private address is the underlay ip of one of the group's hosts; that
instance's source/destination check is turned off. When the instance stops or terminates the
route moves to another running instance of the group. Only routes this process created
(recorded in STATE_DIR/routes.json) are ever replaced or deleted, and no route is added past a
table's route_limit.

AWS credentials come from boto3's standard chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, an instance
profile, ...); the IAM policy it needs is in docs/routing.md.
"""

EPILOG = """\
example:
  ROMANA_AWS_PASSWORD=... romana-aws --url https://romanad:9600 --username vpc-routes \\
      --region eu-west-1 --state-dir /var/lib/romana/aws
"""


def parser() -> argparse.ArgumentParser:
    p = config.daemon_parser("romana-aws", DESCRIPTION, EPILOG, "aws")
    p.add_argument(
        "--once",
        action="store_true",
        help="reconcile once and exit: 0 when every table is in step, 1 otherwise",
    )
    config.add_flags(p, AwsSettings)
    return p


def load_settings(
    argv: Sequence[str] | None, environ: dict[str, str]
) -> tuple[config.Loaded[AwsSettings], bool]:
    args = parser().parse_args(argv)
    skip = ("config", "once")
    overrides = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    loaded = config.load(
        AwsSettings, environ=environ, file=args.config, section="aws", overrides=overrides
    )
    return loaded, bool(args.once)


class _Topology:
    """The topology document from romanad, logging in again when the token is refused."""

    def __init__(self, client: Client, settings: AwsSettings) -> None:
        self._client = client
        self._settings = settings

    def read(self) -> dict[str, Any]:
        if self._settings.username and not self._client.token:
            self._client.login(self._settings.username, self._settings.password)
        try:
            return self._client.get_topology()
        except Unauthorized:
            if not self._settings.username:
                raise
            self._client.login(self._settings.username, self._settings.password)
            return self._client.get_topology()


def run(settings: AwsSettings, once: bool) -> int:
    # Imported here: boto3 is the optional extra romana[aws], and --help must work without it.
    try:
        from romana.integrations.aws.ec2 import Ec2
    except ImportError as exc:
        log.critical("boto3 is missing (install romana[aws]): %s", exc)
        return 1
    owned = OwnedRoutes(settings.state_dir)
    owned.load()
    publisher = Publisher(Ec2(settings.region, settings.endpoint_url), owned)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    client_settings = ClientSettings(
        url=settings.url,
        token=settings.token,
        ca=settings.ca,
        client_cert=settings.client_cert,
        client_key=settings.client_key,
        timeout=10.0,
        retries=2,
    )
    last: dict[str, Any] | None = None
    due = 0.0
    with Client(client_settings) as client:
        source = _Topology(client, settings)
        while not stop.is_set():
            try:
                document = source.read()
            except RomanaError as exc:
                log.error("cannot read the topology from romanad: %s", exc)
                if once:
                    return 1
                stop.wait(settings.poll)
                continue
            if document != last or time.monotonic() >= due:
                report = publisher.reconcile(topology.parse(document, stored=True))
                last, due = document, time.monotonic() + settings.interval
                if once:
                    return 0 if report.ok else 1
            stop.wait(settings.poll)
    log.info("stopping; the routes stay in place")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        loaded, once = load_settings(argv, dict(os.environ))
        client_context(loaded.settings.ca, loaded.settings.client_cert, loaded.settings.client_key)
    except InvalidInput as exc:
        print(f"romana-aws: {exc}", file=sys.stderr)
        return 2
    logs.setup(loaded.settings.log_level)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    try:
        return run(loaded.settings, once)
    except RomanaError as exc:
        log.critical("romana-aws cannot go on: %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
