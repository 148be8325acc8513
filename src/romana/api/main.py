"""``romanad``: the composition root of the control plane.

The C allocator's setting (``romana.api.allocator``) → settings (``romana.config.load``:
defaults < ``--config`` section ``[romanad]`` < ``ROMANAD_*`` < flags) → TLS contexts
(``romana.api.tls``) → logging → a private store directory (``startup``) → store → refusal
of an empty store this machine ran on before → initial topology and admin credentials → app
→ uvicorn.
SIGTERM and SIGINT stop it gracefully: no new connections, long polls return their view at
once, other in-flight requests finish (5 s at most), services deregister from the root, the
store is closed.

Exit codes: 0 after a clean stop, 1 when the store cannot be opened, is empty although this
machine ran romanad on it before, or a background task failed, 2 for invalid settings or an
invalid initial topology, or TLS files that cannot be loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from romana import config, logs, store
from romana.api import allocator, credentials, startup, tls
from romana.api.app import create_app
from romana.api.settings import RomanadSettings, is_loopback
from romana.core.errors import InvalidInput, RomanaError
from romana.core.store import Store
from romana.services import keys, upgrade
from romana.services.auth import AuthService
from romana.services.topology import TopologyService

log = logging.getLogger("romana.api.main")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="romanad", description="Romana control plane.")
    p.add_argument("--config", help="TOML settings file (section [romanad])")
    p.add_argument("--store", help="store URL (sqlite:///PATH, etcd://HOST:PORT, memory://)")
    p.add_argument("--listen", help="HOST:PORT to serve on (default 127.0.0.1:9600)")
    p.add_argument("--services", help="comma-separated services to run (default: all)")
    p.add_argument("--root", help="URL of the root to register with")
    p.add_argument("--advertise", help="URL under which clients reach this process")
    p.add_argument("--tls-cert", help="certificate (PEM) to serve HTTPS with")
    p.add_argument("--tls-key", help="private key (PEM) of --tls-cert")
    p.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    p.add_argument("--ca", help="CA certificate that verifies the --root romanad")
    p.add_argument(
        "--allow-plaintext",
        action="store_true",
        default=None,
        help="serve plain HTTP on a reachable address (passwords and tokens in clear)",
    )
    p.add_argument(
        "--insecure", action="store_true", default=None, help="disable authentication (labs)"
    )
    p.add_argument("--initial-topology", help="topology JSON applied when the store has none")
    p.add_argument("--credentials-file", help="where the admin credentials are kept")
    p.add_argument(
        "--reset-admin", action="store_true", default=None, help="set a new admin password"
    )
    p.add_argument("--max-body-bytes", type=int, help="largest request body (default 4 MiB)")
    p.add_argument("--body-timeout", type=float, help="seconds between parts of a body (10)")
    p.add_argument("--body-deadline", type=float, help="seconds for a whole body (30)")
    p.add_argument("--audit-log", help="file the audit log is appended to (default: stderr)")
    p.add_argument("--log-level", choices=logs.LEVELS)
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


def load_settings(
    argv: Sequence[str] | None, environ: dict[str, str]
) -> tuple[RomanadSettings, tuple[str, ...]]:
    args = parser().parse_args(argv)
    overrides = {
        name: getattr(args, name)
        for name in (
            "store",
            "listen",
            "services",
            "root",
            "advertise",
            "tls_cert",
            "tls_key",
            "tls_client_ca",
            "ca",
            "allow_plaintext",
            "insecure",
            "initial_topology",
            "credentials_file",
            "reset_admin",
            "max_body_bytes",
            "body_timeout",
            "body_deadline",
            "audit_log",
            "log_level",
        )
    }
    loaded = config.load(
        RomanadSettings, environ=environ, file=args.config, section="romanad", overrides=overrides
    )
    return loaded.settings, loaded.warnings


def prepare(settings: RomanadSettings, st: Store) -> None:
    """Start-up work: the initial topology, the admin credentials, and an explicit isolation
    for every tenant stored by a release before tenants carried one."""
    if settings.initial_topology and st.get(keys.TOPOLOGY) is None:
        path = Path(settings.initial_topology)
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"initial topology {path}: {exc}") from exc
        TopologyService(st).apply(document)
        log.info("applied the initial topology from %s", path)
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
            prepare(settings, st)
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
        server.run()
        failed = bool(app.state.failed) or not server.started
    finally:
        st.close()
    log.info("romanad stopped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
