"""The fault-injecting wrapper, under its first name (APUE 16.5 Data Transfer).

:class:`FaultyTransport`, :class:`Faults` and :class:`Passthrough` live in
:mod:`transports.testing.faults`, next to the rest of the test kit; this
module re-exports them so that ``from transports.faults import
FaultyTransport`` keeps working. New code may import either.
"""

from __future__ import annotations

from transports.testing.faults import (
    Faults,
    FaultyDatagramTransport,
    FaultyMessageTransport,
    FaultyStreamTransport,
    FaultyTransport,
    Passthrough,
)

__all__ = [
    "Faults",
    "FaultyDatagramTransport",
    "FaultyMessageTransport",
    "FaultyStreamTransport",
    "FaultyTransport",
    "Passthrough",
]
