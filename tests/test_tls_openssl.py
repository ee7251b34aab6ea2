"""Interop with the openssl command: ``openssl s_server`` with our client, ``openssl s_client`` with our server.

Every openssl process accepts one connection (``-naccept 1``) or makes one,
is waited for with a timeout and killed if it outlives the test. Nothing
sleeps: the server's port is read from its ``ACCEPT`` line, and what it
printed is waited for through a reader thread. 16 MiB go each way with a
sha256 check, and certificates are verified on both sides.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_tls import TIMEOUT, in_thread
from tls_certs import OPENSSL, PKI, needs_openssl, tls_pki
from transports import InetAddress, TCPListener
from transports.tls import TLSHandshakeError, TLSTransport, TLSTruncated

__all__ = ["tls_pki"]  # the session's certificates (tests/tls_certs.py), a fixture used here

pytestmark = needs_openssl

# s_server ends a session at the end of its input without close_notify (OpenSSL 3 sets the
# shutdown state quietly): our client then sees TLSTruncated, as with any truncating peer. After
# our close_notify it answers with its own, and the client reads a clean end.

MiB = 1 << 20
BULK = 16 * MiB


def bulk(seed: bytes) -> bytes:
    """16 MiB of bytes that never spell an s_server keyboard command (``Q``, ``q``, ``r`` ...): digits and ``:;<=>?``."""
    return bytes(0x30 | (byte & 0x0F) for byte in hashlib.sha256(seed).digest()) * (BULK // 32)


class SServer:
    """``openssl s_server`` on a loopback port for one connection; its stdout is collected by a thread."""

    def __init__(self, pki: PKI, *args: str) -> None:
        assert OPENSSL is not None
        files = pki.files("server")
        self.process = subprocess.Popen(
            [OPENSSL, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
             "-cert", str(files.cert), "-key", str(files.key), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._output = bytearray()
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, name="openssl-s_server-reader", daemon=True)
        self._reader.start()
        try:
            line = self.wait_for(b"ACCEPT ")
            end = self.wait_for(b"\n", line)
            self.port = int(self._output[line:end].rsplit(b":", 1)[1])
        except BaseException:
            self.finish()  # reaped even when it never got ready
            raise

    def _read(self) -> None:
        stdout = self.process.stdout
        assert isinstance(stdout, io.BufferedReader)
        while chunk := stdout.read1(1 << 16):
            with self._changed:
                self._output += chunk
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, text: bytes, start: int = 0) -> int:
        """Wait (with the test's timeout) until s_server printed *text* (after *start*); where it starts."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: self._output.find(text, start) >= 0 or self._ended, timeout=TIMEOUT * 3
            )
            where = self._output.find(text, start)
        assert found, f"s_server never printed {text!r}: {bytes(self._output[-300:])!r}"
        assert where >= 0, f"s_server ended without printing {text!r}: {bytes(self._output[-300:])!r}"
        return where

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def finish(self) -> bytes:
        """Close its stdin (s_server then ends the session), reap it, and return all it printed."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(TIMEOUT)
            self._reader.join(TIMEOUT)
            assert self.process.stderr is not None
            self.process.stderr.close()
            assert self.process.stdout is not None
            self.process.stdout.close()
        return bytes(self._output)


@pytest.fixture
def s_server(request: pytest.FixtureRequest, tls_pki: PKI) -> Iterator[SServer]:
    """An s_server run with the test's ``s_server`` parameter as its extra arguments (indirect); always reaped.

    ``{ca}`` in an argument stands for the test CA's file.
    """
    args = [arg.format(ca=tls_pki.ca_file) for arg in getattr(request, "param", ())]
    server = SServer(tls_pki, *args)
    try:
        yield server
    finally:
        server.finish()


# -- our client, openssl's server -------------------------------------------------------------------


def test_client_with_openssl_s_server(s_server: SServer, tls_pki: PKI) -> None:
    with TLSTransport.connect(
        "127.0.0.1", s_server.port, context=tls_pki.client_context(), server_hostname="localhost",
        timeout=TIMEOUT,
    ) as tls:  # fmt: skip
        assert tls.version() == "TLSv1.3"
        assert dict(x[0] for x in tls.getpeercert()["subject"])["commonName"] == "localhost"
        tls.send_all(b"ping from typed-transports\n")
        s_server.wait_for(b"ping from typed-transports\n")
        s_server.write(b"pong from openssl\n")
        assert tls.recv_exactly(18) == b"pong from openssl\n"
        # At the end of its input s_server closes without close_notify (OpenSSL 3's quiet
        # shutdown): a real peer that truncates, which the client reports.
        s_server.process.stdin.close()  # type: ignore[union-attr]
        with pytest.raises(TLSTruncated, match="close_notify"):
            tls.recv(10)
    assert s_server.finish().count(b"ping from typed-transports") == 1
    assert s_server.process.returncode == 0


@pytest.mark.parametrize(
    "s_server",
    [("-alpn", "h2,test/1", "-Verify", "1", "-verify_return_error", "-CAfile", "{ca}")],
    indirect=True,
    ids=["mtls"],
)
def test_client_with_openssl_s_server_alpn_and_client_certificate(s_server: SServer, tls_pki: PKI) -> None:
    context = tls_pki.client_context(alpn=["test/1", "other"], cert=tls_pki.client)
    with TLSTransport.connect("127.0.0.1", s_server.port, context=context, timeout=TIMEOUT) as tls:
        assert tls.selected_alpn_protocol() == "test/1"
        tls.send_all(b"hello\n")
        s_server.wait_for(b"hello\n")
        tls.shutdown("write")  # s_server reads the end and answers with its own close_notify
        assert tls.recv(10) == b""
    out = s_server.finish()
    assert b"ALPN protocols selected: test/1" in out or b"test/1" in out
    assert b"client.typed-transports.test" in out  # s_server printed our certificate's subject


def test_client_sha256_16mib_both_ways_with_openssl_s_server(s_server: SServer, tls_pki: PKI) -> None:
    up, down = bulk(b"up"), bulk(b"down")
    with TLSTransport.connect(
        "127.0.0.1", s_server.port, context=tls_pki.client_context(), server_hostname="localhost",
        timeout=TIMEOUT,
    ) as tls:  # fmt: skip
        tls.send_all(up)
        feeding = in_thread(lambda: s_server.write(down))
        got = tls.recv_exactly(BULK)
        feeding()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(down).hexdigest()
    out = s_server.finish()
    start = out.find(up[:4096])
    assert start >= 0, "s_server never printed what we sent"
    assert hashlib.sha256(out[start : start + BULK]).hexdigest() == hashlib.sha256(up).hexdigest()


def test_openssl_s_server_killed_is_a_truncation(s_server: SServer, tls_pki: PKI) -> None:
    """A real peer that goes away without close_notify: the read says so, never a silent b""."""
    with TLSTransport.connect(
        "127.0.0.1", s_server.port, context=tls_pki.client_context(), server_hostname="localhost",
        timeout=TIMEOUT,
    ) as tls:  # fmt: skip
        s_server.write(b"partial answer\n")
        assert tls.recv_exactly(15) == b"partial answer\n"
        s_server.process.kill()
        s_server.process.wait(TIMEOUT)
        with pytest.raises(TLSTruncated, match="close_notify"):
            tls.recv(10)


# -- openssl's client, our server --------------------------------------------------------------------


def s_client(port: int, pki: PKI, stdin: Path, stdout: Path, *args: str) -> subprocess.Popen[bytes]:
    """``openssl s_client`` verifying our server as ``localhost``; stdin and stdout are files."""
    assert OPENSSL is not None
    with stdin.open("rb") as source, stdout.open("wb") as sink:
        return subprocess.Popen(
            [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki.ca_file),
             "-servername", "localhost", "-verify_hostname", "localhost", "-verify_return_error",
             "-quiet", *args],
            stdin=source, stdout=sink, stderr=subprocess.PIPE,
        )  # fmt: skip


def reap(process: subprocess.Popen[bytes]) -> bytes:
    """Wait for *process* (kill it after the timeout); its stderr."""
    try:
        _, err = process.communicate(timeout=TIMEOUT * 3)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=TIMEOUT)
    return err


@pytest.fixture
def listener() -> Iterator[TCPListener]:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        listener.timeout = TIMEOUT
        yield listener


def port_of(listener: TCPListener) -> int:
    address = listener.address
    assert isinstance(address, InetAddress)
    return address.port


def test_server_sha256_16mib_both_ways_with_openssl_s_client(
    listener: TCPListener, tls_pki: PKI, tmp_path: Path
) -> None:
    up, down = os.urandom(BULK), os.urandom(BULK)
    (tmp_path / "up").write_bytes(up)
    peer = s_client(port_of(listener), tls_pki, tmp_path / "up", tmp_path / "down", "-alpn", "test/1")
    try:
        plain = listener.accept()
        plain.timeout = TIMEOUT
        with TLSTransport.wrap(plain, tls_pki.server_context(alpn=["test/1"]), server_side=True) as server:
            assert server.selected_alpn_protocol() == "test/1"
            got = server.recv_exactly(BULK)
            server.send_all(down)
            server.shutdown("write")
    finally:
        err = reap(peer)
    assert peer.returncode == 0, err
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(up).hexdigest()
    assert hashlib.sha256((tmp_path / "down").read_bytes()).hexdigest() == hashlib.sha256(down).hexdigest()


def test_server_requires_the_openssl_client_certificate(
    listener: TCPListener, tls_pki: PKI, tmp_path: Path
) -> None:
    (tmp_path / "in").write_bytes(b"mutual\n")
    files = tls_pki.files("client")
    peer = s_client(
        port_of(listener), tls_pki, tmp_path / "in", tmp_path / "out",
        "-cert", str(files.cert), "-key", str(files.key),
    )  # fmt: skip
    try:
        plain = listener.accept()
        plain.timeout = TIMEOUT
        context = tls_pki.server_context(require_client_cert=True)
        with TLSTransport.wrap(plain, context, server_side=True) as server:
            assert server.recv_exactly(7) == b"mutual\n"
            subject = dict(x[0] for x in server.getpeercert()["subject"])
            assert subject["commonName"] == "client.typed-transports.test"
            server.send_all(b"welcome\n")
            server.shutdown("write")
    finally:
        err = reap(peer)
    assert peer.returncode == 0, err
    assert (tmp_path / "out").read_bytes() == b"welcome\n"


def test_openssl_client_refusing_our_certificate_names_the_alert(
    listener: TCPListener, tls_pki: PKI, tmp_path: Path
) -> None:
    (tmp_path / "in").write_bytes(b"")
    peer = s_client(port_of(listener), tls_pki, tmp_path / "in", tmp_path / "out")
    try:
        plain = listener.accept()
        plain.timeout = TIMEOUT
        with pytest.raises(TLSHandshakeError) as caught:
            TLSTransport.wrap(plain, tls_pki.server_context(tls_pki.expired), server_side=True)
    finally:
        err = reap(peer)
    assert peer.returncode != 0
    assert b"expired" in err
    assert caught.value.reason is not None
    assert "CERTIFICATE_EXPIRED" in caught.value.reason
    assert "CERTIFICATE_EXPIRED" in str(caught.value)
