"""``transports serve``, ``send`` and ``recv``: socat-like plumbing over our transports (APUE 16.4, 16.5).

``serve`` listens (stream and seqpacket URLs) or binds (datagram URLs) and
echoes, discards or stores what arrives; ``send`` copies a file or stdin to
a URL, with ``sendfile`` for regular files; ``recv`` writes one
connection's bytes to a file with ``recv_into_file``. A listening command
announces its bound address as the first line on stderr
(``listening on tcp://127.0.0.1:40123``), so port 0 is usable from scripts.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import IO, TYPE_CHECKING, TextIO

from typing_extensions import Protocol, runtime_checkable

import transports
from transports.errors import TransportTimeout
from transports.flags import SendFlags
from transports.kinds import Kind
from transports.protocols import DatagramTransport, SendfileCapable, ShutdownHow, StreamTransport, Transport
from transports.urls import split_scheme

if TYPE_CHECKING:
    from transports.cli.progress import ProgressBar

__all__ = ["CommandError", "Stopped", "UsageError", "recv_command", "send_command", "serve_command"]

#: Seconds to wait for a connection to be set up, unless --timeout says otherwise.
CONNECT_TIMEOUT = 10.0
_CHUNK = 256 * 1024
#: The largest UDP payload: no message sent by ``send`` is longer.
_UDP_PAYLOAD = 65507
#: Seconds to wait for the sending thread after the reading side failed (it is woken at once).
_STOP_WAIT = 5.0


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


def _kind_of(url: str) -> Kind:
    """The kind of transport *url* makes; a malformed URL raises AddressError before anything is done.

    Built-in URLs are parsed here, so that ``serve BAD-URL --sink FILE`` does
    not truncate FILE first; a plugin's URLs are checked when it opens them.
    """
    from transports.registry import lookup
    from transports.urls import INET_SCHEMES, UNIX_SCHEMES, parse_url

    kind = lookup(url).kind
    if _scheme(url) in INET_SCHEMES or _scheme(url) in UNIX_SCHEMES:
        parse_url(url)
    return kind


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


# -- send -------------------------------------------------------------------------------------------


@runtime_checkable
class _Duplex(Transport, Protocol):
    """A connection with a half-close: streams and seqpacket (APUE 16.2 Socket Descriptors)."""

    def shutdown(self, how: ShutdownHow = "write") -> None: ...


class _Aborted(Exception):
    """The reading side gave up (an error, Ctrl-C): the sending thread stops quietly."""


class _Source:
    """The data to send, read from a descriptor (APUE 14.4 I/O Multiplexing).

    With a *wake* descriptor, every read first polls both: when the other
    side of the exchange gives up it makes *wake* readable, and a read that
    waits for a terminal or a pipe that never ends stops with
    :class:`_Aborted` instead of keeping a thread alive.
    """

    def __init__(self, fd: int, name: str, wake: int | None = None) -> None:
        self._fd = fd
        self._name = name
        self._wake = wake
        self._poller: select.poll | None = None
        if wake is not None:
            self._poller = select.poll()
            self._poller.register(fd, select.POLLIN)
            self._poller.register(wake, select.POLLIN)

    def fileno(self) -> int:
        return self._fd

    def read(self, size: int) -> bytes:
        """Up to *size* bytes; ``b""`` at the end."""
        if self._poller is not None:
            ready = {fd for fd, _ in self._poller.poll()}
            if self._wake in ready:
                raise _Aborted
        try:
            return os.read(self._fd, size)
        except OSError as exc:
            raise CommandError(f"cannot read {self._name}: {_reason(exc)}") from exc

    def chunks(self, size: int) -> Iterator[bytes]:
        """Reads of up to *size* bytes until the end."""
        while chunk := self.read(size):
            yield chunk

    def lines(self, limit: int, where: str) -> Iterator[bytes]:
        """One line at a time, newline included; a line of more than *limit* bytes is an error.

        Memory stays within one read and one line, whatever the input.
        """
        pending = bytearray()
        while data := self.read(_CHUNK):
            pending += data
            start = 0
            while (end := pending.find(b"\n", start)) != -1:
                yield self._fits(pending[start : end + 1], limit, where)
                start = end + 1
            del pending[:start]
            self._fits(pending, limit, where)
        if pending:
            yield bytes(pending)

    @staticmethod
    def _fits(line: bytearray, limit: int, where: str) -> bytes:
        if len(line) > limit:
            raise CommandError(
                f"send {where}: a line of more than {limit} bytes does not fit in one message "
                f"(at most {limit} bytes here); send without --lines"
            )
        return bytes(line)


def send_command(
    url: str,
    source: str,
    lines: bool,
    progress: bool | None,
    timeout: float | None,
) -> int:
    """Copy *source* (a path, or ``-`` for stdin) to *url*; print what a connection answers."""
    kind = _kind_of(url)
    if source == "-":
        fd, size, owned, name = sys.stdin.buffer.fileno(), None, None, "stdin"
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    else:
        try:
            owned = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(f"cannot open {source!r}: {_reason(exc)}") from exc
        fd, name = owned.fileno(), repr(source)
        st = os.fstat(fd)
        regular = stat.S_ISREG(st.st_mode)
        size = st.st_size if regular else None
    try:
        conn = transports.connect(url, timeout=CONNECT_TIMEOUT if timeout is None else timeout)
        with conn:
            conn.timeout = timeout
            bar = _bar(progress, size, "send")
            update = bar.update if bar is not None else None
            by_line = lines and kind is not Kind.STREAM
            try:
                if kind is not Kind.DATAGRAM and isinstance(conn, _Duplex):
                    # A connection: send and read the answer at once, as socat and nc do. Sending
                    # everything first deadlocks against an echo once both socket buffers are full.
                    _exchange(
                        conn,
                        lambda wake: _send_all_of(conn, _Source(fd, name, wake), regular, by_line, update),
                        timeout,
                    )
                else:  # datagrams: no end of stream, so no answer is awaited
                    _send_all_of(conn, _Source(fd, name), regular, by_line, update)
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


def _send_all_of(
    conn: Transport, source: _Source, regular: bool, lines: bool, progress: Callable[[int], None] | None
) -> None:
    """Send everything *source* holds: ``sendfile`` for a regular file on a stream, else a copy loop."""
    if regular and not lines and isinstance(conn, SendfileCapable):
        conn.sendfile(source.fileno(), progress=progress)
        return
    if isinstance(conn, StreamTransport) and not lines:
        chunks = source.chunks(_CHUNK)
        send: Callable[[bytes], object] = conn.send_all
    else:
        # One message per line (--lines) or per read of up to the largest message.
        largest = getattr(conn, "max_message_size", None)  # datagram and seqpacket transports have one
        limit = min(largest, _UDP_PAYLOAD) if isinstance(largest, int) else _CHUNK
        where = str(conn.remote_address)
        chunks = source.lines(limit, where) if lines else source.chunks(limit)
        send = conn.send_all if isinstance(conn, StreamTransport) else conn.send
    sent = 0
    for chunk in chunks:
        send(chunk)
        sent += len(chunk)
        if progress is not None:
            progress(sent)


class _Sender:
    """The sending half of an exchange, in a thread of its own: sends, then half-closes."""

    def __init__(self, conn: _Duplex, send: Callable[[int], None]) -> None:
        self._conn = conn
        self._send = send
        self._wake_read, self._wake_write = os.pipe()
        self.error: BaseException | None = None
        #: time.monotonic() when the half-close went out (None while sending).
        self.finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="transports-send", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._send(self._wake_read)
            self._conn.shutdown("write")  # end of stream: the peer finishes its answer
            self.finished_at = time.monotonic()
        except _Aborted:
            pass  # the reading side has its own error to report
        except BaseException as exc:  # reported by the main thread after join()
            self.error = exc
            _abort(self._conn)  # wake the reading side: there is no answer to wait for any more

    @property
    def sending(self) -> bool:
        return self._thread.is_alive() and self.finished_at is None

    def wait(self) -> None:
        """Wait until everything is sent (Ctrl-C interrupts the wait)."""
        self._thread.join()

    def finish(self) -> None:
        """After :meth:`wait`: release the wake-up pipe and re-raise the sender's error."""
        self._close_pipe()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """The reading side failed: wake the sender wherever it waits, and wait for it to end."""
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"!")  # a read of the source
        _abort(self._conn)  # a send: shutdown makes it fail at once
        self._thread.join(_STOP_WAIT)
        if not self._thread.is_alive():
            self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_read = self._wake_write = -1


def _abort(conn: _Duplex) -> None:
    """Shut both directions down, waking a thread blocked on either (the peer sees the end too)."""
    with contextlib.suppress(OSError):
        conn.shutdown("both")


def _exchange(conn: _Duplex, send: Callable[[int], None], timeout: float | None) -> None:
    """Run *send* (then a half-close) in a thread while this thread copies the answer to stdout.

    The answer is read until the peer ends it; then the sender is waited for
    (a peer may end its answer before it has read everything). An error on
    either side stops both; the first one is raised.
    """
    sender = _Sender(conn, send)
    sender.start()
    try:
        _copy_answer(conn, sender, timeout)
        sender.wait()
    except Exception:
        failed_first = sender.error  # read before stop(): its shutdown makes a sender fail too
        sender.stop()
        if failed_first is not None:
            # Both sides failed (a timeout on each, say): the sender's error says why.
            raise failed_first  # noqa: B904 - keeps its own cause; the reading error is a consequence
        raise
    except BaseException:  # Ctrl-C
        sender.stop()
        raise
    sender.finish()


def _copy_answer(conn: _Duplex, sender: _Sender, timeout: float | None) -> None:
    """Copy whatever the peer sends to stdout until it ends the stream.

    With ``--timeout`` the limit is on waiting for the peer: while the file
    is still going out (the sender has its own limit), the answer may take
    as long as it likes; after the half-close, a silence of *timeout*
    seconds is an error.
    """
    sys.stdout.flush()
    out = sys.stdout.buffer
    largest = getattr(conn, "max_message_size", None)  # seqpacket: a whole message must fit
    buffer = bytearray(max(largest, _CHUNK) if isinstance(largest, int) else _CHUNK)
    heard = time.monotonic()
    with memoryview(buffer) as view, _signal_wakeup() as wake:
        while True:
            if wake is not None and conn.timeout is None:
                _wait_readable_or_signal(conn, wake)
            try:
                count = conn.recv_into(buffer)
            except TransportTimeout:
                if timeout is None or sender.sending:
                    continue
                quiet_since = max(heard, sender.finished_at or heard)
                left = timeout - (time.monotonic() - quiet_since)
                if left > 0 and _readable(conn, left):
                    continue
                raise
            if not count:
                break
            out.write(view[:count])
            heard = time.monotonic()
    out.flush()


@contextmanager
def _signal_wakeup() -> Iterator[int | None]:
    """A pipe Python's signal handler writes to (``signal.set_wakeup_fd``); None off the main thread.

    Ctrl-C normally interrupts a blocking receive (EINTR) and Python raises
    KeyboardInterrupt. But a SIGINT that lands while this thread still runs
    Python code, just before it enters ``recv``, is only noted: the receive
    then blocks until the peer sends. Waiting in ``poll`` on the socket and
    this pipe closes that gap: the handler writes to the pipe whenever the
    signal comes, so the wait always ends (APUE 10.16 sigsuspend's problem).
    """
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    try:
        previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter's main thread after all
        os.close(read_end)
        os.close(write_end)
        yield None
        return
    try:
        yield read_end
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read_end)
        os.close(write_end)


def _wait_readable_or_signal(conn: Transport, wake: int) -> None:
    """Wait until *conn* has something to read (or its end), or a signal came; then return.

    After a signal, the interpreter runs its handler (Ctrl-C: KeyboardInterrupt)
    as soon as this returns.
    """
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    poller.register(wake, select.POLLIN)
    for fd, _ in poller.poll():
        if fd == wake:
            with contextlib.suppress(OSError):
                os.read(wake, 512)


def _readable(conn: Transport, seconds: float) -> bool:
    """Whether *conn* has something to read (or its end) within *seconds*."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(seconds * 1000.0))


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
        raise UsageError(
            f"{url} is a {kind.value} URL; recv takes a stream URL (tcp, unix); for {kind.value} "
            "URLs use 'transports serve URL --sink FILE'"
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
