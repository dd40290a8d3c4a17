"""The cluster's TLS certificates on this node (rke2, k3s, kubeadm, and --cert GLOB): their
validity windows, read with the ``cryptography`` package. A file that is not a certificate (a key
with a .crt name, a damaged file) is listed as skipped with the reason, never fatal."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

NS = 1_000_000_000


@dataclass(frozen=True)
class CertWindow:
    path: str
    not_before_ns: int
    not_after_ns: int
    subject: str


def _load(data: bytes):
    from cryptography import x509

    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)  # a bundle: every certificate in it
    return [x509.load_der_x509_certificate(data)]


def read_certs(globs: list[str]) -> tuple[list[CertWindow], list[str]]:
    """(the certificates found, the files skipped with why)."""
    seen: set[str] = set()
    found: list[CertWindow] = []
    skipped: list[str] = []
    for pattern in globs:
        for name in sorted(glob.glob(pattern)):
            path = str(Path(name))
            if path in seen or not Path(path).is_file():
                continue
            seen.add(path)
            try:
                certs = _load(Path(path).read_bytes())
            except OSError as exc:
                skipped.append(f"{path}: {exc.strerror}")
                continue
            except ValueError as exc:
                skipped.append(f"{path}: not a certificate ({exc})")
                continue
            for c in certs:
                nb, na = c.not_valid_before_utc, c.not_valid_after_utc
                found.append(
                    CertWindow(path, int(nb.timestamp()) * NS, int(na.timestamp()) * NS, c.subject.rfc4514_string())
                )
    return found, skipped
