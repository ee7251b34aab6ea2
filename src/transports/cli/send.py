"""``transports send``: copy a file or stdin to a URL and the answer to stdout (:apue:`16.5`, :apue:`14.4`).

Stream URLs use ``sendfile`` for regular files and half-close when done;
datagram and seqpacket URLs send one message per read (or per line with
``--lines``). On a connection the file goes out in a thread while this one
copies the answer, as socat and nc do: sending everything first deadlocks
against an echo once both socket buffers are full.
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
from typing import TYPE_CHECKING

from typing_extensions import Protocol, runtime_checkable

import transports
from transports.cli.commands import CHUNK, CommandError, connect_timeout, kind_of, progress_bar, reason
from transports.errors import TransportTimeout
from transports.kinds import Kind
from transports.protocols import SendfileCapable, ShutdownHow, StreamTransport, Transport
from transports.urls import TLS_SCHEMES, split_scheme

if TYPE_CHECKING:
    import ssl

__all__ = ["send_command"]

#: The largest UDP payload: no message sent by ``send`` is longer.
_UDP_PAYLOAD = 65507
#: Seconds to wait for the sending thread after the reading side failed (it is woken at once).
_STOP_WAIT = 5.0


@runtime_checkable
class _Duplex(Transport, Protocol):
    """A connection with a half-close: streams and seqpacket (:apue:`16.2`)."""

    def shutdown(self, how: ShutdownHow = "write") -> None: ...


class _Aborted(Exception):
    """The reading side gave up (an error, Ctrl-C): the sending thread stops quietly."""


class _Source:
    """The data to send, read from a descriptor (:apue:`14.4`).

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
            raise CommandError(f"cannot read {self._name}: {reason(exc)}") from exc

    def chunks(self, size: int) -> Iterator[bytes]:
        """Reads of up to *size* bytes until the end."""
        while chunk := self.read(size):
            yield chunk

    def lines(self, limit: int, where: str) -> Iterator[bytes]:
        """One line at a time, newline included; a line of more than *limit* bytes is an error.

        Memory stays within one read and one line, whatever the input.
        """
        pending = bytearray()
        while data := self.read(CHUNK):
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
    context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> int:
    """Copy *source* (a path, or ``-`` for stdin) to *url*; print what a connection answers.

    *context* and *server_hostname* are for TLS URLs (``tls://``, ``tls+unix://``).
    """
    kind = kind_of(url)
    if source == "-":
        fd, size, owned, name = sys.stdin.buffer.fileno(), None, None, "stdin"
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    else:
        try:
            owned = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(f"cannot open {source!r}: {reason(exc)}") from exc
        fd, name = owned.fileno(), repr(source)
        st = os.fstat(fd)
        regular = stat.S_ISREG(st.st_mode)
        size = st.st_size if regular else None
    try:
        conn = transports.connect(
            url, timeout=connect_timeout(timeout), context=context, server_hostname=server_hostname
        )
        with conn:
            conn.timeout = timeout
            bar = progress_bar(progress, size, "send")
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
                        tls=split_scheme(url)[0] in TLS_SCHEMES,
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


def _send_all_of(
    conn: Transport, source: _Source, regular: bool, lines: bool, progress: Callable[[int], None] | None
) -> None:
    """Send everything *source* holds: ``sendfile`` for a regular file on a stream, else a copy loop."""
    if regular and not lines and isinstance(conn, SendfileCapable):
        conn.sendfile(source.fileno(), progress=progress)
        return
    if isinstance(conn, StreamTransport) and not lines:
        chunks = source.chunks(CHUNK)
        send: Callable[[bytes], object] = conn.send_all
    else:
        # One message per line (--lines) or per read of up to the largest message.
        largest = getattr(conn, "max_message_size", None)  # datagram and seqpacket transports have one
        limit = min(largest, _UDP_PAYLOAD) if isinstance(largest, int) else CHUNK
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
    """The sending half of an exchange, in a thread of its own: sends, then half-closes.

    *plain* is what an abort shuts down: the connection itself, or for TLS
    the stream under it (a TLS shutdown would wait for a sender blocked in
    the middle of a record).
    """

    def __init__(self, conn: _Duplex, send: Callable[[int], None], plain: _Duplex) -> None:
        self._conn = conn
        self._plain = plain
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
            _abort(self._plain)  # wake the reading side: there is no answer to wait for any more

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
        _abort(self._plain)  # a send: shutdown makes it fail at once
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


def _exchange(
    conn: _Duplex, send: Callable[[int], None], timeout: float | None, *, tls: bool = False
) -> None:
    """Run *send* (then a half-close) in a thread while this thread copies the answer to stdout.

    The answer is read until the peer ends it; then the sender is waited for
    (a peer may end its answer before it has read everything). An error on
    either side stops both; the first one is raised. For a *tls* connection
    an abort shuts the stream under it down.
    """
    plain: _Duplex = conn
    stream = getattr(conn, "stream", None) if tls else None  # a TLS transport's plain stream
    if isinstance(stream, _Duplex):
        plain = stream
    sender = _Sender(conn, send, plain)
    sender.start()
    try:
        _copy_answer(conn, sender, timeout, poll=not tls)
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


def _copy_answer(conn: _Duplex, sender: _Sender, timeout: float | None, *, poll: bool = True) -> None:
    """Copy whatever the peer sends to stdout until it ends the stream.

    With ``--timeout`` the limit is on waiting for the peer: while the file
    is still going out (the sender has its own limit), the answer may take
    as long as it likes; after the half-close, a silence of *timeout*
    seconds is an error. Without *poll* (TLS: records already read may
    hold plaintext while the descriptor has nothing more) every receive
    goes straight to the connection.
    """
    sys.stdout.flush()
    out = sys.stdout.buffer
    largest = getattr(conn, "max_message_size", None)  # seqpacket: a whole message must fit
    buffer = bytearray(max(largest, CHUNK) if isinstance(largest, int) else CHUNK)
    heard = time.monotonic()
    with memoryview(buffer) as view, _signal_wakeup() as wake:
        while True:
            if poll and wake is not None and conn.timeout is None:
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
    signal comes, so the wait always ends (:apue:`10.16` sigsuspend's problem).
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
