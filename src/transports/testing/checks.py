"""Every check of the conformance kit under one name (APUE 16.5 Data Transfer, 14.7 readn and writen).

The checks live by layer: the vocabulary in :mod:`transports.testing.base`
(:class:`~transports.testing.base.ContractViolation`,
:class:`~transports.testing.base.NotApplicable`, the time limits), the
checks every pair runs in :mod:`transports.testing.pair` and
:mod:`transports.testing.lifecycle`, and those of one layer, with its list
and its ``run_*`` function, in :mod:`transports.testing.stream`,
:mod:`transports.testing.message` and :mod:`transports.testing.listener`.
This module re-exports them all, so ``from transports.testing.checks import
check_waitall`` keeps working::

    from transports.testing import checks
    checks.check_close_twice(my_pair_factory)
"""

from __future__ import annotations

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
from transports.testing.lifecycle import (
    check_close_twice,
    check_close_wakes_blocked_receive,
    check_receive_memory_bounded,
    check_use_after_close,
)
from transports.testing.listener import (
    LISTENER_CHECKS,
    check_listener_accept,
    check_listener_accept_timeout,
    check_listener_close,
    check_listener_iteration_stops_on_close,
    run_listener_checks,
)
from transports.testing.message import (
    MESSAGE_CHECKS,
    check_empty_message,
    check_max_message_size,
    check_message_boundaries,
    check_message_end_of_connection,
    check_message_identity,
    check_message_order,
    check_message_truncation,
    run_message_checks,
)
from transports.testing.pair import (
    check_dontwait,
    check_peek_leaves_data,
    check_recv_timeout,
    check_refused_flags,
    check_send_accepts_buffers,
)
from transports.testing.stream import (
    STREAM_CHECKS,
    check_half_close,
    check_recv_exactly_eof,
    check_recv_exactly_timeout_keeps_partial,
    check_stream_eof_after_close,
    check_stream_identity,
    check_stream_round_trip,
    check_stream_send_returns_count,
    check_waitall,
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
    "ListenerCheck",
    "MessageCheck",
    "NotApplicable",
    "PairFactory",
    "StreamCheck",
    "check_close_twice",
    "check_close_wakes_blocked_receive",
    "check_dontwait",
    "check_empty_message",
    "check_half_close",
    "check_listener_accept",
    "check_listener_accept_timeout",
    "check_listener_close",
    "check_listener_iteration_stops_on_close",
    "check_max_message_size",
    "check_message_boundaries",
    "check_message_end_of_connection",
    "check_message_identity",
    "check_message_order",
    "check_message_truncation",
    "check_peek_leaves_data",
    "check_receive_memory_bounded",
    "check_recv_exactly_eof",
    "check_recv_exactly_timeout_keeps_partial",
    "check_recv_timeout",
    "check_refused_flags",
    "check_send_accepts_buffers",
    "check_stream_eof_after_close",
    "check_stream_identity",
    "check_stream_round_trip",
    "check_stream_send_returns_count",
    "check_use_after_close",
    "check_waitall",
    "run_listener_checks",
    "run_message_checks",
    "run_stream_checks",
]
