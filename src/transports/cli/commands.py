"""``transports serve``, ``send`` and ``recv``: socat-like plumbing over our transports (APUE 16.4, 16.5).

``serve`` listens (stream and seqpacket URLs) or binds (datagram URLs) and
echoes, discards or stores what arrives; ``send`` copies a file or stdin to
a URL, with ``sendfile`` for regular files; ``recv`` writes one
connection's bytes to a file with ``recv_into_file``. A listening command
announces its bound address as the first line on stderr
(``listening on tcp://127.0.0.1:40123``), so port 0 is usable from scripts.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import IO, TYPE_CHECKING, TextIO

import transports
from transports.kinds import Kind
from transports.protocols import DatagramTransport, SendfileCapable, StreamTransport, Transport
from transports.urls import split_scheme

if TYPE_CHECKING:
    from transports.cli.progress import ProgressBar

__all__ = ["CommandError", "Stopped", "recv_command", "send_command", "serve_command"]

#: Seconds to wait for a connection to be set up, unless --timeout says otherwise.
CONNECT_TIMEOUT = 10.0
_CHUNK = 256 * 1024


class CommandError(ValueError):
    """A problem the user can fix, reported as one line and exit status 2."""


class Stopped(BaseException):
    """Raised by the SIGTERM handler: stop serving, clean up, exit 0."""


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`Stopped` for the duration of the block (main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _announce(listening: str) -> None:
    print(f"listening on {listening}", file=sys.stderr, flush=True)


def _scheme(url: str) -> str:
    return split_scheme(url)[0]


def _kind_of(url: str) -> Kind:
    """The kind of transport *url* makes (UnknownScheme for a scheme nobody handles)."""
    from transports.registry import lookup

    return lookup(url).kind


def _progress_wanted(choice: bool | None) -> bool:
    return sys.stderr.isatty() if choice is None else choice


def _open_sink(path: str) -> IO[bytes]:
    try:
        return open(path, "wb")  # the caller closes it
    except OSError as exc:
        raise CommandError(f"cannot open {path!r} for writing: {_reason(exc)}") from exc


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


# -- serve ------------------------------------------------------------------------------------------


def serve_command(
    url: str,
    mode: str,
    sink: str | None,
    max_connections: int | None,
    timeout: float | None,
) -> int:
    """Serve *url* until Ctrl-C, SIGTERM or *max_connections* connections (messages for datagrams)."""
    kind = _kind_of(url)
    out = _open_sink(sink) if sink is not None else None
    try:
        with stop_on_sigterm():
            if kind is Kind.DATAGRAM:
                _serve_datagrams(url, mode, out, max_connections, timeout)
            else:
                _serve_connections(url, mode, out, max_connections, timeout)
    except Stopped:
        pass
    finally:
        if out is not None:
            out.close()
    return 0


def _serve_connections(
    url: str, mode: str, out: IO[bytes] | None, limit: int | None, timeout: float | None
) -> None:
    with transports.listen(url) as listener:
        _announce(listener.address.url(_scheme(url)))
        served = 0
        while limit is None or served < limit:
            with listener.accept() as conn:
                served += 1
                conn.timeout = timeout
                try:
                    _serve_one(conn, mode, out)
                except transports.TransportError as exc:
                    # One misbehaving peer does not stop the server.
                    print(f"transports serve: {exc}", file=sys.stderr, flush=True)


def _serve_one(conn: Transport, mode: str, out: IO[bytes] | None) -> None:
    if isinstance(conn, SendfileCapable) and mode == "sink":
        assert out is not None
        conn.recv_into_file(out)
        return
    largest = getattr(conn, "max_message_size", None)  # seqpacket: the whole message must fit
    size = max(largest, _CHUNK) if isinstance(largest, int) else _CHUNK
    buffer = bytearray(size)
    with memoryview(buffer) as view:
        while count := conn.recv_into(buffer):
            if mode == "echo":
                if isinstance(conn, StreamTransport):
                    conn.send_all(view[:count])
                else:
                    conn.send(view[:count])
            elif mode == "sink":
                assert out is not None
                out.write(view[:count])
    if mode == "echo" and isinstance(conn, StreamTransport):
        conn.shutdown("write")


def _serve_datagrams(
    url: str, mode: str, out: IO[bytes] | None, limit: int | None, timeout: float | None
) -> None:
    with transports.bind(url, timeout=timeout) as server:
        if not isinstance(server, DatagramTransport):
            raise CommandError(f"serve {url}: the scheme made a {server.kind.value} transport, not datagrams")
        _announce(server.local_address.url(_scheme(url)))
        size = server.max_message_size
        served = 0
        while limit is None or served < limit:
            message = server.recv_from(size)
            served += 1
            if mode == "echo":
                try:
                    server.send_to(message.data, message.address)
                except transports.TransportError as exc:
                    print(f"transports serve: {exc}", file=sys.stderr, flush=True)
            elif mode == "sink":
                assert out is not None
                out.write(message.data)
                out.flush()


# -- send -------------------------------------------------------------------------------------------


def send_command(
    url: str,
    source: str,
    lines: bool,
    progress: bool | None,
    timeout: float | None,
) -> int:
    """Copy *source* (a path, or ``-`` for stdin) to *url*."""
    kind = _kind_of(url)
    if source == "-":
        fd, size, owned = sys.stdin.buffer.fileno(), None, None
    else:
        try:
            owned = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(f"cannot open {source!r}: {_reason(exc)}") from exc
        fd = owned.fileno()
        st = os.fstat(fd)
        size = st.st_size if stat.S_ISREG(st.st_mode) else None
    try:
        conn = transports.connect(url, timeout=CONNECT_TIMEOUT if timeout is None else timeout)
        with conn:
            conn.timeout = timeout
            bar = _bar(progress, size, "send")
            update = bar.update if bar is not None else None
            try:
                if isinstance(conn, SendfileCapable):
                    conn.sendfile(fd, progress=update)
                else:  # messages, or a stream without sendfile (a plugin's)
                    _send_messages(conn, fd, lines and kind is not Kind.STREAM, update)
                if isinstance(conn, StreamTransport):
                    conn.shutdown("write")
                    _copy_replies(conn)
            finally:
                if bar is not None:
                    bar.finish()
    finally:
        if owned is not None:
            owned.close()
    return 0


def _bar(choice: bool | None, total: int | None, label: str) -> ProgressBar | None:
    if not _progress_wanted(choice):
        return None
    from transports.cli.progress import ProgressBar

    return ProgressBar(sys.stderr, total, label)


def _copy_replies(conn: StreamTransport) -> None:
    """After the half-close, copy whatever the peer answers to stdout until it closes."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    buffer = bytearray(_CHUNK)
    with memoryview(buffer) as view:
        while count := conn.recv_into(buffer):
            out.write(view[:count])
    out.flush()


def _send_messages(conn: Transport, fd: int, lines: bool, progress: Callable[[int], None] | None) -> None:
    """One message per line (``--lines``) or per read of up to the largest message (datagram, seqpacket)."""
    largest = getattr(conn, "max_message_size", None)  # datagram and seqpacket transports have one
    limit = min(largest, 65507) if isinstance(largest, int) else _CHUNK
    sent = 0
    with os.fdopen(os.dup(fd), "rb") as source:
        chunks: Iterator[bytes] = iter(source) if lines else iter(lambda: source.read(limit), b"")
        for chunk in chunks:
            if len(chunk) > limit:
                raise CommandError(
                    f"send {conn.remote_address}: a {len(chunk)}-byte line is longer than one "
                    f"message can be ({limit} bytes); send without --lines"
                )
            if isinstance(conn, StreamTransport):
                conn.send_all(chunk)
            else:
                conn.send(chunk)
            sent += len(chunk)
            if progress is not None:
                progress(sent)


# -- recv -------------------------------------------------------------------------------------------


def recv_command(
    url: str,
    target: str | None,
    connect: bool,
    progress: bool | None,
    timeout: float | None,
) -> int:
    """Receive one connection's bytes (listening, or connecting with *connect*) into *target* or stdout."""
    kind = _kind_of(url)
    if kind is not Kind.STREAM:
        raise CommandError(
            f"recv {url}: recv takes a stream URL (tcp, unix); for {kind.value} URLs use "
            "'transports serve URL --sink FILE'"
        )
    out = _open_sink(target) if target is not None and target != "-" else None
    try:
        with stop_on_sigterm():
            if connect:
                conn = transports.connect(url, timeout=CONNECT_TIMEOUT if timeout is None else timeout)
            else:
                with transports.listen(url, timeout=timeout) as listener:
                    _announce(listener.address.url(_scheme(url)))
                    conn = listener.accept()
            with conn:
                conn.timeout = timeout
                assert isinstance(conn, SendfileCapable)
                _receive(conn, out, progress, sys.stderr)
    except Stopped:
        pass
    finally:
        if out is not None:
            out.close()
    return 0


def _receive(conn: SendfileCapable, out: IO[bytes] | None, progress: bool | None, err: TextIO) -> None:
    bar = _bar(progress, None, "recv")
    try:
        if out is None:
            sys.stdout.flush()
            sys.stdout.buffer.flush()
            conn.recv_into_file(sys.stdout.fileno(), progress=bar.update if bar else None)
        else:
            conn.recv_into_file(out, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.finish()
