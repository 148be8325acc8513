"""Settings of romanad: store, listening address and TLS, which services, how to reach the root.

Built once by :func:`romana.config.load` (defaults < ``--config`` file section ``[romanad]`` <
``ROMANAD_*`` environment < command line) in ``romana.api.main`` and handed to
:func:`romana.api.app.create_app`; nothing else reads the environment.
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
from dataclasses import dataclass

from romana.config import named, named_setting, setting
from romana.core import vips
from romana.core.errors import Issues
from romana.logs import LEVELS
from romana.services import auth
from romana.services.instances import SERVICES
from romana.services.logins import LoginLimits


@dataclass(frozen=True, slots=True)
@named("ROMANAD_")
class RomanadSettings:
    store: str = named_setting(
        "sqlite:///var/lib/romana/romana.db",
        "Store URL: sqlite:///PATH, etcd://HOST:PORT[,HOST:PORT...][/PREFIX] or memory://.",
    )
    listen: str = named_setting(
        "127.0.0.1:9600",
        "HOST:PORT to serve on. An address other machines can reach needs --tls-cert and "
        "--tls-key (or --allow-plaintext).",
    )
    tls_cert: str = named_setting(
        "",
        "Certificate file (PEM, the chain after it) romanad serves HTTPS with; with "
        "--tls-key. Also presented as romanad's client certificate on its calls to --root.",
    )
    tls_key: str = named_setting("", "Private key file (PEM) of --tls-cert (keep it 0600).")
    tls_client_ca: str = named_setting(
        "",
        "CA certificate file (PEM): every client must present a certificate it signed "
        "(agents, the CLI and the other romanad processes too). Needs --tls-cert.",
    )
    ca: str = named_setting(
        "",
        "CA certificate file (PEM) that verifies the --root romanad's certificate when "
        "registering with it (default: the system's trust store).",
    )
    allow_plaintext: bool = named_setting(
        False,
        "Serve plain HTTP on an address other machines can reach: passwords and tokens cross "
        "the network in clear. Only behind a TLS-terminating proxy or on a closed lab network.",
    )
    trusted_proxies: tuple[str, ...] = named_setting(
        (),
        "IP addresses of the reverse proxies in front of romanad, comma-separated, whose "
        "X-Forwarded-For and X-Forwarded-Proto it takes (the client's address and scheme); "
        "from any other peer they are ignored. Default none: the client is the TCP peer.",
    )
    services: tuple[str, ...] = named_setting(
        SERVICES,
        "Services this process runs, comma-separated; the others answer 404 naming the service.",
    )
    root: str = named_setting(
        "",
        "URL of a root service elsewhere to register this process's services with; needed "
        "when 'root' is not among the services.",
    )
    advertise: str = named_setting(
        "",
        "URL under which clients reach this process (default: https://LISTEN with "
        "--tls-cert, else http://LISTEN; the host name when listening on every address).",
    )
    insecure: bool = named_setting(
        False,
        "Serve without authentication: every request acts as admin. For labs only, and only "
        "with a loopback --listen address.",
    )
    initial_topology: str = named_setting(
        "", "Topology document (JSON) applied at start when the store holds no topology yet."
    )
    credentials_file: str = named_setting(
        "/var/lib/romana/admin.credentials",
        "Where the first start writes the admin username, password and URL (mode 0600).",
    )
    admin_user: str = setting("admin", "Name of the admin user created at first start.")
    reset_admin: bool = named_setting(
        False,
        "Give the admin user a new password and rewrite the credentials file; every token "
        "of the admin user stops working.",
    )
    token_ttl: float = named_setting(
        86400.0,
        f"Seconds a token stays valid after login (finite, > 0, at most "
        f"{auth.MAX_TOKEN_TTL:.0f}: {auth.MAX_TOKEN_TTL / 86400:g} days); "
        "also how long a rotated-out signing key keeps verifying. Give every replica the "
        "same value.",
        flag=False,
    )
    vip_lease_ttl: float = named_setting(
        vips.DEFAULT_TTL,
        f"Seconds a VIP's lease lasts from its grant or last renewal ({vips.MIN_TTL:g}.."
        f"{vips.MAX_TTL:g}): how long a VIP stays with a host that stopped renewing (killed, "
        "cut off) before another host may take it over. Give every replica the same value.",
    )
    registration_ttl: float = named_setting(
        15.0, "Seconds a service registration lives; heartbeats every third of it.", flag=False
    )
    instance: str = named_setting(
        "",
        "Instance name under which services register (default: HOST:PORT of the advertise URL).",
        flag=False,
    )
    root_token: str = named_setting(
        "",
        "An admin's bearer token for registering with --root when the root uses another "
        "store (default: a token of romanad's internal identity, which may only register, "
        "signed with the shared store's key).",
        flag=False,
    )
    max_wait: float = named_setting(
        60.0, "Longest long-poll of the agent view, in seconds.", flag=False
    )
    view_settle: float = named_setting(
        0.05,
        "Seconds a long-polling agent view waits after a change before it answers, so a burst "
        "of changes (workloads starting) reaches agents as one view.",
        flag=False,
    )
    max_body_bytes: int = named_setting(
        4 * 1024 * 1024,
        "Largest request body, in bytes (policy and topology documents included); a larger "
        "one is answered 413 without being read.",
    )
    body_timeout: float = named_setting(
        10.0,
        "Seconds romanad waits for the next part of a request body before it answers 408 and "
        "closes the connection.",
    )
    body_deadline: float = named_setting(
        30.0,
        "Seconds romanad allows for a whole request body, however steadily it arrives, before "
        "it answers 408 and closes the connection.",
    )
    login_concurrency: int = named_setting(
        2,
        "Password checks (scrypt, about 16 MiB each) running at once; more logins wait "
        "login_wait seconds for a slot, then get 429 with Retry-After.",
        flag=False,
    )
    login_wait: float = named_setting(
        1.0,
        "Seconds a login waits for a free password-check slot before it is answered 429.",
        flag=False,
    )
    login_failures: int = named_setting(
        5,
        "Failed logins a user may have before each further failure doubles a lockout window "
        "(1 s, 2 s, 4 s, ... up to login_backoff_max); a client address may have four times "
        "as many. Counted per process.",
        flag=False,
    )
    login_backoff_max: float = named_setting(
        300.0,
        "Longest lockout window after failed logins, in seconds; failures older than this "
        "are forgotten.",
        flag=False,
    )
    audit_log: str = named_setting(
        "",
        "File the audit log (one JSON line per login, 401, 403 and change) is appended to, "
        "created with mode 0600 (default: stderr, with the other log lines).",
    )
    etcd_user: str = named_setting(
        "",
        "etcd user romanad authenticates as (etcd stores with auth enabled; needs a key prefix "
        "in the store URL, granted to this user only; docs/security.md).",
        flag=False,
    )
    etcd_password: str = named_setting("", "Password of etcd_user (never logged).", flag=False)
    log_level: str = named_setting("info", "debug, info, warning or error.", flag=False)

    def login_limits(self) -> LoginLimits:
        """The ``login_*`` settings as the login gate takes them."""
        return LoginLimits(
            concurrency=self.login_concurrency,
            wait=self.login_wait,
            free_failures=self.login_failures,
            backoff_max=self.login_backoff_max,
        )

    def validate(self) -> None:
        issues = Issues("romanad settings")
        host, _ = split_listen(self.listen, issues)
        if self.insecure and not is_loopback(host):
            issues.add(
                "insecure",
                "every request acts as admin, so romanad serves it on a loopback address only "
                f"(127.0.0.1, ::1 or localhost), not on {self.listen!r}",
            )
        self._validate_tls(host, issues)
        if bool(self.etcd_user) != bool(self.etcd_password):
            issues.add("etcd_user", "etcd_user and etcd_password go together")
        if self.etcd_user and not self.store.startswith("etcd://"):
            issues.add("etcd_user", "is for an etcd:// store only")
        for name in self.services:
            if name not in SERVICES:
                issues.add("services", f"unknown service {name!r}; known: {', '.join(SERVICES)}")
        if not self.services:
            issues.add("services", "at least one service is required")
        if "root" not in self.services and not self.root:
            issues.add("root", "a process that does not run 'root' needs --root URL")
        for name in ("root", "advertise"):
            value = getattr(self, name)
            if value and not value.startswith(("http://", "https://")):
                issues.add(name, f"{value!r} must start with http:// or https://")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_address(proxy)
            except ValueError:
                issues.add("trusted_proxies", f"{proxy!r} is not an IP address")
        if self.log_level not in LEVELS:
            issues.add("log_level", f"must be one of {', '.join(LEVELS)}")
        auth.check_ttl("token_ttl", self.token_ttl, issues, most=auth.MAX_TOKEN_TTL)
        for name in ("registration_ttl", "max_wait"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):  # nan and inf never expire
                issues.add(name, f"must be a finite number of seconds > 0, not {value!r}")
        if self.max_body_bytes < 1024:
            issues.add("max_body_bytes", "must be >= 1024")
        if not 0 < self.body_timeout <= 3600:
            issues.add("body_timeout", "must be > 0 and <= 3600 seconds")
        if not 0 < self.body_deadline <= 3600:  # also refuses nan and inf
            issues.add("body_deadline", "must be > 0 and <= 3600 seconds")
        if not 1 <= self.login_concurrency <= 64:
            issues.add("login_concurrency", "must be 1..64 password checks")
        if not 0 < self.login_wait <= 60:
            issues.add("login_wait", "must be > 0 and <= 60 seconds")
        if not 1 <= self.login_failures <= 1000:
            issues.add("login_failures", "must be 1..1000 failures")
        if not 1 <= self.login_backoff_max <= 86400:
            issues.add("login_backoff_max", "must be 1..86400 seconds")
        if not vips.MIN_TTL <= self.vip_lease_ttl <= vips.MAX_TTL:  # also refuses nan
            issues.add("vip_lease_ttl", f"must be {vips.MIN_TTL:g}..{vips.MAX_TTL:g} seconds")
        if not 0 <= self.view_settle <= 5:
            issues.add("view_settle", "must be 0..5 seconds")
        if not self.credentials_file:
            issues.add("credentials_file", "must be a path")
        issues.raise_if_any()

    def _validate_tls(self, host: str, issues: Issues) -> None:
        """TLS files in pairs, and no plain HTTP where other machines listen in, unless
        asked for. Whether the files load is checked at start (``romana.api.tls``)."""
        if bool(self.tls_cert) != bool(self.tls_key):
            issues.add("tls_cert", "--tls-cert and --tls-key go together")
        if self.tls_client_ca and not self.tls_cert:
            issues.add("tls_client_ca", "needs --tls-cert and --tls-key")
        if not (self.tls or self.allow_plaintext or self.insecure or is_loopback(host)):
            issues.add(
                "listen",
                f"{self.listen!r} is reachable from other machines, and plain HTTP would carry "
                "passwords and tokens in clear: give --tls-cert and --tls-key, or "
                "--allow-plaintext to serve plain HTTP anyway",
            )

    @property
    def tls(self) -> bool:
        """Whether romanad serves HTTPS."""
        return bool(self.tls_cert)

    @property
    def host(self) -> str:
        return split_listen(self.listen, Issues())[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen, Issues())[1]

    @property
    def url(self) -> str:
        """The URL clients use for this process."""
        if self.advertise:
            return self.advertise.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def instance_name(self) -> str:
        if self.instance:
            return self.instance
        netloc = self.url.split("://", 1)[1]
        return re.sub(r"[^A-Za-z0-9_.:-]", "-", netloc).lstrip(":-_.") or "romanad"


def is_loopback(host: str) -> bool:
    """True for a loopback IP address or ``localhost``; a host name could be anything."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_listen(listen: str, issues: Issues) -> tuple[str, int]:
    host, colon, port = listen.rpartition(":")
    host = host.strip("[]")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        issues.add("listen", f"{listen!r} must be HOST:PORT with a port of 1-65535")
        return host or "127.0.0.1", 9600
    return host, int(port)
