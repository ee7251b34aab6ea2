"""Async transports and listeners take ``async with`` and ``async for``, never ``with`` and ``for`` (:apue:`16.8`).

Closing an aio object happens in ``__aexit__`` and accepting the next
connection is a wait, so the sync protocols (``__enter__``, ``__iter__``)
are absent; a sync object has no async ones either.
"""

from __future__ import annotations

import transports
from transports import aio


async def sync_statements_on_async_objects(
    t: aio.TCPTransport, listener: aio.TCPListener, general: aio.Listener[aio.Transport]
) -> None:
    with t:  # E: attr-defined
        pass
    with listener:  # E: attr-defined
        pass
    for _conn in listener:  # E: attr-defined
        pass
    for _any_conn in general:  # E: attr-defined
        pass
    for _url_conn in await aio.listen("tcp://:0"):  # E: attr-defined
        pass
    conns = list(listener)  # E: call-overload


async def async_statements_on_sync_objects(
    t: transports.TCPTransport, listener: transports.TCPListener
) -> None:
    async with t:  # E: attr-defined
        pass
    async for _conn in listener:  # E: attr-defined
        pass


async def scoping_an_unawaited_constructor() -> None:
    async with aio.TCPTransport.connect("127.0.0.1", 80) as t:  # E: attr-defined
        pass
    async for _conn in aio.listen("tcp://:0"):  # E: attr-defined
        pass
