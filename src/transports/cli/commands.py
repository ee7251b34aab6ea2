"""``transports serve`` and ``recv``, and what every command shares: socat-like plumbing (:apue:`16.4`, :apue:`16.5`).

``serve`` listens (stream and seqpacket URLs) or binds (datagram URLs) and
echoes, discards or stores what arrives; ``recv`` writes one connection's
bytes to a file with ``recv_into_file``; ``send`` (in
:mod:`transports.cli.send`) copies a file or stdin to a URL. A listening
command announces its bound address as the first line on stderr
(``listening on tcp://127.0.0.1:40123``), so port 0 is usable from scripts.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import IO, TYPE_CHECKING, TextIO

import transports
from transports._builtin_schemes import PASSED_SCHEMES
from transports.flags import SendFlags
from transports.kinds import Kind
from transports.protocols import DatagramTransport, SendfileCapable, StreamTransport, Transport
from transports.urls import split_scheme

if TYPE_CHECKING:
    import ssl

    from transports.cli.progress import ProgressBar

__all__ = [
    "CHUNK",
    "CONNECT_TIMEOUT",
    "CommandError",
    "Stopped",
    "UsageError",
    "connect_timeout",
    "kind_of",
    "progress_bar",
    "reason",
    "recv_command",
    "serve_command",
    "stop_on_sigterm",
    "systemd_url",
]

#: Seconds to wait for a connection to be set up, unless --timeout says otherwise.
CONNECT_TIMEOUT = 10.0
#: Bytes a command reads or receives at a time.
CHUNK = 256 * 1024


class CommandError(ValueError):
    """A failure while running that the user can fix (a file that cannot be read): one line, exit status 1."""


class UsageError(CommandError):
    """A command line that cannot work (a datagram URL for ``recv``): one line, exit status 2."""


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


def _shown_scheme(url: str, opened: object) -> str:
    """The scheme to announce *opened* with: a passed socket's own network (tcp, unix ...), not systemd://."""
    scheme = _scheme(url)
    return str(getattr(opened, "network", scheme)) if scheme in PASSED_SCHEMES else scheme


def systemd_url(name: str) -> str:
    """The URL of ``serve --systemd [NAME]``: the passed socket named *name*, or the first ('')."""
    from transports._core.activation import process_activation

    if name:
        return f"systemd://{name}"
    passed = process_activation()
    if not len(passed):
        raise CommandError(
            "serve --systemd: no socket was passed (LISTEN_PID/LISTEN_FDS are not set for this process); "
            "start it from a .socket unit or under systemd-socket-activate, or give a URL"
        )
    return f"fd://{passed.entry(0).fd}"


@contextmanager
def _notifying(systemd: bool) -> Iterator[None]:
    """With *systemd*: READY=1 to the service manager now, STOPPING=1 when the block ends, however it ends."""
    if not systemd:
        yield
        return
    _tell("READY=1")
    try:
        yield
    finally:
        _tell("STOPPING=1")


def _tell(state: str) -> None:
    try:
        transports.notify(state)
    except transports.TransportError as exc:
        raise CommandError(
            f"could not tell the service manager {state} at NOTIFY_SOCKET: {exc}; is the variable stale?"
        ) from exc


def kind_of(url: str) -> Kind:
    """The kind of transport *url* makes; a malformed URL raises AddressError before anything is done.

    Built-in URLs are parsed here, so that ``serve BAD-URL --sink FILE`` does
    not truncate FILE first; a plugin's URLs are checked when it opens them.
    """
    from transports.registry import lookup, parse_address
    from transports.urls import INET_SCHEMES, TLS_SCHEMES, UNIX_SCHEMES, parse_url

    if _scheme(url) in PASSED_SCHEMES:
        from transports._core.activation import passed_kind

        parse_address(url)  # systemd://NAME, fd://N
        return passed_kind(url)
    kind = lookup(url).kind
    if _scheme(url) in INET_SCHEMES or _scheme(url) in UNIX_SCHEMES:
        parse_url(url)
    elif _scheme(url) in TLS_SCHEMES:
        parse_address(url)  # the URL of the stream under TLS
    return kind


def _progress_wanted(choice: bool | None) -> bool:
    return sys.stderr.isatty() if choice is None else choice


def _open_sink(path: str) -> IO[bytes]:
    try:
        return open(path, "wb")  # the caller closes it
    except OSError as exc:
        raise CommandError(f"cannot open {path!r} for writing: {reason(exc)}") from exc


def reason(exc: OSError) -> str:
    """Why a file operation failed, as a clause of a message (lower case, no errno number)."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def connect_timeout(timeout: float | None) -> float:
    """The limit on connecting: --timeout, else :data:`CONNECT_TIMEOUT`."""
    return CONNECT_TIMEOUT if timeout is None else timeout


def progress_bar(choice: bool | None, total: int | None, label: str) -> ProgressBar | None:
    """A progress bar on stderr for *label*, or None when --progress (or its default) says no."""
    if not _progress_wanted(choice):
        return None
    from transports.cli.progress import ProgressBar

    return ProgressBar(sys.stderr, total, label)


@contextmanager
def _until_stopped(sink: str | None) -> Iterator[IO[bytes] | None]:
    """Open *sink* for writing (None: no file), run the block until it ends or SIGTERM, close the file.

    The file is opened before anything listens, so that a path that cannot be
    written is reported before a peer has connected.
    """
    out = _open_sink(sink) if sink is not None else None
    try:
        with stop_on_sigterm():
            yield out
    except Stopped:
        pass
    finally:
        if out is not None:
            out.close()


# -- serve ------------------------------------------------------------------------------------------


def serve_command(
    url: str,
    mode: str,
    sink: str | None,
    max_connections: int | None,
    timeout: float | None,
    context: ssl.SSLContext | None = None,
    *,
    systemd: bool = False,
) -> int:
    """Serve *url* until Ctrl-C, SIGTERM or *max_connections* connections (messages for datagrams).

    *context* is the server context of a TLS URL. With *systemd* (a passed
    socket's URL), READY=1 goes to the service manager once serving, and
    STOPPING=1 on the way out.
    """
    kind = kind_of(url)
    with _until_stopped(sink) as out:
        if kind is Kind.DATAGRAM:
            _serve_datagrams(url, mode, out, max_connections, timeout, systemd)
        else:
            _serve_connections(url, mode, out, max_connections, timeout, context, systemd)
    return 0


def _serve_connections(
    url: str,
    mode: str,
    out: IO[bytes] | None,
    limit: int | None,
    timeout: float | None,
    context: ssl.SSLContext | None,
    systemd: bool,
) -> None:
    with transports.listen(url, context=context) as listener, _notifying(systemd):
        _announce(listener.address.url(_shown_scheme(url, listener)))
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
    size = max(largest, CHUNK) if isinstance(largest, int) else CHUNK
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
    url: str, mode: str, out: IO[bytes] | None, limit: int | None, timeout: float | None, systemd: bool
) -> None:
    with transports.bind(url, timeout=timeout) as server, _notifying(systemd):
        if not isinstance(server, DatagramTransport):
            raise CommandError(f"serve {url}: the scheme made a {server.kind.value} transport, not datagrams")
        _announce(server.local_address.url(_shown_scheme(url, server)))
        size = server.max_message_size
        served = 0
        quiet_about: object = None  # the peer whose dropped echoes were already reported
        while limit is None or served < limit:
            message = server.recv_from(size)
            served += 1
            if mode == "echo":
                try:
                    # Never wait for one peer's room: a Unix datagram peer that does not read would
                    # stall the server, and with it the peer's own sends (a deadlock).
                    server.send_to(message.data, message.address, SendFlags.DONTWAIT)
                    quiet_about = None
                except (transports.WouldBlock, transports.ConnectionRefused) as exc:
                    # Datagrams may be lost: say so once per peer, not once per message.
                    if quiet_about != message.address:
                        quiet_about = message.address
                        why = (
                            "its receive queue is full (is it reading?)"
                            if isinstance(exc, transports.WouldBlock)
                            else "it has closed its socket (connection refused)"
                        )
                        print(
                            f"transports serve: dropped the echo to {message.address}: {why}; "
                            "further drops to it are not reported",
                            file=sys.stderr,
                            flush=True,
                        )
                except transports.TransportError as exc:
                    print(f"transports serve: {exc}", file=sys.stderr, flush=True)
            elif mode == "sink":
                assert out is not None
                out.write(message.data)
                out.flush()


# -- recv -------------------------------------------------------------------------------------------


def recv_command(
    url: str,
    target: str | None,
    connect: bool,
    progress: bool | None,
    timeout: float | None,
    context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> int:
    """Receive one connection's bytes (listening, or connecting with *connect*) into *target* or stdout.

    *context* (and, connecting, *server_hostname*) are for a TLS URL.
    """
    kind = kind_of(url)
    if kind is not Kind.STREAM:
        raise UsageError(
            f"{url} is a {kind.value} URL; recv takes a stream URL (tcp, unix, tls); for {kind.value} "
            "URLs use 'transports serve URL --sink FILE'"
        )
    with _until_stopped(None if target == "-" else target) as out:
        if connect:
            conn = transports.connect(
                url, timeout=connect_timeout(timeout), context=context, server_hostname=server_hostname
            )
        else:
            with transports.listen(url, timeout=timeout, context=context) as listener:
                _announce(listener.address.url(_scheme(url)))
                conn = listener.accept()
        with conn:
            conn.timeout = timeout
            assert isinstance(conn, SendfileCapable)
            _receive(conn, out, progress, sys.stderr)
    return 0


def _receive(conn: SendfileCapable, out: IO[bytes] | None, progress: bool | None, err: TextIO) -> None:
    bar = progress_bar(progress, None, "recv")
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
