"""A TLS echo server and client in one script (APUE 16.4 Connection Establishment, 16.5 Data Transfer).

The server listens with a ``TLSListener`` and echoes each connection in a
thread; the client connects with ``TLSTransport.connect``, checks the
server's certificate, sends a few lines and reads each echo back, then ends
its half with ``shutdown("write")`` (a ``close_notify``) and reads the
server's clean end. Last, a client that does not trust the CA is refused
with ``TLSCertificateError``. ``--aio`` does the same with the asyncio
classes, ``transports.aio.TLSListener`` and ``transports.aio.TLSTransport``.

Certificates: with ``trustme`` installed (``pip install trustme``) the
script makes a throwaway CA and a certificate for localhost at run time, in
a temporary directory; nothing secret is stored. Or bring your own::

    python examples/tls_echo.py
    python examples/tls_echo.py --aio
    python examples/tls_echo.py --cert server.pem --key server.key --cafile ca.pem --name localhost
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from transports import InetAddress, TLSListener, TLSTransport, TransportError, aio
from transports.tls import TLSCertificateError, TLSError


class Certs(NamedTuple):
    cert: str  # the server's certificate chain (PEM)
    key: str  # its private key (PEM)
    cafile: str  # the CA the client trusts (PEM)


@contextlib.contextmanager
def throwaway_certs() -> Iterator[Certs]:
    """A CA and a certificate for localhost and 127.0.0.1, alive as long as the ``with`` block."""
    try:
        import trustme
    except ImportError:
        raise SystemExit(
            "tls_echo.py makes its certificates with trustme: pip install trustme, "
            "or pass --cert, --key and --cafile"
        ) from None
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="tls-echo-") as directory:
        cert, key, cafile = (str(Path(directory, name)) for name in ("server.pem", "server.key", "ca.pem"))
        leaf.cert_chain_pems[0].write_to_path(cert)
        for extra in leaf.cert_chain_pems[1:]:
            extra.write_to_path(cert, append=True)
        leaf.private_key_pem.write_to_path(key)
        ca.cert_pem.write_to_path(cafile)
        yield Certs(cert, key, cafile)


def serve(listener: TLSListener[InetAddress]) -> None:
    """Echo every connection until the listener is closed; the handshake runs at the first recv."""
    for conn in listener:  # stops quietly when the listener closes
        with conn:
            conn.timeout = 5
            try:
                while data := conn.recv(4096):  # b"": the client's close_notify
                    conn.send_all(data)
            except TransportError as err:  # a client that did not trust us, or went away mid-stream
                print(f"server: {type(err).__name__}: {err}")
        # leaving the with block sends our close_notify, then closes the TCP connection


def contexts(certs: Certs) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The server's context (its certificate) and the client's (trusting the CA; verification on, TLS >= 1.2)."""
    try:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(certs.cert, certs.key)
        return server_context, ssl.create_default_context(cafile=certs.cafile)
    except OSError as err:  # a file missing, unreadable or not PEM (ssl.SSLError is an OSError)
        raise SystemExit(f"tls_echo.py: cannot load the certificates: {err}") from None


def run(certs: Certs, name: str) -> None:
    server_context, client_context = contexts(certs)
    with TLSListener.listen("127.0.0.1", 0, context=server_context) as listener:
        server = threading.Thread(target=serve, args=(listener,))
        server.start()
        try:
            port = listener.address.port
            print(f"echo server on tls://127.0.0.1:{port}")
            with TLSTransport.connect(
                "127.0.0.1", port, context=client_context, server_hostname=name, timeout=5
            ) as tls:
                cipher = tls.cipher()
                print(
                    f"{tls.version()} with {cipher[0] if cipher else None}, certificate of {name!r} verified"
                )
                for line in (b"hello", b"typed", b"transports"):
                    tls.send_all(line)
                    print(f"sent {line!r}, got back {tls.recv_exactly(len(line))!r}")
                tls.shutdown("write")  # close_notify: the server's recv returns b""
                print(f"after close_notify the server ended cleanly: recv() -> {tls.recv(4096)!r}")

            try:  # the system's CAs do not know our throwaway CA
                TLSTransport.connect("127.0.0.1", port, server_hostname=name, timeout=5).close()
            except TLSCertificateError as err:
                print(f"a client without our CA is refused: {err.verify_message} (host {err.host!r})")
        finally:
            listener.close()  # wakes the server thread blocked in accept()
            server.join(5)


async def serve_async(listener: aio.TLSListener[InetAddress]) -> None:
    """The same server as a task: one connection after the other, until the listener is closed."""
    async for conn in listener:
        async with conn:
            conn.timeout = 5
            try:
                while data := await conn.recv(4096):
                    await conn.send_all(data)
            except TransportError as err:
                print(f"server: {type(err).__name__}: {err}")


async def run_async(certs: Certs, name: str) -> None:
    server_context, client_context = contexts(certs)
    async with await aio.TLSListener.listen("127.0.0.1", 0, context=server_context) as listener:
        server = asyncio.create_task(serve_async(listener))
        try:
            port = listener.address.port
            print(f"async echo server on tls://127.0.0.1:{port}")
            async with await aio.TLSTransport.connect(
                "127.0.0.1", port, context=client_context, server_hostname=name, timeout=5
            ) as tls:
                print(f"{tls.version()}, certificate of {name!r} verified")
                for line in (b"hello", b"typed", b"transports"):
                    await tls.send_all(line)
                    print(f"sent {line!r}, got back {await tls.recv_exactly(len(line))!r}")
                tls.shutdown("write")  # queued, and sent before the next awaited call
                print(f"after close_notify the server ended cleanly: recv() -> {await tls.recv(4096)!r}")
            try:
                await (
                    await aio.TLSTransport.connect("127.0.0.1", port, server_hostname=name, timeout=5)
                ).aclose()
            except TLSCertificateError as err:
                print(f"a client without our CA is refused: {err.verify_message} (host {err.host!r})")
        finally:
            listener.close()  # ends the server's async for
            await asyncio.wait_for(server, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description="A TLS echo server and client over loopback.")
    parser.add_argument("--cert", help="the server's certificate chain (PEM); default: made by trustme")
    parser.add_argument("--key", help="the server's private key (PEM)")
    parser.add_argument("--cafile", help="the CA certificate the client trusts (PEM)")
    parser.add_argument("--name", default="localhost", help="the host name the certificate is for")
    parser.add_argument("--aio", action="store_true", help="use the asyncio classes (transports.aio)")
    args = parser.parse_args()
    given = [args.cert, args.key, args.cafile]
    if any(given) and not all(given):
        parser.error("pass all three of --cert, --key and --cafile, or none (then trustme makes them)")

    def go(certs: Certs) -> None:
        if args.aio:
            asyncio.run(run_async(certs, args.name))
        else:
            run(certs, args.name)

    try:
        if args.cert:
            go(Certs(args.cert, args.key, args.cafile))
        else:
            with throwaway_certs() as certs:
                go(certs)
    except TLSError as err:  # a certificate for another name, a CA that did not sign it ...
        raise SystemExit(f"tls_echo.py: {type(err).__name__}: {err}") from None


if __name__ == "__main__":
    main()
