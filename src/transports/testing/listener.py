"""The listener contract: :data:`LISTENER_CHECKS` and :func:`~transports.testing.run_listener_checks` (:apue:`16.4`).

A listener accepts, times out, stops its iteration when closed, and a
closed listener refuses to accept.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from transports.errors import TransportError, TransportTimeout
from transports.protocols import Listener, Transport
from transports.testing import _common as kit
from transports.testing.base import PROMPT, SHORT, TIMEOUT, ContractViolation, ListenerCheck

__all__ = [
    "LISTENER_CHECKS",
    "check_listener_accept",
    "check_listener_accept_timeout",
    "check_listener_close",
    "check_listener_iteration_stops_on_close",
    "run_listener_checks",
]

L = TypeVar("L", bound="Listener[Transport]")


@contextlib.contextmanager
def _listening(make_listener: Callable[[], L]) -> Iterator[L]:
    try:
        listener = make_listener()
    except Exception as exc:
        raise ContractViolation(f"make_listener raised {kit.describe(exc)}") from exc
    try:
        listener.timeout = TIMEOUT
        yield listener
    finally:
        listener.close()


def _connect_and_accept(listener: L, connect_to: Callable[[L], Transport]) -> tuple[Transport, Transport]:
    """Connect in a helper thread while this one accepts; returns (client, server), both with timeouts."""
    worker = kit.Worker(lambda: connect_to(listener), "connect_to")
    try:
        server = listener.accept()
    except BaseException:
        worker.wait(TIMEOUT + 1)
        kit.close_all(worker.value)
        raise
    try:
        client = worker.result()
        kit.expect(isinstance(server, Transport), f"accept() returned {server!r}, not a Transport")
        kit.expect(isinstance(client, Transport), f"connect_to returned {client!r}, not a Transport")
        client.timeout = TIMEOUT
        server.timeout = TIMEOUT
    except BaseException:
        kit.close_all(server, worker.value)
        raise
    return client, server


def _talk(client: Transport, server: Transport) -> None:
    kit.send_whole(client, b"hello server")
    kit.receive_whole(server, b"hello server", "what the client sent")
    kit.send_whole(server, b"hello client")
    kit.receive_whole(client, b"hello client", "what the accepted end sent")


@kit.contract_check
def check_listener_accept(make_listener: Callable[[], L], connect_to: Callable[[L], Transport]) -> None:
    """``accept`` returns a connected transport; both ends talk both ways (:apue:`16.4`).

    The listener satisfies the ``Listener`` protocol, is not closed, and has
    an address; two connections in a row each get their own transport.
    """
    with _listening(make_listener) as listener:
        kit.expect(isinstance(listener, Listener), f"{listener!r} does not satisfy the Listener protocol")
        kit.expect(listener.closed is False, "a new listener says closed=True")
        address = listener.address
        kit.expect(isinstance(address, kit.ADDRESS_TYPES), f"listener.address is {address!r}, not an Address")
        for _ in range(2):
            client, server = _connect_and_accept(listener, connect_to)
            with client, server:
                kit.expect(not server.closed, "accept() returned a closed transport")
                _talk(client, server)


@kit.contract_check
def check_listener_iteration_stops_on_close(
    make_listener: Callable[[], L], connect_to: Callable[[L], Transport]
) -> None:
    """Iterating a listener yields connections and stops quietly once another thread closes it (:apue:`16.4`).

    A helper thread iterates; after it has handed over one connection, it
    is (or soon will be) blocked in the next ``accept``; ``close()`` from
    this thread must end the iteration within :data:`~transports.testing.PROMPT` seconds,
    without an exception.
    """
    accepted: queue.Queue[Transport] = queue.Queue()
    with _listening(make_listener) as listener:

        def serve() -> int:
            count = 0
            for connection in listener:
                accepted.put(connection)
                count += 1
            return count

        worker = kit.Worker(serve, "iterating the listener")
        client: Transport | None = None
        try:
            client = connect_to(listener)
            try:
                server = accepted.get(timeout=TIMEOUT)
            except queue.Empty:
                kit.fail(f"iterating the listener yielded nothing within {TIMEOUT:g} s of a connect")
            server.close()
            listener.close()
            if not worker.wait(PROMPT):
                worker.wait(TIMEOUT + 1)
                kit.fail(f"iterating the listener went on for {PROMPT:g} s after close() from another thread")
            try:
                count = worker.result(0)
            except Exception as exc:
                raise ContractViolation(
                    f"iterating the listener raised {kit.describe(exc)} when it was closed; it must stop quietly"
                ) from exc
            kit.expect(count == 1, f"iterating the listener yielded {count} connections, expected 1")
        finally:
            listener.close()
            worker.wait(TIMEOUT + 1)
            kit.close_all(client)
            while not accepted.empty():
                kit.close_all(accepted.get_nowait())


@kit.contract_check
def check_listener_accept_timeout(
    make_listener: Callable[[], L], connect_to: Callable[[L], Transport]
) -> None:
    """``accept`` with nobody connecting raises ``TransportTimeout`` once the listener's timeout passes (:apue:`16.8`, :apue:`16.4`).

    Not at once and not never; the listener still accepts afterwards.
    """
    with _listening(make_listener) as listener:
        listener.timeout = SHORT
        late: list[Transport] = []
        start = time.monotonic()
        worker = kit.Worker(listener.accept, "accept with a short timeout")
        if not worker.wait(PROMPT):
            with contextlib.suppress(Exception):
                late.append(connect_to(listener))
            worker.wait(TIMEOUT + 1)
            kit.close_all(*late, worker.value)
            kit.fail(f"accept() with a {SHORT} s timeout was still blocked after {PROMPT:g} s")
        elapsed = time.monotonic() - start
        try:
            unexpected = worker.result(0)
        except TransportTimeout:
            pass
        except Exception as exc:
            raise ContractViolation(
                f"accept() with a {SHORT} s timeout raised {kit.describe(exc)}; the contract wants TransportTimeout"
            ) from exc
        else:
            kit.close_all(unexpected)
            kit.fail(f"accept() with a {SHORT} s timeout and nobody connecting returned {unexpected!r}")
        kit.expect(elapsed >= SHORT / 2, f"accept() gave up after {elapsed:.3f} s, before its timeout")
        listener.timeout = TIMEOUT
        client, server = _connect_and_accept(listener, connect_to)
        with client, server:
            _talk(client, server)


@kit.contract_check
def check_listener_close(make_listener: Callable[[], L], connect_to: Callable[[L], Transport]) -> None:
    """A closed listener says so, closes again harmlessly, and ``accept`` fails with a ``TransportError`` (:apue:`16.4`).

    Iterating it yields nothing.
    """
    with _listening(make_listener) as listener:
        listener.close()
        listener.close()
        kit.expect(listener.closed is True, f"closed is {listener.closed!r} after close()")
        kit.raises(TransportError, listener.accept, "accept() on a closed listener", " (TransportClosed)")
        outcome = kit.within(PROMPT, lambda: list(listener), "iterating a closed listener", lambda: None)
        if outcome.error is not None:
            raise ContractViolation(
                f"iterating a closed listener raised {kit.describe(outcome.error)}"
            ) from outcome.error
        kit.expect(outcome.value == [], f"iterating a closed listener yielded {outcome.value!r}")


#: Every check for a listener and a way to connect to it.
LISTENER_CHECKS: tuple[ListenerCheck, ...] = (
    check_listener_accept,
    check_listener_iteration_stops_on_close,
    check_listener_accept_timeout,
    check_listener_close,
)


def run_listener_checks(
    make_listener: Callable[[], L], connect_to: Callable[[L], Transport]
) -> dict[str, str]:
    """Run every listener check (:apue:`16.4`); returns like :func:`~transports.testing.run_stream_checks`."""
    return kit.run_checks(LISTENER_CHECKS, make_listener, connect_to)
