"""Throwaway certificates for TLS tests, made with the ``openssl`` command line.

:func:`make_ca` writes a CA (ECDSA P-256, valid two days) into a directory; :meth:`CA.issue`
signs a certificate for the names and addresses given, usable both as a server and as a client
certificate (``extendedKeyUsage = serverAuth, clientAuth``), the way docs/operations.md makes a
host's certificate. Keys are written 0600. Nothing here is trusted by the machine: a CA exists
only as the files a test hands to romanad and its clients.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support import env

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class CA:
    cert: Path
    key: Path
    workdir: Path

    def issue(self, name: str, *, ips: tuple[str, ...] = ("127.0.0.1",)) -> Pair:
        """A certificate for ``name`` (a DNS name) and ``ips``, signed by this CA."""
        key = self.workdir / f"{name}.key"
        csr = self.workdir / f"{name}.csr"
        cert = self.workdir / f"{name}.crt"
        ext = self.workdir / f"{name}.ext"
        names = ",".join([f"DNS:{name}", *(f"IP:{ip}" for ip in ips)])
        ext.write_text(
            f"subjectAltName = {names}\nextendedKeyUsage = serverAuth, clientAuth\n"
            "keyUsage = critical, digitalSignature\n"
        )
        _openssl("req", *EC, "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        _openssl(
            "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert,
        )  # fmt: skip
        os.chmod(key, 0o600)
        return Pair(cert, key)

    def context(self, client: Pair | None = None) -> ssl.SSLContext:
        """A client context trusting this CA only, presenting ``client`` when given."""
        context = ssl.create_default_context(cafile=str(self.cert))
        if client is not None:
            context.load_cert_chain(client.cert, client.key)
        return context


@dataclass(frozen=True)
class Served:
    """How a test romanad serves TLS: ``pair`` signed by ``ca``; with ``require_client``,
    clients must present a certificate ``ca`` signed (``--tls-client-ca``)."""

    ca: CA
    pair: Pair
    require_client: bool = False

    def argv(self) -> list[str]:
        """romanad's options: serve with ``pair``, verify (and present it) towards --root."""
        argv = ["--tls-cert", str(self.pair.cert), "--tls-key", str(self.pair.key)]
        argv += ["--ca", str(self.ca.cert)]
        if self.require_client:
            argv += ["--tls-client-ca", str(self.ca.cert)]
        return argv

    def context(self) -> ssl.SSLContext:
        """What a test's own HTTP client uses to reach this romanad."""
        return self.ca.context(self.pair if self.require_client else None)


def make_ca(workdir: Path, name: str = "romana-test-ca") -> CA:
    """A new CA in ``workdir`` (created when missing)."""
    env.need_binary("openssl")
    workdir.mkdir(parents=True, exist_ok=True)
    key = workdir / f"{name}.key"
    cert = workdir / f"{name}.crt"
    _openssl(
        "req", "-x509", *EC, "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints = critical, CA:TRUE",
        "-addext", "keyUsage = critical, keyCertSign, cRLSign",
    )  # fmt: skip
    os.chmod(key, 0o600)
    return CA(cert, key, workdir)


def _openssl(*argv: str | Path) -> None:
    done = subprocess.run(
        ["openssl", *map(str, argv)], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {argv[0]} failed: {done.stderr.strip()}")
