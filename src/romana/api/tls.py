"""TLS of romanad: the context it serves HTTPS with, and the one it calls its root with.

romanad carries passwords (logins, new users) and 24-hour bearer tokens, so any listener other
machines reach serves HTTPS (``romana.api.settings`` refuses plain HTTP there unless
``--allow-plaintext`` says otherwise). :func:`server_context` loads ``--tls-cert`` and
``--tls-key``; with ``--tls-client-ca`` the handshake also requires a client certificate that
CA signed, so a client without one never reaches the HTTP layer. TLS 1.2 is the oldest
protocol either context accepts.

:func:`outbound_context` is what a process started with ``--root URL`` registers with: it
verifies the root against ``--ca`` (``romana.client.tls``, always verifying), and presents
``--tls-cert`` as its own client certificate, so a split deployment works when the root
requires client certificates (the certificate then needs ``clientAuth`` among its extended
key usages, or none).

Both are built once in ``romana.api.main`` before anything else starts: a file that cannot be
read, does not parse, or a key that does not match its certificate is
:class:`~romana.core.errors.InvalidInput` naming the setting (exit 2).
"""

from __future__ import annotations

import ssl

from romana.api.settings import RomanadSettings
from romana.client.tls import Names, client_context, readable, reason
from romana.core.errors import Issues

OUTBOUND = Names(ca="ca", cert="tls_cert", key="tls_key")


def server_context(settings: RomanadSettings) -> ssl.SSLContext | None:
    """The context romanad serves with; None when it serves plain HTTP."""
    if not settings.tls:
        return None
    issues = Issues("romanad settings")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert, key = settings.tls_cert, settings.tls_key
    if readable("tls_cert", cert, issues) and readable("tls_key", key, issues):
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            # A file that does not parse, or a key of another certificate: about the pair.
            issues.add(
                "tls_cert",
                f"cannot load the certificate {cert!r} with the key {key!r}: {reason(exc)}",
            )
    if settings.tls_client_ca and readable("tls_client_ca", settings.tls_client_ca, issues):
        try:
            context.load_verify_locations(cafile=settings.tls_client_ca)
        except (OSError, ssl.SSLError) as exc:
            issues.add(
                "tls_client_ca",
                f"cannot load CA certificates from {settings.tls_client_ca!r}: {reason(exc)}",
            )
        context.verify_mode = ssl.CERT_REQUIRED
    issues.raise_if_any()
    return context


def outbound_context(settings: RomanadSettings) -> ssl.SSLContext:
    """The context of romanad's calls to ``--root``: verify it, present ``--tls-cert``."""
    return client_context(settings.ca, settings.tls_cert, settings.tls_key, names=OUTBOUND)
