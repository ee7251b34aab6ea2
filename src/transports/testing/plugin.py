"""pytest plugin of the conformance kit: one test per check, on both faces (:apue:`16.5`, :apue:`16.4`, :apue:`16.8`).

typed-transports registers this module through the ``pytest11`` entry point
(named ``transports``: ``-p no:transports`` turns it off), so any project
that installs it gets these fixtures, each parametrised over the checks of
one layer (the test id is the check's name):

``transports_stream_check``, ``transports_message_check``, ``transports_listener_check``
    call it with a factory of connected stream pairs, of message pairs (and
    ``reliable=False`` for a transport that may reorder), or with
    ``make_listener`` and ``connect_to``.
``transports_async_stream_check``, ``transports_async_message_check``, ``transports_async_listener_check``
    the same checks on async transports, once per event loop (asyncio's
    own, and uvloop where installed; the id ends in the loop's name). The
    factories are coroutine functions; the fixture is a plain call that runs
    them on a fresh loop, so the test is a plain function and needs no async
    plugin.

A check that does not apply to the transport
(:class:`~transports.testing.NotApplicable`) is reported as skipped. The
older names ``stream_check``, ``message_check`` and ``listener_check`` stay
as aliases of the sync fixtures.

Loading the plugin costs a suite almost nothing: it imports no check, no
transport and no event loop. The lists of checks are imported only when a
test asks for one of these fixtures, at collection.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

#: Each fixture: the layer whose checks parametrise it, and whether it runs them on the async face.
_FIXTURES = {
    "transports_stream_check": ("stream", False),
    "transports_message_check": ("message", False),
    "transports_listener_check": ("listener", False),
    "transports_async_stream_check": ("stream", True),
    "transports_async_message_check": ("message", True),
    "transports_async_listener_check": ("listener", True),
    "stream_check": ("stream", False),
    "message_check": ("message", False),
    "listener_check": ("listener", False),
}


def _checks(layer: str) -> tuple[Callable[..., None], ...]:
    module = importlib.import_module(f"transports.testing.{layer}")
    return tuple(getattr(module, f"{layer.upper()}_CHECKS"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise each fixture of this plugin a test asks for over its checks (and loops) (:apue:`16.5`)."""
    for name in metafunc.fixturenames:
        if name not in _FIXTURES:
            continue
        layer, on_async_face = _FIXTURES[name]
        checks = _checks(layer)
        if not on_async_face:
            ids = [check.__name__ for check in checks]
            metafunc.parametrize(name, checks, ids=ids, indirect=True)
            continue
        from transports.testing.aio import loop_factories

        loops = list(loop_factories())
        params = [(check, loop) for check in checks for loop in loops]
        ids = [f"{check.__name__}-{loop}" for check, loop in params]
        metafunc.parametrize(name, params, ids=ids, indirect=True)


def _sync_check(request: pytest.FixtureRequest) -> Callable[..., None]:
    check: Callable[..., None] = request.param

    def run(*args: Any, **kwargs: Any) -> None:
        from transports.testing.base import NotApplicable

        try:
            check(*args, **kwargs)
        except NotApplicable as exc:
            pytest.skip(f"{check.__name__}: {exc}")

    run.__name__ = check.__name__
    return run


def _async_check(request: pytest.FixtureRequest) -> Callable[..., None]:
    check, loop = request.param

    def run(*factories: Callable[..., Awaitable[Any]], reliable: bool | None = None) -> None:
        import asyncio

        from transports.testing.aio import loop_factories, run_async_check
        from transports.testing.base import NotApplicable

        with asyncio.Runner(loop_factory=loop_factories()[loop]) as runner:
            try:
                runner.run(run_async_check(check, *factories, reliable=reliable))
            except NotApplicable as exc:
                pytest.skip(f"{check.__name__} on {loop}: {exc}")

    run.__name__ = check.__name__
    return run


def _define(name: str, summary: str) -> None:
    """Make the fixture *name* of :data:`_FIXTURES` a name of this module, where pytest finds it."""
    on_async_face = _FIXTURES[name][1]

    def fixture(request: pytest.FixtureRequest) -> Callable[..., None]:
        return _async_check(request) if on_async_face else _sync_check(request)

    fixture.__name__ = fixture.__qualname__ = name
    fixture.__doc__ = summary
    globals()[name] = pytest.fixture(name=name)(fixture)


for _name, _summary in {
    "transports_stream_check": "Each stream check in turn (:apue:`14.7`): ``transports_stream_check(pair_factory)``.",
    "transports_message_check": (
        "Each message check in turn (:apue:`16.5`): ``transports_message_check(pair_factory, reliable=True)``."
    ),
    "transports_listener_check": (
        "Each listener check in turn (:apue:`16.4`): ``transports_listener_check(make_listener, connect_to)``."
    ),
    "transports_async_stream_check": (
        "Each stream check on each event loop (:apue:`14.7`, :apue:`16.8`, :apue:`14.4`): "
        "``transports_async_stream_check(async_pair_factory)``."
    ),
    "transports_async_message_check": (
        "Each message check on each event loop (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`): "
        "``transports_async_message_check(async_pair_factory, reliable=True)``."
    ),
    "transports_async_listener_check": (
        "Each listener check on each event loop (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`): "
        "``transports_async_listener_check(make_listener, connect_to)``, both coroutine functions."
    ),
    "stream_check": "The older name of ``transports_stream_check`` (:apue:`14.7`).",
    "message_check": "The older name of ``transports_message_check`` (:apue:`16.5`).",
    "listener_check": "The older name of ``transports_listener_check`` (:apue:`16.4`).",
}.items():
    _define(_name, _summary)
