"""``romanad``: the composition root of the control plane.

The C allocator's setting (``romana.api.allocator``) → settings (``romana.config.load``:
defaults < ``--config`` section ``[romanad]`` < ``ROMANAD_*`` < flags) → TLS contexts
(``romana.api.tls``) → logging → a private store directory (``startup``) → store → refusal
of an empty store this machine ran on before → initial topology and admin credentials → app
→ uvicorn.
SIGTERM and SIGINT stop it gracefully: no new connections, long polls return their view at
once, other in-flight requests finish (5 s at most), services deregister from the root, the
store is closed.

The listening socket is bound before the store is opened: a romanad whose address is taken
(another romanad already serves there) stops having written nothing, and never deregisters
the instance of the one that serves there from its root.

Exit codes: 0 after a clean stop, 1 when the store cannot be opened, is empty although this
machine ran romanad on it before, or a background task failed, 2 for invalid settings or an
invalid initial topology, TLS files that cannot be loaded, or a listen address that cannot be
bound (in use, or not this machine's).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from romana import config, logs, store
from romana.api import allocator, credentials, heads, startup, tls
from romana.api.app import create_app
from romana.api.settings import RomanadSettings, is_loopback
from romana.core.errors import InvalidInput, RomanaError
from romana.core.store import Store
from romana.services import keys, upgrade
from romana.services.auth import AuthService
from romana.services.topology import TopologyService

log = logging.getLogger("romana.api.main")


DESCRIPTION = """\
Romana control plane: the REST API of tenants, topology, IPAM, policies and routes over one
store, and the root its clients (romana, romana-agent, the CNI plugin) discover services at.

Settings come from, in increasing priority: defaults, --config FILE (section [romanad]),
ROMANAD_<SETTING> environment variables, flags. Every setting is in docs/operations.md
(Configuration reference); unknown file keys are warned about in the log.
"""

EPILOG = """\
example:
  romanad --store sqlite:///var/lib/romana/romana.db --listen 10.0.0.1:9600 \\
      --tls-cert /etc/romana/romanad.crt --tls-key /etc/romana/romanad.key

The first start writes the admin credentials to --credentials-file; log in with
`romana --url URL login -u admin`.

exit codes: 0 clean stop; 1 the store cannot be opened, is empty although this machine ran
romanad on it before, or a background task failed; 2 invalid settings, files that cannot be
read (TLS, initial topology) or a listen address in use.
"""

_FLAGS: tuple[tuple[str, str], ...] = (
    ("store", "store URL (sqlite:///PATH, etcd://HOST:PORT, memory://)"),
    ("listen", "HOST:PORT to serve on"),
    ("services", "comma-separated services to run"),
    ("root", "URL of the root to register with"),
    ("advertise", "URL under which clients reach this process"),
    ("tls_cert", "certificate (PEM) to serve HTTPS with"),
    ("tls_key", "private key (PEM) of --tls-cert"),
    ("tls_client_ca", "require client certificates signed by this CA"),
    ("ca", "CA certificate that verifies the --root romanad"),
    ("allow_plaintext", "serve plain HTTP on a reachable address (passwords and tokens in clear)"),
    ("trusted_proxies", "proxies whose X-Forwarded-For and -Proto are taken (IP addresses)"),
    ("insecure", "disable authentication (labs)"),
    ("initial_topology", "topology JSON applied when the store has none"),
    ("credentials_file", "where the admin credentials are kept"),
    ("reset_admin", "set a new admin password"),
    ("max_body_bytes", "largest request body, in bytes"),
    ("body_timeout", "seconds between parts of a body"),
    ("body_deadline", "seconds for a whole body"),
    ("audit_log", "file the audit log is appended to (empty: stderr)"),
    ("log_level", "how much to log"),
)
"""Each flag of romanad: its setting and a short help (the setting's environment variable and
default are added to it)."""

_TYPES: dict[str, type] = {"max_body_bytes": int, "body_timeout": float, "body_deadline": float}
_SWITCHES = ("allow_plaintext", "insecure", "reset_admin")


def parser() -> argparse.ArgumentParser:
    p = config.daemon_parser("romanad", DESCRIPTION, EPILOG, "romanad")
    for name, short in _FLAGS:
        flag = "--" + name.replace("_", "-")
        text = config.flag_help(RomanadSettings, name, short)
        if name in _SWITCHES:
            p.add_argument(flag, action="store_true", default=None, help=text)
        elif name == "log_level":
            p.add_argument(flag, choices=logs.LEVELS, help=text)
        else:
            p.add_argument(flag, type=_TYPES.get(name, str), help=text)
    return p


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn's server, releasing long-polling agents as soon as a stop is signalled.

    uvicorn waits for open requests before it shuts the app down; a long poll would hold
    that wait for up to a minute, so the signal itself ends the polls (each returns its view).
    After a signalled stop, uvicorn would re-raise the signal to die of it; this server
    returns instead, so ``main`` closes the store and exits with its own status.
    """

    def __init__(self, on_exit: Callable[[], None], config: uvicorn.Config) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def _given(
    context: ssl.SSLContext,
) -> Callable[[uvicorn.Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
    """uvicorn's context factory, answering the context ``romana.api.tls`` built."""
    return lambda _config, _default: context


def bind(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` at ``port``, as asyncio's own server would
    bind them (``localhost`` may be ::1 and 127.0.0.1); OSError, every socket closed, when
    one of them cannot be bound."""
    bound: list[socket.socket] = []
    try:
        found = socket.getaddrinfo(
            host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


def load_settings(
    argv: Sequence[str] | None, environ: dict[str, str]
) -> tuple[RomanadSettings, tuple[str, ...]]:
    args = parser().parse_args(argv)
    overrides = {name: getattr(args, name) for name, _ in _FLAGS}
    loaded = config.load(
        RomanadSettings, environ=environ, file=args.config, section="romanad", overrides=overrides
    )
    return loaded.settings, loaded.warnings


def read_inputs(settings: RomanadSettings) -> dict[str, Any] | None:
    """The files romanad reads at start, checked before the store is opened or anything is
    written: the initial topology document (None without one), parsed; and a credentials
    file that is a file, if it exists. InvalidInput naming the setting otherwise."""
    if Path(settings.credentials_file).is_dir():
        raise InvalidInput(
            f"credentials_file: {settings.credentials_file!r} is a directory; give the path "
            "of a file (romanad writes the admin credentials there at its first start)"
        )
    if not settings.initial_topology:
        return None
    path = settings.initial_topology
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInput(f"initial_topology: cannot read {path!r}: {reason}") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"initial_topology: {path!r} is not a JSON document: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInput(
            f"initial_topology: {path!r} holds a JSON {type(document).__name__}, not an object "
            "(a topology document)"
        )
    return document


def prepare(settings: RomanadSettings, st: Store, topology: dict[str, Any] | None = None) -> None:
    """Start-up work: the initial ``topology`` document (from :func:`read_inputs`), the admin
    credentials, and an explicit isolation for every tenant stored by a release before
    tenants carried one."""
    if topology is not None and st.get(keys.TOPOLOGY) is None:
        TopologyService(st).apply(topology)
        log.info("applied the initial topology from %s", settings.initial_topology)
    for note in upgrade.run(st):
        log.warning("%s", note)
    credentials.ensure_admin(
        AuthService(st, token_ttl=settings.token_ttl),
        Path(settings.credentials_file),
        settings.admin_user,
        settings.url,
        reset=settings.reset_admin,
    )


def _refused(exc: RomanaError, failure: str = "") -> int:
    """Log why romanad cannot start and give its exit code: 2 for bad settings or input, as
    for a bad flag; 1 for anything else, logged after ``failure``."""
    if isinstance(exc, InvalidInput):
        log.error("%s", exc)
        return 2
    log.error("%s%s", failure, exc)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    allocator.release_large_buffers()  # before the first password check: scrypt's buffers
    try:
        settings, warnings = load_settings(argv, dict(os.environ))
        ssl_context = tls.server_context(settings)
        if settings.root:
            tls.outbound_context(settings)  # its files, checked before anything starts
        topology = read_inputs(settings)
    except InvalidInput as exc:
        print(f"romanad: {exc}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    try:
        logs.setup_audit(settings.audit_log)
    except OSError as exc:
        print(f"romanad: audit_log: cannot open {settings.audit_log!r}: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        log.warning("%s", warning)
    if ssl_context is None and not is_loopback(settings.host):
        log.warning(
            "--allow-plaintext: serving plain HTTP on %s, which other machines reach: every "
            "password and token sent to romanad crosses the network in clear",
            settings.listen,
        )
    try:
        sockets = bind(settings.host, settings.port)
    except OSError as exc:
        log.error("listen: cannot listen on %s: %s", settings.listen, exc.strerror or exc)
        return 2
    try:
        return _serve(settings, ssl_context, sockets, topology)
    finally:
        for sock in sockets:
            sock.close()


def _serve(
    settings: RomanadSettings,
    ssl_context: ssl.SSLContext | None,
    sockets: list[socket.socket],
    topology: dict[str, Any] | None,
) -> int:
    """Open the store, do the start-up work and serve on ``sockets`` until stopped."""
    signs = startup.previous_run(settings)
    try:
        for repair in startup.secure_store(settings):
            log.warning(
                "%s: romanad's state (signing key, password hashes) is for its owner only", repair
            )
        st = store.open_store(
            settings.store, etcd_user=settings.etcd_user, etcd_password=settings.etcd_password
        )
    except RomanaError as exc:
        return _refused(exc, "cannot open the store: ")
    try:
        try:
            startup.check_not_lost(settings, st, signs)
            prepare(settings, st, topology)
        except RomanaError as exc:
            return _refused(exc)
        app = create_app(settings, st)
        server = _Server(
            app.state.ctx.changes.release_waiters,
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
                http=heads.BoundedHead,
                # The client address is the TCP peer (docs/security.md, Logins) unless the peer
                # is a proxy the operator named: uvicorn would otherwise take X-Forwarded-For
                # from any loopback caller, so a local user could forge the audit log's source
                # and dodge the per-address login throttle.
                proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=list(settings.trusted_proxies) or None,
                lifespan="on",
                timeout_graceful_shutdown=5,
                ssl_context_factory=None if ssl_context is None else _given(ssl_context),
            ),
        )
        log.info(
            "romanad serving %s on %s (store %s)",
            ",".join(settings.services),
            settings.url,
            settings.store.partition("://")[0],
        )
        server.run(sockets=sockets)
        failed = bool(app.state.failed) or not server.started
    finally:
        st.close()
    log.info("romanad stopped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
