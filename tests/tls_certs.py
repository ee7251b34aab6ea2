"""Throwaway certificates for the TLS tests, made at test time with trustme.

:func:`make_pki` issues, in well under a second, everything the TLS tests
need: a test CA, a server certificate for ``localhost``, ``127.0.0.1`` and
``::1``, a client certificate for mutual TLS, an expired server certificate,
a certificate for another host, and a second, unrelated CA with a
``localhost`` certificate of its own (the "unknown CA"). Each certificate is
also written to a directory as PEM files, for the ``openssl`` command and
the CLI's ``--cafile``/``--cert``/``--key``.

The fixture :func:`tls_pki` gives one :class:`PKI` per test session; a test
module uses it by importing it (``from tls_certs import tls_pki``) and
asking for ``tls_pki``. The context helpers make fresh
:class:`ssl.SSLContext` objects, so a test may change its own.
"""

from __future__ import annotations

import datetime
import shutil
import ssl
from pathlib import Path

import attrs
import pytest
import trustme

__all__ = [
    "OPENSSL",
    "PKI",
    "CertFiles",
    "make_pki",
    "needs_openssl",
    "tls_pki",
]

#: The openssl command, for the interop tests (``.ci/run`` installs it), or ``None``.
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")

#: The names the server certificate is good for.
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
#: The name in the client certificate (mutual TLS).
CLIENT_NAME = "client.typed-transports.test"
#: The only name the "other host" certificate is good for.
OTHER_HOST = "other.typed-transports.test"


@attrs.frozen
class CertFiles:
    """One certificate as PEM files: *cert* (the chain, leaf first) and its private *key*."""

    cert: Path
    key: Path


@attrs.frozen
class PKI:
    """The test CAs and certificates, as trustme objects and as files in *directory*."""

    directory: Path
    ca: trustme.CA
    #: Good for localhost, 127.0.0.1 and ::1, signed by :attr:`ca`.
    server: trustme.LeafCert
    #: A client certificate for mutual TLS, signed by :attr:`ca`.
    client: trustme.LeafCert
    #: Good for localhost, but its validity ended yesterday.
    expired: trustme.LeafCert
    #: Good only for :data:`OTHER_HOST`.
    other_host: trustme.LeafCert
    #: A CA nobody trusts.
    stranger_ca: trustme.CA
    #: Good for localhost, but signed by :attr:`stranger_ca`.
    stranger: trustme.LeafCert

    @property
    def ca_file(self) -> Path:
        """The test CA's certificate (what ``--cafile`` and ``-CAfile`` take)."""
        return self.directory / "ca.pem"

    def files(self, name: str) -> CertFiles:
        """The PEM files of the certificate called *name* (``"server"``, ``"client"``, ``"expired"`` ...)."""
        return CertFiles(self.directory / f"{name}.pem", self.directory / f"{name}.key")

    def server_context(
        self,
        leaf: trustme.LeafCert | None = None,
        *,
        alpn: list[str] | None = None,
        require_client_cert: bool = False,
    ) -> ssl.SSLContext:
        """A server context presenting *leaf* (default :attr:`server`); with *require_client_cert*, mutual TLS."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (leaf or self.server).configure_cert(context)
        if alpn is not None:
            context.set_alpn_protocols(alpn)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(context)
        return context

    def client_context(
        self,
        *,
        alpn: list[str] | None = None,
        cert: trustme.LeafCert | None = None,
        trust: trustme.CA | None = None,
    ) -> ssl.SSLContext:
        """A verifying client context trusting *trust* (default :attr:`ca`), presenting *cert* if given."""
        context = ssl.create_default_context()
        (trust or self.ca).configure_trust(context)
        if cert is not None:
            cert.configure_cert(context)
        if alpn is not None:
            context.set_alpn_protocols(alpn)
        return context


def make_pki(directory: Path) -> PKI:
    """Issue the CAs and certificates and write them as PEM files into *directory*."""
    now = datetime.datetime.now(datetime.UTC)
    ca = trustme.CA(organization_name="typed-transports tests")
    stranger_ca = trustme.CA(organization_name="a stranger")
    pki = PKI(
        directory=directory,
        ca=ca,
        server=ca.issue_cert(*SERVER_NAMES, common_name="localhost"),
        client=ca.issue_cert(CLIENT_NAME, common_name=CLIENT_NAME),
        expired=ca.issue_cert(
            *SERVER_NAMES,
            common_name="localhost",
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
        ),
        other_host=ca.issue_cert(OTHER_HOST, common_name=OTHER_HOST),
        stranger_ca=stranger_ca,
        stranger=stranger_ca.issue_cert(*SERVER_NAMES, common_name="localhost"),
    )
    ca.cert_pem.write_to_path(pki.ca_file)
    stranger_ca.cert_pem.write_to_path(directory / "stranger-ca.pem")
    leaves = {
        "server": pki.server,
        "client": pki.client,
        "expired": pki.expired,
        "other-host": pki.other_host,
        "stranger": pki.stranger,
    }
    for name, leaf in leaves.items():
        files = pki.files(name)
        for number, pem in enumerate(leaf.cert_chain_pems):
            pem.write_to_path(files.cert, append=number > 0)
        leaf.private_key_pem.write_to_path(files.key)
    return pki


@pytest.fixture(scope="session")
def tls_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """One :class:`PKI` for the whole test session (files under pytest's temporary directory)."""
    return make_pki(tmp_path_factory.mktemp("pki"))
