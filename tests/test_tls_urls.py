"""TLS by URL: ``tls://``, ``tls+unix://`` and ``tls+memory://`` through the scheme table, on both faces.

Real sockets on loopback (and the in-memory stream), certificates from
tests/tls_certs.py. Each test runs one end in a thread (sync) or a task
(aio) and every blocking call has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

import transports
from conftest import TIMEOUT
from test_tls import in_thread
from tls_certs import OTHER_HOST, PKI, tls_pki
from transports import aio
from transports.addresses import InetAddress, NamedAddress, UnixAddress
from transports.errors import AddressError, TransportTimeout
from transports.kinds import Kind
from transports.tls import TLSCertificateError, TLSListener, TLSTransport

__all__ = ["tls_pki"]  # the session's certificates (tests/tls_certs.py), a fixture used here

#: A payload of several records.
PAYLOAD = bytes(range(256)) * 300


@pytest.fixture(params=["tls", "tls+unix", "tls+memory"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to listen on, of each TLS scheme."""
    scheme: str = request.param
    if scheme == "tls":
        return "tls://127.0.0.1:0"
    if scheme == "tls+unix":
        return f"tls+unix://{tmp_path / 'tls.sock'}"
    return f"tls+memory://test-tls-urls-{id(request)}"


def url_of(listener: transports.Listener[transports.Transport], url: str) -> str:
    """The URL a client connects to: port 0 replaced by the real one."""
    return listener.address.url(url.partition(":")[0])


def hostname_for(url: str) -> str | None:
    """The server name to pass: tls:// takes the URL's host; the others name none."""
    return None if url.startswith("tls://") else "localhost"


# -- the sync face ------------------------------------------------------------------------------------


def echo_once(listener: transports.Listener[transports.Transport]) -> Callable[[], bytes]:
    """Accept one connection in a thread, echo one payload, half-close; the join returns what came."""

    def serve() -> bytes:
        with listener.accept() as conn:
            assert isinstance(conn, TLSTransport)
            conn.timeout = TIMEOUT
            data = conn.recv_exactly(len(PAYLOAD))
            conn.send_all(data)
            conn.shutdown("write")
            assert conn.recv(1) == b""
            return data

    return in_thread(serve)


def test_connect_and_listen_by_url(url: str, tls_pki: PKI) -> None:
    with transports.listen(url, context=tls_pki.server_context(), timeout=TIMEOUT) as listener:
        assert isinstance(listener, TLSListener)
        join = echo_once(listener)
        with transports.connect(
            url_of(listener, url),
            kind="stream",
            context=tls_pki.client_context(),
            server_hostname=hostname_for(url),
            timeout=TIMEOUT,
        ) as client:
            assert isinstance(client, TLSTransport)
            assert client.kind is Kind.STREAM
            assert client.timeout == TIMEOUT
            assert client.version() in ("TLSv1.2", "TLSv1.3")
            client.send_all(PAYLOAD)
            client.shutdown("write")
            assert client.recv_exactly(len(PAYLOAD)) == PAYLOAD
            assert client.recv(1) == b""
        assert join() == PAYLOAD


def test_tls_url_checks_the_urls_host_by_default(tls_pki: PKI) -> None:
    context = tls_pki.server_context(tls_pki.other_host)
    with transports.listen("tls://127.0.0.1:0", context=context, timeout=TIMEOUT) as listener:
        join = in_thread(lambda: _handshake_fails(listener))
        with pytest.raises(TLSCertificateError) as caught:
            transports.connect(listener.address.url("tls"), context=tls_pki.client_context(), timeout=TIMEOUT)
        join()
    assert caught.value.host == "127.0.0.1"
    assert "127.0.0.1" in str(caught.value)


def test_server_hostname_overrides_the_urls_host(tls_pki: PKI) -> None:
    context = tls_pki.server_context(tls_pki.other_host)
    with transports.listen("tls://127.0.0.1:0", context=context, timeout=TIMEOUT) as listener:
        join = echo_once(listener)
        with transports.connect(
            listener.address.url("tls"),
            context=tls_pki.client_context(),
            server_hostname=OTHER_HOST,
            timeout=TIMEOUT,
        ) as client:
            assert isinstance(client, TLSTransport)
            client.send_all(PAYLOAD)
            assert client.recv_exactly(len(PAYLOAD)) == PAYLOAD
            assert client.recv(1) == b""  # the server's close_notify: close only after its shutdown
        assert join() == PAYLOAD


def test_default_context_verifies_against_the_system_cas(tls_pki: PKI) -> None:
    # The test CA is not among the system's: the default context must refuse the server.
    with transports.listen(
        "tls://127.0.0.1:0", context=tls_pki.server_context(), timeout=TIMEOUT
    ) as listener:
        join = in_thread(lambda: _handshake_fails(listener))
        with pytest.raises(TLSCertificateError, match="did not verify"):
            transports.connect(listener.address.url("tls"), timeout=TIMEOUT)
        join()


def _handshake_fails(listener: transports.Listener[transports.Transport]) -> None:
    """Accept one connection whose handshake the client aborts."""
    with listener.accept() as conn:
        assert isinstance(conn, TLSTransport)
        conn.timeout = TIMEOUT
        with contextlib.suppress(transports.TransportError):
            conn.do_handshake()


def test_tls_unix_needs_a_server_hostname(tmp_path: Path, tls_pki: PKI) -> None:
    url = f"tls+unix://{tmp_path / 'no.sock'}"
    with pytest.raises(ValueError, match="pass server_hostname="):
        transports.connect(url, context=tls_pki.client_context(), timeout=TIMEOUT)
    assert not (tmp_path / "no.sock").exists()  # refused before any socket


def test_tls_unix_without_hostname_check(tmp_path: Path, tls_pki: PKI) -> None:
    url = f"tls+unix://{tmp_path / 'tls.sock'}"
    with transports.listen(url, context=tls_pki.server_context(), timeout=TIMEOUT) as listener:
        join = echo_once(listener)
        context = tls_pki.client_context()
        context.check_hostname = False  # the CA is still checked
        with transports.connect(url, context=context, timeout=TIMEOUT) as client:
            assert isinstance(client, TLSTransport)
            client.send_all(PAYLOAD)
            assert client.recv_exactly(len(PAYLOAD)) == PAYLOAD
            assert client.recv(1) == b""  # the server's close_notify: close only after its shutdown
        assert join() == PAYLOAD


def test_handshake_within_the_timeout(tls_pki: PKI) -> None:
    # A plain listener that never answers: the handshake waits for a ServerHello that never comes.
    with transports.listen("tcp://127.0.0.1:0", timeout=TIMEOUT) as silent:
        started = time.monotonic()
        with pytest.raises(TransportTimeout):
            transports.connect(silent.address.url("tls"), context=tls_pki.client_context(), timeout=0.3)
        assert time.monotonic() - started < TIMEOUT
        with silent.accept():
            pass


# -- refusals -----------------------------------------------------------------------------------------


def test_bind_is_refused(tls_pki: PKI) -> None:
    with pytest.raises(AddressError, match=r"use transports.listen\(\).*transports.connect\(\)"):
        transports.bind("tls://127.0.0.1:0")


@pytest.mark.parametrize(
    ("url", "instead"),
    [
        ("tcp://127.0.0.1:9", "tls://127.0.0.1:9"),
        ("unix:///run/x.sock", "tls+unix:///run/x.sock"),
        ("memory://x", "tls+memory://x"),
        ("udp://127.0.0.1:9", "a TLS scheme"),
    ],
)
def test_tls_settings_on_a_plain_scheme_are_refused(url: str, instead: str, tls_pki: PKI) -> None:
    with pytest.raises(AddressError, match="does not speak TLS") as caught:
        transports.connect(url, context=tls_pki.client_context())
    assert instead in str(caught.value)
    assert url in str(caught.value)
    with pytest.raises(AddressError, match="server_hostname"):
        transports.connect(url, server_hostname="example.org")
    with pytest.raises(AddressError, match="context"):
        transports.listen(url, context=tls_pki.server_context())


def test_listen_without_context_says_how_to_make_one() -> None:
    with pytest.raises(TypeError, match=r"Purpose.CLIENT_AUTH.*load_cert_chain"):
        transports.listen("tls://127.0.0.1:0")


def test_kind_must_be_stream(tls_pki: PKI) -> None:
    with pytest.raises(AddressError, match="makes stream transports, not datagram"):
        transports.connect("tls://127.0.0.1:9", kind="datagram", context=tls_pki.client_context())


# -- the table ----------------------------------------------------------------------------------------


def test_schemes_lists_tls() -> None:
    rows = {row.name: row for row in transports.schemes()}
    for name in ("tls", "tls+unix", "tls+memory"):
        assert rows[name].kind is Kind.STREAM
        assert rows[name].origin == "builtin"
        assert rows[name].sync
        assert rows[name].aio
        assert "TLS over" in rows[name].description


def test_parse_address_of_tls_urls() -> None:
    from transports.registry import parse_address

    assert parse_address("tls://[::1]:443") == InetAddress("::1", 443)
    assert parse_address("tls+unix:///run/app.sock") == UnixAddress("/run/app.sock")
    assert parse_address("tls+unix://@svc") == UnixAddress("svc", abstract=True)
    assert parse_address("tls+memory://jobs") == NamedAddress("memory", "jobs")
    with pytest.raises(AddressError, match="missing port"):
        parse_address("tls://example.org")


def test_import_transports_loads_no_ssl() -> None:
    program = (
        "import json, sys, transports, transports.registry\n"
        "transports.listen('tcp://127.0.0.1:0').close()\n"
        "print(json.dumps([m in sys.modules for m in ('ssl', 'transports.tls', 'transports.tls.schemes')]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], check=True, capture_output=True, text=True, timeout=TIMEOUT * 6
    )
    assert json.loads(out.stdout) == [False, False, False]


# -- the async face -----------------------------------------------------------------------------------


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test body under a timeout."""

    async def bounded() -> None:
        await asyncio.wait_for(body(), TIMEOUT * 2)

    asyncio.run(bounded())


def test_aio_connect_and_listen_by_url(url: str, tls_pki: PKI) -> None:
    from transports.tls import aio as tls_aio

    async def body() -> None:
        listener = await aio.listen(url, context=tls_pki.server_context(), timeout=TIMEOUT)
        async with listener:
            assert isinstance(listener, tls_aio.TLSListener)

            async def serve() -> bytes:
                conn = await listener.accept()
                async with conn:
                    data = await conn.recv_exactly(len(PAYLOAD))
                    await conn.send_all(data)
                    conn.shutdown("write")
                    assert await conn.recv(1) == b""
                    return data

            server = asyncio.create_task(serve())
            client = await aio.connect(
                listener.address.url(url.partition(":")[0]),
                kind="stream",
                context=tls_pki.client_context(),
                server_hostname=hostname_for(url),
                timeout=TIMEOUT,
            )
            async with client:
                assert isinstance(client, tls_aio.TLSTransport)
                await client.send_all(PAYLOAD)
                client.shutdown("write")
                assert await client.recv_exactly(len(PAYLOAD)) == PAYLOAD
                assert await client.recv(1) == b""
            assert await server == PAYLOAD

    run(body)


def test_aio_refusals(tls_pki: PKI) -> None:
    async def body() -> None:
        with pytest.raises(AddressError, match=r"use aio.listen\(\)"):
            await aio.bind("tls://127.0.0.1:0")
        with pytest.raises(AddressError, match=r"use tls://127\.0\.0\.1:9"):
            await aio.connect("tcp://127.0.0.1:9", context=tls_pki.client_context())
        with pytest.raises(TypeError, match="load_cert_chain"):
            await aio.listen("tls://127.0.0.1:0")

    run(body)


def test_aio_wrong_host_via_url(tls_pki: PKI) -> None:
    async def body() -> None:
        context = tls_pki.server_context(tls_pki.other_host)
        listener = await aio.listen("tls://127.0.0.1:0", context=context, timeout=TIMEOUT)
        async with listener:

            async def serve() -> None:
                conn = await listener.accept()
                async with conn:
                    with contextlib.suppress(transports.TransportError):
                        await conn.recv(1)

            server = asyncio.create_task(serve())
            with pytest.raises(TLSCertificateError) as caught:
                await aio.connect(
                    listener.address.url("tls"), context=tls_pki.client_context(), timeout=TIMEOUT
                )
            await server
        assert caught.value.host == "127.0.0.1"

    run(body)
