"""The async face of the kit: every check, written once, run on async transports (:apue:`16.8`, :apue:`14.4`).

A check is plain code that calls a transport and may block a helper thread
on it. To run the same check on an async transport, the event loop of the
caller keeps running the transport's coroutines while the check runs in a
thread of its own; each call the check makes (``recv``, ``close``, reading
``timeout`` ...) is handed to the loop and waited for there. So a receive
the check blocks in is a task awaiting ``recv`` on the loop, and a
``close()`` from another helper thread is a call on the loop while that task
waits -- exactly what an async program does. Nothing here sleeps.

:func:`bridged_pairs` and :func:`bridged_listeners` turn the async
factories the user gives into the sync-looking factories the checks take;
:func:`run_in_thread` runs a check off the loop and awaits it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar, cast

from transports.testing.base import PairFactory

R = TypeVar("R")

#: Methods whose being coroutine functions marks an object of the async face.
_ASYNC_MARKS = ("recv", "send", "accept", "__anext__")


def is_async_face(value: object) -> bool:
    """Whether *value* is an async transport or listener: one of its waiting calls is a coroutine function."""
    cls = type(value)
    return any(inspect.iscoroutinefunction(getattr(cls, name, None)) for name in _ASYNC_MARKS)


class Bridge:
    """Runs calls on the objects of one event loop from the threads of a check (:apue:`16.8`, :apue:`14.4`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` on the loop, awaited there if it returns an awaitable; async results wrapped."""

        async def run() -> Any:
            result = func(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        return self.wrap(asyncio.run_coroutine_threadsafe(run(), self.loop).result())

    def wrap(self, value: R) -> R:
        """*value*, or a sync-looking stand-in when it is an async transport or listener."""
        if value.__class__ is tuple:  # a pair of transports; a Datagram, a tuple underneath, is a value
            return cast(R, tuple(self.wrap(item) for item in value))  # type: ignore[attr-defined]  # a tuple
        if is_async_face(value):
            return cast(R, stand_in_class(type(value))(value, self))
        return value

    def unwrap(self, value: object) -> Any:
        """The async object behind a stand-in, or *value* itself."""
        return value._target if isinstance(value, StandIn) else value


class StandIn:
    """An async transport or listener seen through a :class:`Bridge`: the same names, and calls that block (:apue:`16.8`, :apue:`14.4`)."""

    __slots__ = ("_bridge", "_target")
    _bridge: Bridge
    _target: Any

    def __init__(self, target: object, bridge: Bridge) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_bridge", bridge)

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bridge.call(getattr(self._target, "close"))  # noqa: B009  # every async face has close()

    def __iter__(self) -> Iterator[Any]:
        iterator = self._bridge.unwrap(self._bridge.call(aiter, self._target))
        while True:
            try:
                yield self._bridge.call(iterator.__anext__)
            except StopAsyncIteration:
                return

    def __repr__(self) -> str:
        return f"<bridged {self._target!r}>"


def _method(name: str) -> Callable[..., Any]:
    def method(self: StandIn, *args: Any, **kwargs: Any) -> Any:
        return self._bridge.call(getattr(self._target, name), *args, **kwargs)

    method.__name__ = name
    return method


def _property(name: str, settable: bool) -> property:
    def get(self: StandIn) -> Any:
        return self._bridge.call(getattr, self._target, name)

    def put(self: StandIn, value: Any) -> None:
        self._bridge.call(setattr, self._target, name, value)

    return property(get, put if settable else None)


#: The stand-in class made for each async class, by the class.
_STAND_INS: dict[type, type[StandIn]] = {}


def stand_in_class(cls: type) -> type[StandIn]:
    """A :class:`StandIn` subclass with each public method and property of *cls*, for protocol checks to see."""
    made = _STAND_INS.get(cls)
    if made is None:
        made = _STAND_INS[cls] = type(
            f"Bridged{cls.__name__}", (StandIn,), members_of(cls, _method, _property)
        )
    return made


def members_of(
    cls: type,
    method: Callable[[str], Callable[..., Any]],
    prop: Callable[[str, bool], property],
    skip: type | None = None,
) -> dict[str, Any]:
    """A class namespace with ``method(name)`` for each public method of *cls*, ``prop(name, settable)`` for each property.

    Names *skip* (a class) has already are left out. A runtime protocol check looks members up on the
    class (statically from Python 3.12), so a wrapper must have them there, not in ``__getattr__``.
    """
    namespace: dict[str, Any] = {"__slots__": ()}
    for name in dir(cls):
        if name.startswith("_") or (skip is not None and hasattr(skip, name)):
            continue
        member = inspect.getattr_static(cls, name)
        if isinstance(member, property):
            namespace[name] = prop(name, member.fset is not None)
        elif callable(member) or isinstance(member, staticmethod | classmethod):
            namespace[name] = method(name)
    return namespace


def bridged_pairs(bridge: Bridge, factory: Callable[[], Awaitable[tuple[R, R]]]) -> PairFactory[Any]:
    """The async pair *factory* as the sync factory the checks take."""
    return lambda: bridge.call(factory)


def bridged_listeners(
    bridge: Bridge,
    make_listener: Callable[[], Awaitable[Any]],
    connect_to: Callable[[Any], Awaitable[Any]],
) -> tuple[Callable[[], Any], Callable[[Any], Any]]:
    """The async *make_listener* and *connect_to* as the sync pair the listener checks take."""
    return (
        lambda: bridge.call(make_listener),
        lambda listener: bridge.call(connect_to, bridge.unwrap(listener)),
    )


async def run_in_thread(func: Callable[[], R]) -> R:
    """Await *func* run in a thread of its own (ended when this returns), while the loop serves its calls."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[R] = loop.create_future()

    def settle(value: R | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(cast(R, value))

    def run() -> None:
        try:
            value = func()
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    thread = threading.Thread(target=run, name="transports-check-async-runner", daemon=True)
    thread.start()
    try:
        return await done
    finally:
        if done.done() and not done.cancelled():
            thread.join()  # settling the future was the thread's last act
