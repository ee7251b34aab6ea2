"""The conformance kit: the transport contract as code any implementation runs (:apue:`16.5`).

Pair checks take a factory of fresh connected pairs ``(a, b)``; listener
checks take ``make_listener`` and ``connect_to``. Run them all at once::

    from transports.testing import run_stream_checks
    run_stream_checks(lambda: transports.socketpair("stream"))

or on async transports, with coroutine functions as factories::

    from transports.testing import run_async_stream_checks
    await run_async_stream_checks(my_async_pair_factory)

or one test per check with the pytest plugin installed with the package
(fixtures ``transports_stream_check``, ``transports_message_check``,
``transports_listener_check`` and their ``transports_async_*`` twins)::

    def test_my_transport(transports_stream_check):
        transports_stream_check(my_pair_factory)

A broken contract raises :class:`~transports.testing.ContractViolation` (an AssertionError
naming the check); a check that does not apply raises
:class:`~transports.testing.NotApplicable`. The checks live by layer --
:mod:`~transports.testing.stream`, :mod:`~transports.testing.message`,
:mod:`~transports.testing.listener`, and the ones every pair runs in
:mod:`~transports.testing.pair` and :mod:`~transports.testing.lifecycle` --
and :mod:`transports.testing.checks` gathers them all under one name; each
check's docstring says which APUE section it proves. Each check is written
once: :mod:`transports.testing.aio` runs the same checks on the async face.

:func:`~transports.testing.clogged` makes any stream pair *clogged*:
each send waits until the peer has received it, so a test can make a send
block, or prove it does not rely on buffering, whatever the kernel would
buffer; the stream checks pass on clogged pairs.

For users' own unit tests it also offers the in-memory transports
(``memory://`` in :mod:`~transports.testing.memory`, ``memorygram://`` in
:mod:`~transports.testing.memorygram`) and :class:`~transports.testing.FaultyTransport`
(:mod:`~transports.testing.faults`), which injects short transfers, stalls,
resets and lost or repeated datagrams.

Every name here loads on first use, so importing the package (as the pytest
plugin does) costs little more than the checks themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transports._lazy import lazy_names

if TYPE_CHECKING:  # type checkers see every name here; at run time each loads on first use
    from transports.testing.aio import AsyncPairFactory as AsyncPairFactory
    from transports.testing.aio import run_async_check as run_async_check
    from transports.testing.aio import run_async_listener_checks as run_async_listener_checks
    from transports.testing.aio import run_async_message_checks as run_async_message_checks
    from transports.testing.aio import run_async_stream_checks as run_async_stream_checks
    from transports.testing.base import *  # noqa: F403  # these three modules are exported whole
    from transports.testing.clogging import CloggedEnd as CloggedEnd
    from transports.testing.clogging import clogged as clogged
    from transports.testing.faults import *  # noqa: F403
    from transports.testing.listener import LISTENER_CHECKS as LISTENER_CHECKS
    from transports.testing.listener import run_listener_checks as run_listener_checks
    from transports.testing.memory import MemoryListener as MemoryListener
    from transports.testing.memory import MemoryStreamTransport as MemoryStreamTransport
    from transports.testing.memorygram import *  # noqa: F403
    from transports.testing.message import MESSAGE_CHECKS as MESSAGE_CHECKS
    from transports.testing.message import run_message_checks as run_message_checks
    from transports.testing.stream import STREAM_CHECKS as STREAM_CHECKS
    from transports.testing.stream import run_stream_checks as run_stream_checks

#: Each submodule, and the names this package loads from it on first use: the pytest
#: plugin imports the package, and must not load the memory transports or the socket core.
_SOURCES = {
    "aio": "AsyncPairFactory run_async_check run_async_listener_checks run_async_message_checks run_async_stream_checks",
    "clogging": "CloggedEnd clogged",
    "base": (
        "PROMPT SHORT TIMEOUT ContractViolation ListenerCheck MessageCheck NotApplicable PairFactory StreamCheck"
    ),
    "faults": (
        "Faults FaultyTransport FaultyStreamTransport FaultyDatagramTransport FaultyMessageTransport Passthrough"
    ),
    "listener": "LISTENER_CHECKS run_listener_checks",
    "memory": "MemoryListener MemoryStreamTransport",
    "memorygram": "MemoryDatagramTransport",
    "message": "MESSAGE_CHECKS run_message_checks",
    "stream": "STREAM_CHECKS run_stream_checks",
}
__all__ = [name for names in _SOURCES.values() for name in names.split()]
_LAZY = {name: f"{__name__}.{module}" for module, names in _SOURCES.items() for name in names.split()}

if not TYPE_CHECKING:  # type checkers see the imports above, and flag a misspelt name
    __getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
