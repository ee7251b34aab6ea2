"""pytest plugin of the conformance kit: one test per check (:apue:`16.5`, :apue:`16.4`).

typed-transports registers this module through the ``pytest11`` entry
point, so any project that installs it gets three fixtures:

``stream_check``
    parametrised over :data:`~transports.testing.STREAM_CHECKS`;
    call it with a factory of connected stream pairs.
``message_check``
    parametrised over :data:`~transports.testing.MESSAGE_CHECKS`;
    call it with a factory of connected message pairs (and ``reliable=False``
    for a transport that may reorder).
``listener_check``
    parametrised over :data:`~transports.testing.LISTENER_CHECKS`;
    call it with ``make_listener`` and ``connect_to``.

Each test id is the check's name; a check that does not apply to the
transport (:class:`~transports.testing.NotApplicable`) is reported as skipped.
The fixtures do nothing for tests that do not ask for them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, cast

import pytest

from transports.testing._common import check_name
from transports.testing.base import ListenerCheck, MessageCheck, NotApplicable, StreamCheck
from transports.testing.listener import LISTENER_CHECKS
from transports.testing.message import MESSAGE_CHECKS
from transports.testing.stream import STREAM_CHECKS

P = ParamSpec("P")


def _skipping(check: Callable[P, None]) -> Callable[P, None]:
    """*check*, with NotApplicable turned into a pytest skip."""

    @functools.wraps(check)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            check(*args, **kwargs)
        except NotApplicable as exc:
            pytest.skip(f"{check_name(check)}: {exc}")

    return run


@pytest.fixture(params=STREAM_CHECKS, ids=check_name)
def stream_check(request: pytest.FixtureRequest) -> StreamCheck:
    """Each stream check in turn (:apue:`14.7`): ``stream_check(pair_factory)``."""
    return cast(StreamCheck, _skipping(request.param))


@pytest.fixture(params=MESSAGE_CHECKS, ids=check_name)
def message_check(request: pytest.FixtureRequest) -> MessageCheck:
    """Each message check in turn (:apue:`16.5`): ``message_check(pair_factory, reliable=True)``."""
    return cast(MessageCheck, _skipping(request.param))


@pytest.fixture(params=LISTENER_CHECKS, ids=check_name)
def listener_check(request: pytest.FixtureRequest) -> ListenerCheck:
    """Each listener check in turn (:apue:`16.4`): ``listener_check(make_listener, connect_to)``."""
    return cast(ListenerCheck, _skipping(request.param))
