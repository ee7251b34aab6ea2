"""Interoperability with socat, a peer nobody here wrote (APUE 16.4, 16.5, 17.2).

Every kind talks to socat in both directions and the bytes are compared by
SHA-256: our transports send and socat receives, then socat sends and our
transports receive. Synchronisation never sleeps: wherever possible socat
connects to a socket we already listen on or are bound to; where socat must
be the listener, we wait for its own "listening on" notice before connecting.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

import transports
from conftest import needs_ipv6
from transports import (
    Address,
    DatagramTransport,
    InetAddress,
    NamedAddress,
    StreamTransport,
    UnixAddress,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
)
from transports.options import TCP_NODELAY
from transports.urls import parse_url

pytestmark = pytest.mark.socat

#: Seconds any one blocking step may take.
TIMEOUT = 5.0
LINUX = sys.platform.startswith("linux")
STREAM_SIZE = 3 * 1024 * 1024 + 4321  # odd on purpose: no power-of-two luck


linux_only = pytest.mark.skipif(not LINUX, reason="abstract Unix socket names exist only on Linux")
needs_seqpacket = pytest.mark.skipif(
    not LINUX or not hasattr(socket, "SOCK_SEQPACKET"),
    reason="Unix seqpacket sockets are a Linux feature here",
)


@pytest.fixture(scope="module")
def socat_path() -> str:
    """The socat program; missing, it skips the tests, or fails them when CI requires it."""
    path = shutil.which("socat")
    if path is None:
        if os.environ.get("TRANSPORTS_REQUIRE_SOCAT") == "1":
            pytest.fail("socat is not installed but TRANSPORTS_REQUIRE_SOCAT=1 requires it")
        pytest.skip("socat is not installed (set TRANSPORTS_REQUIRE_SOCAT=1 to fail instead)")
    return path


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short private directory for socket paths (sun_path holds 107 bytes) and files."""
    path = Path(tempfile.mkdtemp(prefix="tt-socat-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _payload(size: int, seed: str) -> bytes:
    return random.Random(seed).randbytes(size)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_fd_until(fd: int, done: re.Pattern[bytes] | int, what: str, buffer: bytearray) -> None:
    """Read *fd* into *buffer* until *done* (a pattern found, or a byte count reached).

    Waits with select and a deadline, so a silent peer fails the test instead of hanging it.
    """

    def finished() -> bool:
        if isinstance(done, int):
            return len(buffer) >= done
        return done.search(buffer) is not None

    deadline = time.monotonic() + TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not finished():
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"timed out after {TIMEOUT} s waiting for {what}")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise AssertionError(f"end of file while waiting for {what}")
            buffer += chunk


class Socat:
    """One socat process that is always reaped: killed if still running when the block ends."""

    def __init__(self, exe: str, args: Sequence[str], *, notices: bool = False, stdio: bool = False) -> None:
        # -d prints warnings as well as errors; -d -d adds the "listening on" notice.
        self.argv = [exe, "-d", *(["-d"] if notices else []), *args]
        pipe_or_null = subprocess.PIPE if stdio else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            self.argv, stdin=pipe_or_null, stdout=pipe_or_null, stderr=subprocess.PIPE
        )
        self._stderr = bytearray()
        self._stdout = bytearray()
        self._consumed = 0  # bytes of stdout already handed out by read_stdout

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        # Reaps the process and closes every pipe, finished or not.
        self.proc.communicate(timeout=TIMEOUT)

    def _describe(self) -> str:
        return f"{' '.join(self.argv)!r}; its stderr: {bytes(self._stderr).decode(errors='replace')!r}"

    def wait_listening(self) -> str:
        """Wait for socat's notice that its socket listens; return what it says it listens on."""
        assert self.proc.stderr is not None
        pattern = re.compile(rb"listening on ([^\n]*)\n")
        try:
            _read_fd_until(self.proc.stderr.fileno(), pattern, "socat to listen", self._stderr)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self._describe()}") from None
        found = pattern.search(self._stderr)
        assert found is not None
        return found.group(1).decode(errors="replace")

    def send_stdin(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_stdout(self, size: int) -> bytes:
        """The next *size* bytes socat writes to its standard output."""
        assert self.proc.stdout is not None
        end = self._consumed + size
        try:
            _read_fd_until(self.proc.stdout.fileno(), end, f"{size} bytes from socat", self._stdout)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc} (got {len(self._stdout) - self._consumed}): {self._describe()}"
            ) from None
        data, self._consumed = bytes(self._stdout[self._consumed : end]), end
        return data

    def finish(self) -> bytes:
        """Close socat's stdin, wait for it to exit, check that it succeeded; return stdout not yet read."""
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"socat did not exit within {TIMEOUT} s: {self._describe()}") from None
        self._stderr += err or b""
        assert self.proc.returncode == 0, f"socat exited with {self.proc.returncode}: {self._describe()}"
        return bytes(self._stdout[self._consumed :]) + (out or b"")


# -- socat address spellings for our addresses --------------------------------------------


def _socat_stream_peer(address: Address) -> str:
    """socat's name for connecting to our listener at *address*."""
    assert not isinstance(address, NamedAddress), "socat only reaches socket addresses"
    if isinstance(address, InetAddress):
        if address.is_ipv6:
            return f"TCP6:[{address.host}]:{address.port}"
        return f"TCP4:{address.host}:{address.port}"
    if address.abstract:
        return f"ABSTRACT-CONNECT:{address.path}"
    return f"UNIX-CONNECT:{address.path}"


def _socat_sendto(address: Address) -> str:
    """socat's name for sending datagrams to our socket bound at *address*."""
    assert not isinstance(address, NamedAddress), "socat only reaches socket addresses"
    if isinstance(address, InetAddress):
        if address.is_ipv6:
            return f"UDP6-SENDTO:[{address.host}]:{address.port}"
        return f"UDP4-SENDTO:{address.host}:{address.port}"
    if address.abstract:
        return f"ABSTRACT-SENDTO:{address.path}"
    return f"UNIX-SENDTO:{address.path}"


STREAM_CASES = [
    pytest.param("tcp4", id="tcp4"),
    pytest.param("tcp6", id="tcp6", marks=needs_ipv6),
    pytest.param("unix", id="unix"),
    pytest.param("unix-abstract", id="unix-abstract", marks=linux_only),
]
DATAGRAM_CASES = [
    pytest.param("udp4", id="udp4"),
    pytest.param("udp6", id="udp6", marks=needs_ipv6),
    pytest.param("unixgram", id="unixgram"),
    pytest.param("unixgram-abstract", id="unixgram-abstract", marks=linux_only),
]


def _listen_url(case: str, workdir: Path) -> str:
    return {
        "tcp4": "tcp4://127.0.0.1:0",
        "tcp6": "tcp6://[::1]:0",
        "unix": UnixAddress(str(workdir / "ours.sock")).url("unix"),
        "unix-abstract": f"unix://@typed-transports-socat-{uuid.uuid4().hex}",
    }[case]


def _bind_url(case: str, workdir: Path) -> str:
    return {
        "udp4": "udp4://127.0.0.1:0",
        "udp6": "udp6://[::1]:0",
        "unixgram": UnixAddress(str(workdir / "ours.sock")).url("unixgram"),
        "unixgram-abstract": f"unixgram://@typed-transports-socat-{uuid.uuid4().hex}",
    }[case]


# -- byte streams ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_we_send_socat_receives(socat_path: str, workdir: Path, case: str) -> None:
    payload = _payload(STREAM_SIZE, f"send-{case}")
    out = workdir / "received"
    with transports.listen(_listen_url(case, workdir), timeout=TIMEOUT) as listener:
        peer = _socat_stream_peer(listener.address)
        with Socat(socat_path, ["-u", peer, f"CREATE:{out}"]) as socat:
            with listener.accept() as conn:
                assert isinstance(conn, StreamTransport)
                conn.timeout = TIMEOUT
                conn.send_all(memoryview(payload))
                conn.shutdown("write")
                # socat writes what it read to the file and closes at our EOF.
                assert conn.recv(1) == b""
            socat.finish()
    assert _sha(out.read_bytes()) == _sha(payload)


@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_socat_sends_we_receive(socat_path: str, workdir: Path, case: str) -> None:
    payload = _payload(STREAM_SIZE, f"recv-{case}")
    source = workdir / "source"
    source.write_bytes(payload)
    with transports.listen(_listen_url(case, workdir), timeout=TIMEOUT) as listener:
        peer = _socat_stream_peer(listener.address)
        with Socat(socat_path, ["-u", f"OPEN:{source},rdonly", peer]) as socat:
            with listener.accept() as conn:
                assert isinstance(conn, StreamTransport)
                conn.timeout = TIMEOUT
                assert conn.remote_address is not None
                received = conn.recv_exactly(len(payload))
                assert conn.recv(1) == b""  # socat ends the stream after the file
            socat.finish()
    assert _sha(received) == _sha(payload)


def _socat_listen(case: str, workdir: Path) -> tuple[str, str]:
    """socat's listening address for *case*, and the URL to connect to once it listens (port to fill in)."""
    if case == "tcp4":
        return "TCP4-LISTEN:0,bind=127.0.0.1,nodelay", "tcp4://127.0.0.1:{port}"
    if case == "tcp6":
        return "TCP6-LISTEN:0,bind=[::1],nodelay", "tcp6://[::1]:{port}"
    if case == "unix":
        path = str(workdir / "socat.sock")
        return f"UNIX-LISTEN:{path}", UnixAddress(path).url("unix")
    name = f"typed-transports-socat-{uuid.uuid4().hex}"
    return f"ABSTRACT-LISTEN:{name}", f"unix://@{name}"


@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_echo_through_socat_listener(socat_path: str, workdir: Path, case: str) -> None:
    # socat listens and echoes through a pipe; we connect with transports.connect.
    payload = _payload(1024 * 1024 + 17, f"echo-{case}")
    listen_address, url = _socat_listen(case, workdir)
    with Socat(socat_path, [listen_address, "PIPE"], notices=True) as socat:
        listening = socat.wait_listening()
        if "{port}" in url:
            found = re.search(r":(\d+)\s*$", listening)
            assert found is not None, listening
            url = url.format(port=found.group(1))
        # Nagle's algorithm against delayed ACKs would stall each round trip
        # of this stop-and-wait echo for tens of milliseconds: off on both ends.
        options = [TCP_NODELAY(True)] if case.startswith("tcp") else []
        with transports.connect(url, timeout=TIMEOUT, options=options) as conn:
            assert isinstance(conn, StreamTransport)
            assert conn.remote_address == parse_url(url).address
            echoed = bytearray()
            # Chunks small enough for the socket buffers and socat's pipe:
            # sending everything before reading could fill both and deadlock.
            chunk = 64 * 1024
            for start in range(0, len(payload), chunk):
                piece = payload[start : start + chunk]
                conn.send_all(piece)
                echoed += conn.recv_exactly(len(piece))
            conn.shutdown("write")
            assert conn.recv(1) == b""  # our EOF went through the pipe and came back
        socat.finish()
    assert _sha(bytes(echoed)) == _sha(payload)


# -- datagrams ---------------------------------------------------------------------------------

#: Sizes of the messages we send: from one byte to near UDP's 65,507-byte
#: limit. Their sum (with the kernel's per-datagram overhead) stays well
#: inside the default receive buffer, so loopback UDP cannot drop any.
MESSAGE_SIZES = [1, 100, 1500, 9000, 30000, 60000]
#: socat sends a file as datagrams of this size (one read of the file each).
SOCAT_BLOCK = 16384
SOCAT_FILE_SIZE = 4 * SOCAT_BLOCK + 4321


def _check_sender(case: str, sender: Address, unix_name: Address | None) -> None:
    """socat's socket as our receive reports it: a loopback port, or the Unix name it has."""
    if case.startswith("udp"):
        assert isinstance(sender, InetAddress)
        assert sender.host == ("::1" if case == "udp6" else "127.0.0.1")
        assert sender.port > 0
    else:
        assert sender == unix_name


@pytest.mark.parametrize("case", DATAGRAM_CASES)
def test_datagrams_socat_sends_we_receive(socat_path: str, workdir: Path, case: str) -> None:
    payload = _payload(SOCAT_FILE_SIZE, f"dgram-recv-{case}")
    source = workdir / "source"
    source.write_bytes(payload)
    # We are bound before socat starts, so nothing it sends can miss us.
    with transports.bind(_bind_url(case, workdir), timeout=TIMEOUT) as ours:
        assert isinstance(ours, DatagramTransport)
        args = ["-u", "-b", str(SOCAT_BLOCK), f"OPEN:{source},rdonly", _socat_sendto(ours.local_address)]
        with Socat(socat_path, args) as socat:
            received = bytearray()
            sizes = []
            while len(received) < len(payload):
                # Twice the room socat uses: a message cut short would show as truncated.
                datagram = ours.recv_from(2 * SOCAT_BLOCK)
                assert not datagram.truncated
                assert datagram.size in (len(datagram.data), None)  # None: the platform does not say
                _check_sender(case, datagram.address, UnixAddress(""))  # socat's Unix socket is unnamed
                sizes.append(len(datagram.data))
                received += datagram.data
            socat.finish()
    # One read of the file is one message: boundaries survive the trip.
    assert sizes == [SOCAT_BLOCK] * 4 + [4321]
    assert _sha(bytes(received)) == _sha(payload)


def _socat_datagram_peer(ours: Address, workdir: Path) -> tuple[str, Address | None]:
    """A socat address whose socket talks to *ours* only, and where that socket is bound.

    UDP sockets get an ephemeral port (``None``: not known in advance); Unix
    ones are bound to a name we choose so that our replies can reach them.
    """
    assert not isinstance(ours, NamedAddress), "socat only reaches socket addresses"
    if isinstance(ours, InetAddress):
        host = f"[{ours.host}]" if ours.is_ipv6 else ours.host
        return f"UDP{'6' if ours.is_ipv6 else '4'}:{host}:{ours.port}", None
    if ours.abstract:
        name = f"typed-transports-socat-{uuid.uuid4().hex}"
        return f"ABSTRACT-SENDTO:{ours.path},bind={name}", UnixAddress(name, abstract=True)
    path = str(workdir / "socat.sock")
    return f"UNIX-SENDTO:{ours.path},bind={path}", UnixAddress(path)


@pytest.mark.parametrize("case", DATAGRAM_CASES)
def test_datagrams_we_send_socat_receives(socat_path: str, workdir: Path, case: str) -> None:
    messages = [_payload(size, f"dgram-send-{case}-{size}") for size in MESSAGE_SIZES]
    expected = b"".join(messages)
    with transports.bind(_bind_url(case, workdir), timeout=TIMEOUT) as ours:
        assert isinstance(ours, DatagramTransport)
        assert max(MESSAGE_SIZES) <= ours.max_message_size
        peer, socat_address = _socat_datagram_peer(ours.local_address, workdir)
        # socat relays between its datagram socket and its stdin/stdout. A
        # datagram sent before socat's socket exists would be lost (UDP) or
        # refused (Unix), so socat speaks first: the byte we write to its
        # stdin arrives as a datagram once its socket is bound, and tells us
        # where that socket is. Then we send, and read socat's stdout until
        # every byte is there: no timing guess anywhere. "-t 0.1" only
        # shortens socat's wait for an end-of-file that UDP never carries,
        # after everything has been checked.
        with Socat(socat_path, ["-b", "65536", "-t", "0.1", peer, "STDIO"], stdio=True) as socat:
            socat.send_stdin(b"R")
            ready = ours.recv_from(16)
            assert ready.data == b"R"
            assert not ready.truncated
            _check_sender(case, ready.address, socat_address)
            for message in messages:
                assert ours.send_to(message, ready.address) == len(message)
            received = socat.read_stdout(len(expected))
            assert socat.finish() == b""  # nothing beyond what we sent
    assert _sha(received) == _sha(expected)


# -- seqpacket ---------------------------------------------------------------------------------

_SEQPACKET = f"socktype={int(getattr(socket, 'SOCK_SEQPACKET', 5))}"


@needs_seqpacket
def test_seqpacket_socat_sends_we_receive(socat_path: str, workdir: Path) -> None:
    payload = _payload(SOCAT_FILE_SIZE, "seqpacket-recv")
    source = workdir / "source"
    source.write_bytes(payload)
    path = str(workdir / "ours.sock")
    with UnixSeqpacketListener.listen(path, timeout=TIMEOUT) as listener:
        args = ["-u", "-b", str(SOCAT_BLOCK), f"OPEN:{source},rdonly", f"UNIX-CONNECT:{path},{_SEQPACKET}"]
        with Socat(socat_path, args) as socat:
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                messages = []
                while message := conn.recv(2 * SOCAT_BLOCK):
                    messages.append(message)
            socat.finish()
    assert [len(m) for m in messages] == [SOCAT_BLOCK] * 4 + [4321]
    assert _sha(b"".join(messages)) == _sha(payload)


@needs_seqpacket
def test_seqpacket_we_send_socat_receives(socat_path: str, workdir: Path) -> None:
    messages = [_payload(size, f"seqpacket-send-{size}") for size in MESSAGE_SIZES]
    out = workdir / "received"
    path = str(workdir / "ours.sock")
    with UnixSeqpacketListener.listen(path, timeout=TIMEOUT) as listener:
        args = ["-u", "-b", "65536", f"UNIX-CONNECT:{path},{_SEQPACKET}", f"CREATE:{out}"]
        with Socat(socat_path, args) as socat:
            with listener.accept() as conn:
                assert isinstance(conn, UnixSeqpacketTransport)
                conn.timeout = TIMEOUT
                for message in messages:
                    assert conn.send(message) == len(message)
                conn.shutdown("write")
                assert conn.recv(16) == b""  # socat closed after our end of stream
            socat.finish()
    assert _sha(out.read_bytes()) == _sha(b"".join(messages))
