"""Settings of ``romana-aws``: where romanad is, how to reach EC2, where ownership is kept.

Built once by :func:`romana.config.load` in :mod:`romana.integrations.aws.main` (defaults <
TOML file section ``[aws]`` < ``ROMANA_AWS_*`` environment < command-line flags) and handed to
the publisher; nothing else reads the environment. AWS credentials are not settings: boto3
finds them through its standard chain (environment, shared files, instance profile).
:meth:`AwsSettings.validate` reports every problem at once, before any side effect.
"""

from __future__ import annotations

from dataclasses import dataclass

from romana import config
from romana.config import named, named_setting
from romana.core.errors import Issues

DEFAULT_STATE_DIR = "/var/lib/romana/aws"


@dataclass(frozen=True, slots=True)
@named("ROMANA_AWS_")
class AwsSettings:
    url: tuple[str, ...] = named_setting(
        ("http://127.0.0.1:9600",),
        "romanad root URL(s), comma-separated; the topology is read from the first that answers.",
    )
    ca: str = named_setting(
        "", "CA certificate file (PEM) that verifies romanad on https:// URLs (default: system's)."
    )
    client_cert: str = named_setting(
        "", "Client certificate file (PEM) presented to romanad; with --client-key."
    )
    client_key: str = named_setting("", "Private key file (PEM) of --client-cert (keep it 0600).")
    token: str = named_setting("", "Bearer token of a user that may read the topology.")
    username: str = named_setting(
        "",
        "User to log in as instead of --token (role service or admin: they read the whole "
        "topology); logs in again when romanad refuses the token.",
    )
    password: str = named_setting("", "Password of --username (never logged).", flag=False)
    insecure: bool = named_setting(False, "Send no credentials (romanad runs with --insecure).")
    region: str = named_setting(
        "", "AWS region of the route tables (empty: boto3's own choice, e.g. AWS_REGION)."
    )
    endpoint_url: str = named_setting(
        "", "EC2 endpoint URL instead of the region's (a test server such as moto)."
    )
    state_dir: str = named_setting(
        DEFAULT_STATE_DIR,
        "Directory of routes.json, the routes this publisher created (the only ones it ever "
        "replaces or deletes).",
    )
    interval: float = named_setting(
        60.0,
        "Seconds between full reconciles (route tables and instance states read from EC2: "
        "the bound on how long a stopped next hop stays in a route).",
    )
    poll: float = named_setting(
        5.0,
        "Seconds between reads of romanad's topology; a changed topology is reconciled at once.",
    )
    log_level: str = named_setting("info", "debug, info, warning or error.")

    def validate(self) -> None:
        issues = Issues("aws settings")
        config.check_romanad_client(self, "ROMANA_AWS_PASSWORD", issues)
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            issues.add("endpoint_url", f"{self.endpoint_url!r} must start with http:// or https://")
        if not self.state_dir.startswith("/"):
            issues.add("state_dir", "must be an absolute path")
        if self.interval <= 0:
            issues.add("interval", "must be > 0")
        if self.poll <= 0:
            issues.add("poll", "must be > 0")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            issues.add("log_level", "must be debug, info, warning or error")
        issues.raise_if_any()
