"""TLS for the callers of romanad: verifying the server, presenting a client certificate.

:func:`client_context` builds the :class:`ssl.SSLContext` every HTTP client of romana uses
for ``https://`` URLs: the CLI and the client library, ``romana-agent``, and romanad itself
when it registers with a root elsewhere.

Invariants:

* Verification is always on. The context checks the server's certificate chain and that the
  certificate names the host of the URL (its DNS name or IP address), against the CA file
  given (``--ca``) or, without one, the system's trust store. There is no setting that turns
  this off: a client that skips verification hands its password and its tokens to whoever
  answers on the address.
* Given a CA file, only that CA is trusted, not the system's store as well: a deployment's
  private CA then decides alone which servers are romanad.
* The system's trust store is read on the first handshake, not when the context is built: a
  client of ``http://`` URLs (the CLI on loopback) never pays for reading it, and nothing a
  user gives can make reading it fail.
* TLS 1.2 is the oldest protocol offered.
* A file that cannot be read, a certificate or key that does not parse, or a key that does not
  match its certificate is :class:`~romana.core.errors.InvalidInput` naming the setting, raised
  when the client is built, before anything is sent.

:func:`describe_failure` turns a handshake failure among the causes of a transport failure into one
sentence naming the URL and the setting that fixes it.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from typing import Any

from romana.core.errors import Issues


@dataclass(frozen=True, slots=True)
class Names:
    """What the settings are called where the context is built, for messages."""

    ca: str = "ca"
    cert: str = "client_cert"
    key: str = "client_key"


CLIENT = Names()


class _SystemTrust(ssl.SSLContext):
    """A client context that loads the system's trust store before its first handshake: what
    ``ssl.create_default_context`` builds (``PROTOCOL_TLS_CLIENT``: certificates required,
    host names checked), the store read when first needed."""

    _lock = threading.Lock()
    _loaded = False

    def _trust(self) -> None:
        with self._lock:
            if not self._loaded:
                self.load_default_certs(ssl.Purpose.SERVER_AUTH)
                self._loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._trust()
        return super().wrap_bio(*args, **kwargs)


def client_context(
    ca: str = "", cert: str = "", key: str = "", *, names: Names = CLIENT
) -> ssl.SSLContext:
    """A verifying client context: trust ``ca`` (or the system store), present ``cert``."""
    issues = Issues("TLS settings")
    context: ssl.SSLContext = _SystemTrust(ssl.PROTOCOL_TLS_CLIENT)
    if ca and readable(names.ca, ca, issues):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks host names; no CA yet
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            issues.add(names.ca, f"cannot load CA certificates from {ca!r}: {reason(exc)}")
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if bool(cert) != bool(key):
        issues.add(names.cert, f"{names.cert} and {names.key} go together")
    elif cert and readable(names.cert, cert, issues) and readable(names.key, key, issues):
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            issues.add(
                names.cert,
                f"cannot load the certificate {cert!r} with the key {key!r}: {reason(exc)}",
            )
    issues.raise_if_any()
    return context


def readable(field: str, path: str, issues: Issues) -> bool:
    """Whether ``path`` can be read; an issue on ``field`` naming the file when not.

    Checked before OpenSSL reads the file, whose errors do not say which of two files failed."""
    try:
        with open(path, "rb"):
            return True
    except OSError as exc:
        issues.add(field, f"cannot load {path!r}: {reason(exc)}")
        return False


def reason(exc: OSError | ssl.SSLError) -> str:
    """A short reason: the OS error text, or OpenSSL's reason code."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return exc.strerror or str(exc)


def describe_failure(
    exc: BaseException, url: str, *, cert_flags: str = "--client-cert and --client-key"
) -> str | None:
    """One sentence for a TLS failure somewhere in ``exc``'s chain of causes, else None;
    ``cert_flags`` names the options that give a client certificate where it is used."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 8:
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or reason(cause)
            return (
                f"{url}: the server's TLS certificate was not accepted ({detail}): give the "
                "CA certificate that signed it with --ca, and a URL whose host name or "
                "address the certificate names"
            )
        if isinstance(cause, ssl.SSLError):
            code = str(cause.reason or "")
            if "CERTIFICATE_REQUIRED" in code or "HANDSHAKE_FAILURE" in code:
                return (
                    f"{url}: the server requires a client certificate ({reason(cause)}): "
                    f"give one signed by the CA it trusts with {cert_flags}"
                )
            return f"{url}: TLS failed: {reason(cause)}"
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None
