"""The byte-stream contract: :data:`STREAM_CHECKS` and :func:`~transports.testing.run_stream_checks` (:apue:`14.7`, :apue:`16.5`).

The checks only streams pass (bytes arrive exactly as sent, ``WAITALL``,
half-close, end of stream, ``recv_exactly``), then the list of every check a
stream pair runs -- these and the ones of :mod:`transports.testing.pair`
and :mod:`transports.testing.lifecycle` -- and the function that runs it.
"""

from __future__ import annotations

import functools
import hashlib

from transports.errors import TransportError, TransportTimeout, UnexpectedEOF
from transports.flags import RecvFlags, SendFlags
from transports.protocols import StreamTransport, Transport
from transports.testing import _common as kit
from transports.testing.base import PROMPT, SHORT, TIMEOUT, ContractViolation, PairFactory, StreamCheck
from transports.testing.lifecycle import LIFECYCLE_CHECKS
from transports.testing.pair import PAIR_CHECKS, check_refused_flags

__all__ = [
    "STREAM_CHECKS",
    "check_half_close",
    "check_recv_exactly_eof",
    "check_recv_exactly_timeout_keeps_partial",
    "check_stream_eof_after_close",
    "check_stream_identity",
    "check_stream_round_trip",
    "check_stream_send_returns_count",
    "check_waitall",
    "run_stream_checks",
]


@kit.contract_check
def check_stream_identity(factory: PairFactory[Transport]) -> None:
    """Both ends are byte streams: ``Transport`` and ``StreamTransport``, kind STREAM (:apue:`16.2`).

    Also: ``closed`` is False, ``timeout`` reads back what was set (a number,
    0 or None), addresses are :data:`transports.Address` values,
    ``fileno()`` is a descriptor (or raises OSError for a transport that is
    not one), and ``with`` returns the transport and closes it.
    """
    with kit.opened(factory) as (a, b):
        kit.streams(a, b)
        kit.assert_basics(a, b)


@kit.contract_check
def check_stream_round_trip(factory: PairFactory[Transport]) -> None:
    """Bytes arrive exactly as sent, none lost, none added, at 0, 1, 1000 and 1 MiB + 7 bytes (:apue:`14.7`).

    ``send_all`` in a helper thread, ``recv_exactly`` here, SHA-256 compared;
    a trailer after the payload proves no byte was dropped or repeated, and
    the digest travels back the other way.
    """
    for size in (0, 1, 1000, kit.MiB + 7):
        data = kit.random_payload(size, size)
        with kit.opened(factory) as pair:
            a, b = kit.streams(*pair)

            def send(a: StreamTransport = a, data: bytes = data) -> None:
                a.send_all(data)
                a.send_all(kit.TRAILER)

            with kit.background(send, f"send_all of {size} bytes", a, b) as sender:
                try:
                    got = b.recv_exactly(size)
                except UnexpectedEOF as exc:
                    raise ContractViolation(
                        f"recv_exactly({size}) hit end of stream after {len(exc.partial)} bytes"
                    ) from exc
                kit.expect(
                    got == data,
                    f"{size} bytes sent (sha256 {kit.sha256_of(data)}) but the bytes received differ "
                    f"(sha256 {kit.sha256_of(got)}): bytes were lost, added or reordered",
                )
                tail = b.recv_exactly(len(kit.TRAILER))
                kit.expect(
                    tail == kit.TRAILER, f"after the {size}-byte payload came {tail!r}, not the trailer"
                )
                sender.result()
            digest = hashlib.sha256(got).digest()
            with kit.feeding("sending the digest back", a, b) as feed:
                feed(functools.partial(b.send_all, digest))
                back = a.recv_exactly(len(digest))
            kit.expect(back == digest, "the digest sent back the other way arrived changed")


@kit.contract_check
def check_stream_send_returns_count(factory: PairFactory[Transport]) -> None:
    """``send`` returns how many bytes the kernel took, 1 to ``len(data)``, and exactly those arrive (:apue:`16.5`).

    A 256 KiB send may be partial; the peer receives exactly that prefix and
    nothing more; ``send(b"")`` returns 0.
    """
    data = kit.random_payload(256 * 1024, 7)
    with kit.opened(factory) as pair:
        a, b = kit.streams(*pair)
        empty = a.send(b"")  # first: on a full buffer even an empty send would wait
        kit.expect(empty == 0, f"send(b'') returned {empty!r}")
        most = len(data) + len(kit.TRAILER)
        with kit.background(lambda: kit.read_to_eof(b, most), "reading to end of stream", a, b) as reader:
            sent = a.send(data)
            kit.expect(
                kit.is_int(sent) and 0 < sent <= len(data),
                f"send of {len(data)} bytes returned {sent!r}; it must be 1..{len(data)}",
            )
            a.send_all(kit.TRAILER)
            a.close()
            got = reader.result()
        expected = data[:sent] + kit.TRAILER
        kit.expect(
            got == expected,
            f"send returned {sent}, then a {len(kit.TRAILER)}-byte trailer was sent, but the peer received "
            f"{len(got)} bytes up to end of stream (expected {len(expected)}): send did not send what it said",
        )


@kit.contract_check
def check_waitall(factory: PairFactory[Transport]) -> None:
    """``RecvFlags.WAITALL`` fills the whole buffer across many sends (:apue:`14.7`, Fig. 16.14).

    2 MiB + 3 bytes are sent in 64 KiB pieces by a helper thread; one
    ``recv`` and one ``recv_into`` with WAITALL each return all of them.
    Not applicable where WAITALL is refused.
    """
    data = kit.random_payload(2 * kit.MiB + 3, 11)
    with kit.opened(factory) as pair:
        a, b = kit.streams(*pair)

        def send() -> None:
            for _ in range(2):
                for start in range(0, len(data), 65536):
                    a.send_all(data[start : start + 65536])

        with kit.background(send, "sending in 64 KiB pieces", a, b) as sender:
            got = kit.flagged(lambda: b.recv(len(data), RecvFlags.WAITALL), RecvFlags.WAITALL)
            kit.expect(
                len(got) == len(data),
                f"recv({len(data)}, WAITALL) returned {len(got)} bytes before the stream ended",
            )
            kit.expect(got == data, "recv(WAITALL) returned other bytes than were sent")
            buffer = bytearray(len(data) + 10)
            count = b.recv_into(buffer, len(data), RecvFlags.WAITALL)
            kit.expect(count == len(data), f"recv_into({len(data)}, WAITALL) returned {count}")
            kit.expect(buffer[:count] == data, "recv_into(WAITALL) stored other bytes than were sent")
            sender.result()


@kit.contract_check
def check_half_close(factory: PairFactory[Transport]) -> None:
    """``shutdown("write")`` is a half-close: the peer reads end of stream, the other direction still works (:apue:`16.2`).

    The peer's ``recv`` returns ``b""`` (again on every call), the peer can
    still send and this end read it, and sending after the shutdown raises a
    ``TransportError`` (``BrokenPipe`` for ours). ``shutdown`` of anything
    but ``"read"``, ``"write"`` or ``"both"`` raises ``ValueError``.
    """
    with kit.opened(factory) as pair:
        a, b = kit.streams(*pair)
        kit.raises(ValueError, lambda: a.shutdown("sideways"), 'shutdown("sideways")')  # type: ignore[arg-type]  # on purpose
        with kit.feeding("sending, then shutdown('write')", a, b) as feed:
            feed(lambda: a.send_all(b"before"))
            feed(lambda: a.shutdown("write"))
            kit.expect(b.recv_exactly(6) == b"before", "data sent before shutdown was lost")
            for attempt in ("first", "second"):
                got = b.recv(100)
                kit.expect(
                    got == b"",
                    f"the {attempt} recv after the peer's shutdown('write') returned {got!r}, not b''",
                )
        with kit.feeding("answering the half-closed end", a, b) as feed:
            feed(lambda: b.send_all(b"answer"))
            answer = a.recv_exactly(6)
        kit.expect(answer == b"answer", f"the half-closed end read {answer!r}, not the peer's answer")
        kit.raises(
            TransportError, lambda: a.send(b"after shutdown"), "send after shutdown('write')", " (BrokenPipe)"
        )


@kit.contract_check
def check_stream_eof_after_close(factory: PairFactory[Transport]) -> None:
    """When the peer closes, the data it sent arrives, then ``recv`` returns ``b""`` for good (:apue:`16.5`).

    ``recv_into`` returns 0 at end of stream.
    """
    with kit.opened(factory) as pair:
        a, b = kit.streams(*pair)
        with kit.feeding("sending, then close()", a, b) as feed:
            feed(lambda: a.send_all(b"last words"))
            feed(a.close)
            kit.expect(b.recv_exactly(10) == b"last words", "data sent before close was lost")
        for attempt in ("first", "second"):
            got = b.recv(100)
            kit.expect(got == b"", f"the {attempt} recv after the peer closed returned {got!r}, not b''")
        count = b.recv_into(bytearray(10))
        kit.expect(count == 0, f"recv_into at end of stream returned {count!r}, not 0")


@kit.contract_check
def check_recv_exactly_eof(factory: PairFactory[Transport]) -> None:
    """``recv_exactly`` raises ``UnexpectedEOF`` carrying ``partial`` and ``expected`` if the stream ends first (:apue:`14.7`).

    ``recv_exactly(0)`` returns ``b""`` at once and ``recv_exactly(-1)`` raises
    ``ValueError``. The error is an ``EOFError`` too.
    """
    with kit.opened(factory) as pair:
        a, b = kit.streams(*pair)
        kit.expect(b.recv_exactly(0) == b"", "recv_exactly(0) did not return b''")
        kit.raises(ValueError, lambda: b.recv_exactly(-1), "recv_exactly(-1)")
        with kit.feeding("sending 7 bytes, then close()", a, b) as feed:
            feed(lambda: a.send_all(b"partial"))
            feed(a.close)
            exc = kit.raises(
                UnexpectedEOF, lambda: b.recv_exactly(100), "recv_exactly(100) with 7 bytes before the end"
            )
        kit.expect(exc.partial == b"partial", f"UnexpectedEOF.partial is {exc.partial!r}, not b'partial'")
        kit.expect(exc.expected == 100, f"UnexpectedEOF.expected is {exc.expected!r}, not 100")
        kit.expect(isinstance(exc, EOFError), "UnexpectedEOF is not an EOFError: `except EOFError` misses it")


@kit.contract_check
def check_recv_exactly_timeout_keeps_partial(factory: PairFactory[Transport]) -> None:
    """A ``recv_exactly`` that times out loses nothing: the bytes that came are in the error's ``partial`` (:apue:`14.7`).

    The timeout covers the whole call, not each system call.
    """
    with kit.opened(factory) as pair:
        a, b = kit.streams(*pair)
        with kit.feeding("sending 3 bytes", a, b) as feed:
            feed(lambda: a.send_all(b"abc"))
            kit.expect(b.recv(1) == b"a", "the first byte did not arrive")
            b.timeout = SHORT
            outcome = kit.within(
                PROMPT,
                lambda: b.recv_exactly(10),
                "recv_exactly(10) with 2 of 10 bytes there",
                lambda: a.send(bytes(8), SendFlags.DONTWAIT),
            )
        error = kit.raised(
            outcome,
            TransportTimeout,
            f"recv_exactly(10) with a {SHORT} s timeout and 2 bytes there",
            "TransportTimeout",
        )
        kit.expect(
            error.partial == b"bc",
            f"the timed-out recv_exactly's partial is {error.partial!r}, not b'bc': data was lost",
        )
        b.timeout = TIMEOUT
        with kit.feeding("sending after the timeout", a, b) as feed:
            feed(lambda: a.send_all(b"more"))
            kit.expect(b.recv_exactly(4) == b"more", "the stream did not work after a timed-out recv_exactly")


#: Every check for a factory of connected byte-stream pairs: the ones of this module,
#: then those every pair runs (:data:`~transports.testing.pair.PAIR_CHECKS`,
#: :data:`~transports.testing.lifecycle.LIFECYCLE_CHECKS`, refused flags last).
STREAM_CHECKS: tuple[StreamCheck, ...] = (
    check_stream_identity,
    check_stream_round_trip,
    check_stream_send_returns_count,
    check_waitall,
    check_half_close,
    check_stream_eof_after_close,
    check_recv_exactly_eof,
    check_recv_exactly_timeout_keeps_partial,
    *PAIR_CHECKS,
    *LIFECYCLE_CHECKS,
    check_refused_flags,
)


def run_stream_checks(factory: PairFactory[Transport]) -> dict[str, str]:
    """Run every stream check on *factory* (:apue:`16.5`, :apue:`14.7`).

    Stops at the first :class:`~transports.testing.ContractViolation`; otherwise returns each
    check's name with ``"passed"`` or ``"not applicable: <why>"``.
    """
    return kit.run_checks(STREAM_CHECKS, factory)
