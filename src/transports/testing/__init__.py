"""The conformance kit: the transport contract as code any implementation runs (APUE 16.5 Data Transfer).

Pair checks take a factory of fresh connected pairs ``(a, b)``; listener
checks take ``make_listener`` and ``connect_to``. Run them all at once::

    from transports.testing import run_stream_checks
    run_stream_checks(lambda: transports.socketpair("stream"))

or one test per check with the pytest plugin installed with the package
(fixtures ``stream_check``, ``message_check``, ``listener_check``)::

    def test_my_transport(stream_check):
        stream_check(my_pair_factory)

A broken contract raises :class:`ContractViolation` (an AssertionError
naming the check); a check that does not apply raises
:class:`NotApplicable`. See :mod:`transports.testing.checks` for each check
and the APUE section it proves.

For users' own unit tests it also offers the in-memory transports
(``memory://``, ``memorygram://``) and :class:`FaultyTransport`, which
injects short transfers, stalls, resets and lost or repeated datagrams.
"""

from __future__ import annotations

from transports.faults import Faults, FaultyTransport, Passthrough
from transports.memory import MemoryDatagramTransport, MemoryListener, MemoryStreamTransport
from transports.testing.checks import (
    LISTENER_CHECKS,
    MESSAGE_CHECKS,
    PROMPT,
    SHORT,
    STREAM_CHECKS,
    TIMEOUT,
    ContractViolation,
    ListenerCheck,
    MessageCheck,
    NotApplicable,
    PairFactory,
    StreamCheck,
    run_listener_checks,
    run_message_checks,
    run_stream_checks,
)

__all__ = [
    "LISTENER_CHECKS",
    "MESSAGE_CHECKS",
    "PROMPT",
    "SHORT",
    "STREAM_CHECKS",
    "TIMEOUT",
    "ContractViolation",
    "Faults",
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
