"""TLS for ``send``, ``recv`` and ``serve``: the options and the contexts made from them (:apue:`16.4`).

``--cafile FILE`` trusts exactly the CAs in *FILE* (instead of the system's,
as curl's ``--cacert`` does); on a listening command it asks every client for
a certificate signed by them (mutual TLS). ``--cert FILE`` and ``--key FILE``
are this end's certificate chain and key: required to listen, a client
certificate when connecting. ``--server-hostname NAME`` is the name the
server's certificate must carry (default: the URL's host; ``tls+unix`` URLs
have none). ``--insecure`` turns verification off and says so on stderr on
every run. Nothing here imports :mod:`ssl` unless a TLS URL is used.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

import attrs

from transports.cli.commands import CommandError, UsageError, reason
from transports.urls import TLS_SCHEMES, split_scheme

if TYPE_CHECKING:
    import ssl

__all__ = ["TLSOptions", "add_tls_options"]

#: The warning printed on every run with --insecure.
INSECURE_WARNING = (
    "WARNING: --insecure: the server's certificate is NOT verified, so anyone on the way can "
    "read and change this connection; use --cafile FILE to trust a private CA instead"
)


def add_tls_options(parser: argparse.ArgumentParser, *, connects: bool, listens: bool) -> None:
    """Add the TLS options to the parser of a command that *connects* and/or *listens*."""
    group = parser.add_argument_group("TLS (tls:// and tls+unix:// URLs)")
    ca_help = []
    if connects:
        ca_help.append(
            "trust only the CAs in this PEM file to sign the server's certificate (default: the system's CAs)"
        )
    if listens:
        ca_help.append("require a client certificate signed by the CAs in this PEM file")
    group.add_argument("--cafile", metavar="FILE", help="; when listening: ".join(ca_help))
    cert_help = "this end's certificate chain (PEM)" + (", required to listen" if listens else "")
    group.add_argument(
        "--cert",
        metavar="FILE",
        help=cert_help + ("; a client certificate when connecting" if connects else ""),
    )
    group.add_argument(
        "--key", metavar="FILE", help="the private key of --cert (default: the key in --cert's file)"
    )
    if connects:
        group.add_argument(
            "--server-hostname",
            metavar="NAME",
            help="the name the server's certificate must carry (default: the URL's host)",
        )
        group.add_argument(
            "--insecure",
            action="store_true",
            help="do not verify the server's certificate (a warning is printed on every run)",
        )


@attrs.frozen
class TLSOptions:
    """What the TLS options of one command line say (:apue:`16.4`)."""

    prog: str
    cafile: str | None = None
    cert: str | None = None
    key: str | None = None
    server_hostname: str | None = None
    insecure: bool = False

    @classmethod
    def from_args(cls, prog: str, args: argparse.Namespace) -> TLSOptions:
        """The options of a parsed command line (absent ones are None)."""
        return cls(
            prog,
            cafile=args.cafile,
            cert=args.cert,
            key=args.key,
            server_hostname=getattr(args, "server_hostname", None),
            insecure=getattr(args, "insecure", False),
        )

    def _given(self) -> list[str]:
        given = [
            f"--{name.replace('_', '-')}"
            for name in ("cafile", "cert", "key", "server_hostname")
            if getattr(self, name) is not None
        ]
        return [*given, "--insecure"] if self.insecure else given

    def _is_tls(self, url: str) -> bool:
        if split_scheme(url)[0] in TLS_SCHEMES:
            return True
        given = self._given()
        if given:
            raise UsageError(
                f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} to TLS URLs only, "
                f"and {url} is not one; "
                f"write tls://HOST:PORT or tls+unix:///PATH, or leave {given[0]} out"
            )
        return False

    def for_connect(self, url: str) -> tuple[ssl.SSLContext | None, str | None]:
        """The context and server name to connect to *url* with; (None, None) for a plain URL.

        The context is None too when no option changes the library's default
        (the system's CAs, host name checked, TLS 1.2 at least).
        """
        if not self._is_tls(url):
            return None, None
        if self.insecure and self.cafile is not None:
            raise UsageError(
                "--insecure turns verification off, so --cafile would not be used; give one of them"
            )
        if not self.insecure and self.server_hostname is None and split_scheme(url)[0] != "tls":
            raise UsageError(
                f"{url} names no host to check the server's certificate against; "
                "pass --server-hostname NAME (a name in its certificate)"
            )
        if self.cafile is None and self.cert is None and self.key is None and not self.insecure:
            return None, self.server_hostname
        import ssl

        context = ssl.create_default_context(cafile=None if self.cafile is None else _cafile(self.cafile))
        context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
        self._load_cert(context)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            print(f"{self.prog}: {INSECURE_WARNING}", file=sys.stderr, flush=True)
        return context, self.server_hostname

    def for_listen(self, url: str) -> ssl.SSLContext | None:
        """The server context to listen on *url* with; None for a plain URL."""
        if not self._is_tls(url):
            return None
        if self.insecure or self.server_hostname is not None:
            option = "--insecure" if self.insecure else "--server-hostname"
            raise UsageError(
                f"{option} is for connecting; a listening command verifies clients only with --cafile"
            )
        if self.cert is None:
            raise UsageError(
                f"listening on {url} needs this server's certificate: pass --cert FILE --key FILE "
                "(PEM files of the certificate chain and its private key)"
            )
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
        self._load_cert(context)
        if self.cafile is not None:
            context.load_verify_locations(cafile=_cafile(self.cafile))
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def _load_cert(self, context: ssl.SSLContext) -> None:
        if self.cert is None:
            if self.key is not None:
                raise UsageError("--key needs --cert: give the certificate the key belongs to")
            return
        import ssl

        cert = _readable(self.cert, "--cert")
        key = None if self.key is None else _readable(self.key, "--key")
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            files = f"--cert {cert!r}" + ("" if key is None else f" and --key {key!r}")
            why = (
                "the key does not match the certificate"
                if "MISMATCH" in str(exc)
                else "not a PEM certificate and key"
            )
            raise CommandError(
                f"cannot use {files}: {why}; give the PEM certificate chain and its private key"
            ) from exc


def _readable(path: str, option: str) -> str:
    """*path*, once it is known to be a readable file; else an error naming *option*."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise CommandError(f"cannot read {option} {path!r}: {reason(exc)}") from exc
    os.close(fd)
    return path


def _cafile(path: str) -> str:
    """*path* once it is known to be readable and to hold a PEM certificate."""
    import ssl

    try:
        ssl.create_default_context(cafile=_readable(path, "--cafile"))
    except ssl.SSLError as exc:
        raise CommandError(
            f"cannot use --cafile {path!r}: it holds no PEM certificate; give the CA's certificate in PEM"
        ) from exc
    return path
