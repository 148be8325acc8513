"""Settings of the REST client: where romanad is, how to trust it, who we are, how patient to be.

Built once by :func:`romana.config.load` (defaults < file < environment < overrides) in a
composition root and handed to :class:`romana.client.Client`; the client never reads the
environment itself. The CLI extends these with its own fields (``romana.cli.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass

from romana.config import named, named_setting
from romana.core.errors import Issues

DEFAULT_URL = "http://127.0.0.1:9600"


@dataclass(frozen=True, slots=True)
@named("ROMANA_")
class ClientSettings:
    url: tuple[str, ...] = named_setting(
        (DEFAULT_URL,),
        "Root URL(s) of romanad, comma-separated; the client discovers every other service "
        "through the first root that answers.",
    )
    token: str = named_setting(
        "", "Bearer token sent with every request (from `romana login` when empty)."
    )
    ca: str = named_setting(
        "",
        "CA certificate file (PEM) that verifies romanad's certificate on https:// URLs; "
        "only this CA is trusted (default: the system's trust store). Verification is "
        "always on.",
    )
    client_cert: str = named_setting(
        "",
        "Client certificate file (PEM) presented to a romanad that requires one "
        "(--tls-client-ca); with client_key.",
    )
    client_key: str = named_setting("", "Private key file (PEM) of client_cert.")
    timeout: float = named_setting(10.0, "Seconds to wait for a response.")
    connect_timeout: float = named_setting(2.0, "Seconds to wait for a connection.", flag=False)
    retries: int = named_setting(
        4,
        "Further attempts of an idempotent call after an unavailable service or a lost "
        "connection, each on another instance when one exists.",
        flag=False,
    )
    backoff: float = named_setting(
        0.1,
        "Seconds of the first back-off between rounds of retries; doubles each round, "
        "with full jitter.",
        flag=False,
    )
    backoff_max: float = named_setting(2.0, "Upper bound, in seconds, of one back-off.", flag=False)
    directory_ttl: float = named_setting(
        5.0,
        "Seconds the list of service instances is reused before it is fetched again.",
        flag=False,
    )
    discover: bool = named_setting(
        True,
        "Route each call to an instance of its service found through the root; when false "
        "every call goes to the root URL(s).",
        flag=False,
    )

    def validate(self) -> None:
        issues = Issues("client settings")
        check_client(self, issues)
        issues.raise_if_any()


def check_client(settings: ClientSettings, issues: Issues) -> None:
    """Add every problem of the client fields to ``issues``."""
    if not settings.url:
        issues.add("url", "at least one root URL is required")
    for i, url in enumerate(settings.url):
        if not url.startswith(("http://", "https://")):
            issues.add(f"url[{i}]", f"{url!r} must start with http:// or https://")
    for name in ("timeout", "connect_timeout", "backoff", "backoff_max"):
        if getattr(settings, name) <= 0:
            issues.add(name, "must be > 0")
    if bool(settings.client_cert) != bool(settings.client_key):
        issues.add("client_cert", "client_cert and client_key go together")
    if settings.retries < 0:
        issues.add("retries", "must be >= 0")
    if settings.directory_ttl < 0:
        issues.add("directory_ttl", "must be >= 0")
