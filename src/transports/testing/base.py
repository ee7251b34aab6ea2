"""The vocabulary of the conformance kit: what a check takes, and how it fails (:apue:`16.5`).

A *pair check* takes a factory: a callable with no arguments that returns a
fresh connected pair ``(a, b)`` each time it is called, so that what ``a``
sends ``b`` receives and back. A check may call it several times; it gives
both ends a timeout, closes both when it is done, moves large payloads with
a helper thread, and never sleeps to wait for the peer. A *listener check*
takes ``make_listener`` (returns a new listening
:class:`~transports.Listener`) and ``connect_to`` (connects a new
transport to that listener).

A check that finds the contract broken raises :class:`ContractViolation`,
an :class:`AssertionError` whose message starts with the check's name and
says what was wrong. A check that exercises something the transport does not
offer (a flag it refuses, a size limit it does not have) raises
:class:`NotApplicable`; :func:`~transports.testing.run_stream_checks`
and friends record that, and the pytest plugin reports it as a skip.

Errors: where the contract names an error (``WouldBlock``,
``TransportTimeout``, ``UnexpectedEOF``, ``MessageTruncated``,
``MessageTooLarge``, ``UnsupportedFlag``) the check wants exactly that class,
so ``except BlockingIOError`` or ``except TimeoutError`` work for users.
Where it only says "fails" (using a closed transport, sending after
``shutdown("write")``) it wants a :class:`~transports.TransportError`,
which is an :class:`OSError`: ``except OSError`` must catch it, and a plain
``ValueError`` or a library's own exception is a violation. Third-party
transports raise :class:`~transports.TransportClosed` there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeAlias, TypeVar

from transports.protocols import Listener, Transport

__all__ = [
    "PROMPT",
    "SHORT",
    "TIMEOUT",
    "ContractViolation",
    "ListenerCheck",
    "MessageCheck",
    "NotApplicable",
    "PairFactory",
    "StreamCheck",
]


#: Seconds any blocking call of a check may wait for something that should happen.
TIMEOUT = 5.0
#: The timeout a check sets when a timeout is the point: it should expire.
SHORT = 0.05
#: Seconds within which a call that must not wait (DONTWAIT, an expired timeout) has to return.
PROMPT = 2.0

T = TypeVar("T")
L = TypeVar("L", bound="Listener[Transport]")

#: A callable returning a fresh connected pair ``(a, b)`` on every call.
PairFactory: TypeAlias = Callable[[], tuple[T, T]]
#: A check of :data:`~transports.testing.STREAM_CHECKS`: ``check(factory)``.
StreamCheck: TypeAlias = Callable[[PairFactory[Transport]], None]


class MessageCheck(Protocol):
    """A check of :data:`~transports.testing.MESSAGE_CHECKS`: ``check(factory, reliable=True)`` (:apue:`16.5`)."""

    def __call__(self, factory: PairFactory[Transport], *, reliable: bool = True) -> None: ...


class ListenerCheck(Protocol):
    """A check of :data:`~transports.testing.LISTENER_CHECKS`: ``check(make_listener, connect_to)`` (:apue:`16.4`)."""

    def __call__(self, make_listener: Callable[[], L], connect_to: Callable[[L], Transport]) -> None: ...


class ContractViolation(AssertionError):
    """A transport broke the contract a check proves (:apue:`16.5`).

    ``check`` names the check; ``problem`` says what was wrong. The message
    is ``"<check>: <problem>"``. An exception the transport raised where
    none was expected is chained as ``__cause__``.
    """

    check: str
    problem: str

    def __init__(self, problem: str, *, check: str = "") -> None:
        self.problem = problem
        self.check = check
        super().__init__(f"{check}: {problem}" if check else problem)

    def _named(self, check: str) -> None:
        self.check = check
        self.args = (f"{check}: {self.problem}",)


class NotApplicable(Exception):
    """The transport does not offer what a check exercises, so the check proves nothing (:apue:`16.5`).

    For example :func:`~transports.testing.stream.check_waitall` on a transport that refuses
    ``RecvFlags.WAITALL`` with :class:`~transports.UnsupportedFlag`.
    """
