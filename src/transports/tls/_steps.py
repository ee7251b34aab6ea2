"""What a TLS operation does, written once for both faces as generators of I/O requests (:apue:`16.5`).

Each operation (the handshake, a receive, ``send_all``, ``recv_exactly``,
``unwrap``, the file transfers) is a generator over a :class:`TLSEngine`. It
does every step that needs no waiting itself and yields what it needs done on
the plain stream:

* :data:`FLUSH`: send everything the engine has queued for the network, in
  order, then resume with ``None``;
* :data:`PULL`: read some ciphertext from the plain stream and resume with it
  (``b""`` at the stream's end).

A failure of the plain stream is thrown into the generator, so that the
operation can add what it knows (``bytes_sent``, ``partial``) before the
error goes on to the caller. The sync face (:mod:`transports.tls.sync`)
answers the requests with blocking calls, the async face
(:mod:`transports.tls.aio`) with awaits; neither repeats the logic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Literal, TypeAlias, TypeVar

from transports._compat import Buffer
from transports._core.files import FALLBACK_CHUNK, PROGRESS_CHUNK, Progress, Target
from transports._core.zerocopy import Outgoing, say_received
from transports.errors import TransportError, UnexpectedEOF, ZeroCopyUnavailable
from transports.tls.engine import TLSEngine
from transports.tls.errors import TLSError, TLSHandshakeError

__all__ = [
    "FLUSH",
    "PULL",
    "SEND_CHUNK",
    "Request",
    "Steps",
    "feed",
    "handshake",
    "no_zero_copy",
    "recv",
    "recv_into_file",
    "send_all",
    "sendfile",
    "take",
    "unwrap",
]

T = TypeVar("T")

#: Send what the engine has queued.
FLUSH: Literal["flush"] = "flush"
#: Read ciphertext from the plain stream.
PULL: Literal["pull"] = "pull"
Request: TypeAlias = Literal["flush", "pull"]
#: An operation: yields requests, is resumed with ``None`` (after FLUSH) or the bytes read (after PULL).
Steps: TypeAlias = Generator[Request, "bytes | None", T]

#: The most plaintext encrypted per flush (four full records).
SEND_CHUNK = 64 * 1024


def feed(engine: TLSEngine, data: bytes | None) -> None:
    """Give the engine what a PULL read: bytes, or the plain stream's end."""
    if data:
        engine.receive_data(data)
    else:
        engine.receive_eof()


def handshake(engine: TLSEngine) -> Steps[None]:
    """Run the handshake to its end; a stream that ends in the middle is a :class:`TLSHandshakeError` (:apue:`16.4`)."""
    while True:
        try:
            done = engine.handshake()
        except TLSError:
            if engine.wants_flush():  # our alert tells the peer why, instead of a bare end of stream
                with contextlib.suppress(TransportError):
                    yield FLUSH
            raise
        yield FLUSH
        if done:
            return
        data = yield PULL
        if not data:
            engine.receive_eof()
            engine.handshake()  # reports the EOF as the alert it is, when OpenSSL has one
            raise TLSHandshakeError(
                "TLS handshake failed: the peer closed the stream in the middle; "
                "check that it speaks TLS on this port",
                op="connect",
            )
        engine.receive_data(data)


def recv(engine: TLSEngine, max_bytes: int) -> Steps[bytes]:
    """Up to *max_bytes* of plaintext (``b""``: the peer's ``close_notify``) (:apue:`16.5`)."""
    while True:
        data = engine.decrypt(max_bytes)
        if engine.wants_flush():
            yield FLUSH  # post-handshake messages (a key update's answer) go out
        if data is not None:
            return data
        feed(engine, (yield PULL))


def send_all(engine: TLSEngine, data: Buffer, sent: list[int]) -> Steps[None]:
    """Encrypt and send all of *data*; ``sent[0]`` counts the plaintext bytes whose records went out (:apue:`16.5`)."""
    view = memoryview(data).cast("B")
    done = 0
    try:
        while done < len(view):
            taken = engine.encrypt(view[done : done + SEND_CHUNK])
            yield FLUSH
            done += taken
            sent[0] = done
    except TransportError as err:
        err.bytes_sent = done
        raise


def take(got: bytearray, data: bytes, n: int) -> bytes | None:
    """One receive's *data* toward ``recv_exactly(n)``: the *n* bytes once all came, ``None`` while short (:apue:`14.7`).

    *got* keeps what came so far (an error's ``partial``); an end of stream
    before *n* raises :class:`~transports.UnexpectedEOF`. Each face loops
    over its own receive with it.
    """
    if not data:
        raise UnexpectedEOF(
            f"the TLS peer ended the stream after {len(got)} of {n} bytes",
            partial=bytes(got),
            expected=n,
            op="recv_exactly",
            network="tls",
        )
    if not got and len(data) == n:
        return data  # the whole of it in one receive: no copy
    got += data
    return bytes(got) if len(got) >= n else None


def unwrap(engine: TLSEngine) -> Steps[bytes]:
    """Exchange ``close_notify`` both ways; return plaintext bytes that came after the peer's (:apue:`16.5`)."""
    while not engine.unwrap():
        yield FLUSH
        data = yield PULL
        if not data:
            raise TLSHandshakeError(
                "TLS unwrap failed: the stream ended before the peer's close_notify; "
                "the peer must call unwrap() too",
                op="shutdown",
            )
        engine.receive_data(data)
    yield FLUSH
    return engine.leftover()


def no_zero_copy(op: str) -> ZeroCopyUnavailable:
    """The error of ``fallback=False`` over TLS, raised before a byte moves (:apue:`16.5`)."""
    return ZeroCopyUnavailable(
        f"{op} over TLS: zero copy is not possible, because records are encrypted in this process; "
        "pass fallback=True to copy through a buffer",
        op=op,
        network="tls",
        bytes_sent=0,
    )


def sendfile(engine: TLSEngine, out: Outgoing) -> Steps[int]:
    """Send the file of *out* (and its headers and trailers) through a buffer; return the file bytes sent (:apue:`14.7`)."""
    sent = 0
    reported = 0
    position = out.offset
    buffer = bytearray(min(FALLBACK_CHUNK, out.count) if out.count is not None else FALLBACK_CHUNK)
    view = memoryview(buffer)
    try:
        if out.headers is not None:
            yield from send_all(engine, out.headers, [0])
        while out.count is None or sent < out.count:
            want = len(view) if out.count is None else min(len(view), out.count - sent)
            got = out.source.read_into(view[:want], position)
            if got <= 0:
                break
            yield from send_all(engine, view[:got], [0])
            sent += got
            position += got
            if out.progress is not None and sent - reported >= PROGRESS_CHUNK:
                reported = sent
                out.progress(sent)
        if out.trailers is not None:
            yield from send_all(engine, out.trailers, [0])
    except TransportError as err:
        err.bytes_sent = sent
        raise
    if out.progress is not None and sent != reported:
        out.progress(sent)
    return sent


def recv_into_file(
    engine: TLSEngine, target: Target, count: int | None, progress: Progress | None
) -> Steps[int]:
    """Write plaintext to *target* until *count* bytes or the peer's ``close_notify``; return the count (:apue:`14.7`)."""
    done = 0
    reported = 0
    try:
        while count is None or done < count:
            want = FALLBACK_CHUNK if count is None else min(FALLBACK_CHUNK, count - done)
            data = yield from recv(engine, want)
            if not data:
                if count is not None:
                    raise UnexpectedEOF(
                        f"recv_into_file over TLS: the peer ended the stream after {done} of {count} "
                        f"bytes; those bytes are in {target.name}",
                        partial=b"",
                        expected=count,
                        received=done,
                        op="recv_into_file",
                        network="tls",
                    )
                break
            target.write(memoryview(data))
            done += len(data)
            if progress is not None and done - reported >= PROGRESS_CHUNK:
                reported = done
                progress(done)
    except UnexpectedEOF:
        raise
    except TransportError as err:
        say_received(err, done)
        raise
    if progress is not None and done != reported:
        progress(done)
    return done
