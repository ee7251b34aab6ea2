"""The conformance kit on the async face: the same checks, awaited (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

Every check of :data:`~transports.testing.STREAM_CHECKS`,
:data:`~transports.testing.MESSAGE_CHECKS` and
:data:`~transports.testing.LISTENER_CHECKS` is written once; here it
runs on async transports. The factories are coroutine functions::

    from transports import aio
    from transports.testing import run_async_stream_checks

    async def pair():
        return await aio.socketpair("stream")

    results = await run_async_stream_checks(pair)

The loop that awaits keeps running the transports' coroutines while the
check runs in a helper thread; each call the check makes is awaited on that
loop (asyncio's own or uvloop, whichever runs the caller). A receive the
check waits for is a task awaiting ``recv``; a ``close()`` that must wake it
is called while that task waits. Results and failures are those of the sync
runners: a dict of ``"passed"`` and ``"not applicable: ..."``, or a
:class:`~transports.testing.ContractViolation` naming the check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from transports.testing._bridge import Bridge, bridged_listeners, bridged_pairs, run_in_thread
from transports.testing._common import run_checks

if TYPE_CHECKING:
    import asyncio

    from transports.aio.protocols import Listener, Transport
    from transports.testing.base import ListenerCheck, MessageCheck, StreamCheck

__all__ = [
    "AsyncPairFactory",
    "run_async_check",
    "run_async_listener_checks",
    "run_async_message_checks",
    "run_async_stream_checks",
]

AL = TypeVar("AL", bound="Listener[Any]")

#: A coroutine function returning a fresh connected pair ``(a, b)`` of async transports on every call.
AsyncPairFactory: TypeAlias = "Callable[[], Awaitable[tuple[Transport, Transport]]]"


def _bridge() -> Bridge:
    import asyncio

    return Bridge(asyncio.get_running_loop())


async def run_async_check(
    check: StreamCheck | MessageCheck | ListenerCheck,
    *factories: Callable[..., Awaitable[Any]],
    reliable: bool | None = None,
) -> None:
    """Run one *check* on the async face (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

    *factories* are the async pair factory of a pair check, or
    ``make_listener`` and ``connect_to`` of a listener check; *reliable*
    goes to a message check. Raises what the check raises.
    """
    bridge = _bridge()
    if len(factories) == 2:
        make, connect = bridged_listeners(bridge, factories[0], factories[1])
        listener_check = cast("ListenerCheck", check)
        await run_in_thread(lambda: listener_check(make, connect))
        return
    (factory,) = factories
    pairs = bridged_pairs(bridge, factory)
    pair_check = cast("MessageCheck", check)  # a stream check is called the same way, without reliable
    if reliable is None:
        await run_in_thread(lambda: pair_check(pairs))
    else:
        await run_in_thread(lambda: pair_check(pairs, reliable=reliable))


async def run_async_stream_checks(factory: AsyncPairFactory, *, clogged: bool = False) -> dict[str, str]:
    """Run every stream check on the async pairs of *factory* (:apue:`16.5`, :apue:`14.7`, :apue:`16.8`, :apue:`14.4`).

    Returns like :func:`~transports.testing.run_stream_checks`. With
    *clogged*, each send waits until the peer has received it
    (:func:`~transports.testing.clogged`).
    """
    from transports.testing.clogging import clogged as clogging
    from transports.testing.stream import STREAM_CHECKS

    pairs = bridged_pairs(_bridge(), factory)
    if clogged:
        pairs = clogging(pairs)
    return await run_in_thread(lambda: run_checks(STREAM_CHECKS, pairs))


async def run_async_message_checks(factory: AsyncPairFactory, *, reliable: bool = True) -> dict[str, str]:
    """Run every message check on the async pairs of *factory* (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

    *reliable* as for :func:`~transports.testing.run_message_checks`.
    """
    from transports.testing.message import MESSAGE_CHECKS

    pairs = bridged_pairs(_bridge(), factory)
    return await run_in_thread(lambda: run_checks(MESSAGE_CHECKS, pairs, reliable=reliable))


async def run_async_listener_checks(
    make_listener: Callable[[], Awaitable[AL]], connect_to: Callable[[AL], Awaitable[Transport]]
) -> dict[str, str]:
    """Run every listener check on an async listener (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

    *make_listener* returns a new listening async listener; *connect_to*
    connects a new async transport to it.
    """
    from transports.testing.listener import LISTENER_CHECKS

    make, connect = bridged_listeners(_bridge(), make_listener, connect_to)
    return await run_in_thread(lambda: run_checks(LISTENER_CHECKS, make, connect))


def loop_factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The event loops the async face is run on, by name: asyncio's own, and uvloop where installed (:apue:`14.4`)."""
    import asyncio

    loops: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:  # uvloop is optional (the dev extra has it)
        return loops
    loops["uvloop"] = uvloop.new_event_loop
    return loops
