"""Async constructors made from the sync ones, for the constructors that wait for no peer (:apue:`16.8`, :apue:`16.3.3`).

Binding a UDP or Unix datagram socket, fixing its peer, listening on TCP or
Unix sockets: none of these waits for the other end, so the async
constructor is the sync one, run non-blocking (in the loop's executor when
the host is a name that needs DNS), its result owned by the async class.
:class:`AsyncTwin` makes such a constructor from the sync classmethod: the
same parameters, defaults and annotations (one signature, so the two faces
cannot drift), the same docstring with one paragraph added, and a coroutine.
The constructors that do wait -- a TCP handshake, a full Unix backlog --
are written out in their modules.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Generic, ParamSpec, TypeVar, overload

__all__ = ["AsyncTwin"]

P = ParamSpec("P")
A = TypeVar("A")

#: The paragraph added to the sync docstring.
_NOTE = """
On :mod:`transports.aio` this is a coroutine (:apue:`16.8`): the
sync constructor runs non-blocking, in the loop's executor when the host is
a name that needs a lookup, and *timeout* then bounds each later call of the
new object instead.
"""


class AsyncTwin(classmethod, Generic[P]):  # type: ignore[type-arg]  # its __get__ types the call below
    """An async classmethod that makes its object with the sync classmethod *make* (:apue:`16.8`).

    ``bind = AsyncTwin(_sync.UDPTransport.bind)`` in an async class gives
    ``await UDPTransport.bind(host, port, ...)``, typed and documented as
    the sync one (plus a paragraph saying how it waits).
    """

    def __init__(self, make: Callable[P, Any]) -> None:
        function = getattr(make, "__func__", make)
        signature = inspect.signature(function, eval_str=True)  # the sync parameters, ``cls`` first

        async def construct(cls: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(cls, *args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"aio.{construct.__qualname__}(): {exc}") from None
            timeout = bound.arguments.pop("timeout", None)
            host = bound.arguments.get("host", "")
            return await cls._made_by(make, *bound.args[1:], timeout=timeout, lookup=host, **bound.kwargs)

        construct.__name__ = function.__name__
        construct.__doc__ = (inspect.cleandoc(function.__doc__ or "") + "\n" + _NOTE).strip()
        construct.__signature__ = signature  # type: ignore[attr-defined]  # read by inspect, Sphinx and the mirroring test
        super().__init__(construct)

    def __set_name__(self, owner: type, name: str) -> None:
        self.__func__.__qualname__ = f"{owner.__qualname__}.{name}"
        self.__func__.__module__ = owner.__module__

    @overload  # type: ignore[override]  # a classmethod's __get__, typed for what it makes
    def __get__(self, obj: None, owner: type[A]) -> Callable[P, Coroutine[Any, Any, A]]: ...
    @overload
    def __get__(self, obj: A, owner: type[A] | None = None) -> Callable[P, Coroutine[Any, Any, A]]: ...
    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return super().__get__(obj, owner)
