"""The conformance kit: the transport contract as code any implementation runs (APUE 16.5 Data Transfer).

Pair checks take a factory of fresh connected pairs ``(a, b)``; listener
checks take ``make_listener`` and ``connect_to``. Run them all at once::

    from transports.testing import run_stream_checks
    run_stream_checks(lambda: transports.socketpair("stream"))

or one test per check with the pytest plugin installed with the package
(fixtures ``stream_check``, ``message_check``, ``listener_check``)::

    def test_my_transport(stream_check):
        stream_check(my_pair_factory)

A broken contract raises :class:`~transports.testing.base.ContractViolation` (an AssertionError
naming the check); a check that does not apply raises
:class:`~transports.testing.base.NotApplicable`. The checks live by layer --
:mod:`~transports.testing.stream`, :mod:`~transports.testing.message`,
:mod:`~transports.testing.listener`, and the ones every pair runs in
:mod:`~transports.testing.pair` and :mod:`~transports.testing.lifecycle` --
and :mod:`transports.testing.checks` gathers them all under one name; each
check's docstring says which APUE section it proves.

For users' own unit tests it also offers the in-memory transports
(``memory://`` in :mod:`~transports.testing.memory`, ``memorygram://`` in
:mod:`~transports.testing.memorygram`) and :class:`~transports.testing.faults.FaultyTransport`
(:mod:`~transports.testing.faults`), which injects short transfers, stalls,
resets and lost or repeated datagrams.

Every name here loads on first use, so importing the package (as the pytest
plugin does) costs little more than the checks themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transports._lazy import lazy_names

if TYPE_CHECKING:
    from transports.testing.base import (
        PROMPT,
        SHORT,
        TIMEOUT,
        ContractViolation,
        ListenerCheck,
        MessageCheck,
        NotApplicable,
        PairFactory,
        StreamCheck,
    )
    from transports.testing.faults import (
        Faults,
        FaultyDatagramTransport,
        FaultyMessageTransport,
        FaultyStreamTransport,
        FaultyTransport,
        Passthrough,
    )
    from transports.testing.listener import LISTENER_CHECKS, run_listener_checks
    from transports.testing.memory import MemoryListener, MemoryStreamTransport
    from transports.testing.memorygram import MemoryDatagramTransport
    from transports.testing.message import MESSAGE_CHECKS, run_message_checks
    from transports.testing.stream import STREAM_CHECKS, run_stream_checks

#: Names loaded on first use, and the module each comes from: the pytest plugin
#: imports this package, and must not load the memory transports or the socket core.
_LAZY: dict[str, str] = {
    "PROMPT": "transports.testing.base",
    "SHORT": "transports.testing.base",
    "TIMEOUT": "transports.testing.base",
    "ContractViolation": "transports.testing.base",
    "ListenerCheck": "transports.testing.base",
    "MessageCheck": "transports.testing.base",
    "NotApplicable": "transports.testing.base",
    "PairFactory": "transports.testing.base",
    "StreamCheck": "transports.testing.base",
    "Faults": "transports.testing.faults",
    "FaultyTransport": "transports.testing.faults",
    "FaultyStreamTransport": "transports.testing.faults",
    "FaultyDatagramTransport": "transports.testing.faults",
    "FaultyMessageTransport": "transports.testing.faults",
    "Passthrough": "transports.testing.faults",
    "LISTENER_CHECKS": "transports.testing.listener",
    "run_listener_checks": "transports.testing.listener",
    "MemoryListener": "transports.testing.memory",
    "MemoryStreamTransport": "transports.testing.memory",
    "MemoryDatagramTransport": "transports.testing.memorygram",
    "MESSAGE_CHECKS": "transports.testing.message",
    "run_message_checks": "transports.testing.message",
    "STREAM_CHECKS": "transports.testing.stream",
    "run_stream_checks": "transports.testing.stream",
}

if not TYPE_CHECKING:  # type checkers see the imports above, and flag a misspelt name
    __getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "LISTENER_CHECKS",
    "MESSAGE_CHECKS",
    "PROMPT",
    "SHORT",
    "STREAM_CHECKS",
    "TIMEOUT",
    "ContractViolation",
    "Faults",
    "FaultyDatagramTransport",
    "FaultyMessageTransport",
    "FaultyStreamTransport",
    "FaultyTransport",
    "ListenerCheck",
    "MemoryDatagramTransport",
    "MemoryListener",
    "MemoryStreamTransport",
    "MessageCheck",
    "NotApplicable",
    "PairFactory",
    "Passthrough",
    "StreamCheck",
    "run_listener_checks",
    "run_message_checks",
    "run_stream_checks",
]
