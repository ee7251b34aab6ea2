"""How the test kit is put together: one list of names per module, one table of checks per layer.

The package ``transports.testing``, ``transports.testing.checks`` and the
shims ``transports.memory`` and ``transports.faults`` each derive what they
export from the modules that define it; these tests hold the derived lists
to the real ones, and the memory listener to the errors it shares with the
memory transports.
"""

from __future__ import annotations

import errno
import importlib
import uuid
from types import ModuleType

import pytest

import transports.faults
import transports.memory
import transports.testing
from transports.errors import AddressInUse, ConnectionRefused, TransportClosed, WouldBlock
from transports.testing import (
    aio,
    checks,
    clogging,
    faults,
    lifecycle,
    listener,
    memory,
    memorygram,
    message,
    pair,
    stream,
)

LAYERS = ("base", "lifecycle", "listener", "message", "pair", "stream")


def test_every_name_of_the_package_loads_from_its_module() -> None:
    for name in transports.testing.__all__:
        value = getattr(transports.testing, name)
        assert any(
            value is getattr(module, name, None)
            for module in (aio, clogging, faults, memory, memorygram, checks)
        ), name
    assert len(set(transports.testing.__all__)) == len(transports.testing.__all__)
    for module in ("base", "faults", "memorygram"):  # exported whole: the type checker sees them by *
        exported = importlib.import_module(f"transports.testing.{module}").__all__
        assert set(exported) <= set(transports.testing.__all__), module
    assert set(transports.testing.__all__) <= set(dir(transports.testing))


def test_checks_re_exports_every_layer() -> None:
    expected: set[str] = set()
    for layer in LAYERS:
        module = importlib.import_module(f"transports.testing.{layer}")
        expected |= set(module.__all__)
        for name in module.__all__:
            assert getattr(checks, name) is getattr(module, name), f"{layer}.{name}"
    assert set(checks.__all__) == expected
    assert len(checks.__all__) == len(expected)


@pytest.mark.parametrize(
    ("shim", "sources"),
    [(transports.memory, (memory, memorygram)), (transports.faults, (faults,))],
    ids=["memory", "faults"],
)
def test_shims_export_exactly_their_sources(shim: object, sources: tuple[object, ...]) -> None:
    names = [name for source in sources for name in getattr(source, "__all__")]  # noqa: B009  # a module
    assert getattr(shim, "__all__") == names  # noqa: B009
    for source in sources:
        for name in getattr(source, "__all__"):  # noqa: B009
            assert getattr(shim, name) is getattr(source, name), name


def test_every_check_is_listed_once_where_it_belongs() -> None:
    shared = [*pair.PAIR_CHECKS, *lifecycle.LIFECYCLE_CHECKS, pair.check_refused_flags]
    for layer, checks_of_layer in (("stream", stream.STREAM_CHECKS), ("message", message.MESSAGE_CHECKS)):
        assert len(set(checks_of_layer)) == len(checks_of_layer), f"{layer} lists a check twice"
        for check in shared:
            assert check in checks_of_layer, f"{check!r} is missing from the {layer} checks"
    lists: list[tuple[ModuleType, tuple[object, ...]]] = [
        (stream, stream.STREAM_CHECKS),
        (message, message.MESSAGE_CHECKS),
        (listener, listener.LISTENER_CHECKS),
        (lifecycle, lifecycle.LIFECYCLE_CHECKS),
    ]
    for module, listed in lists:
        own = {getattr(module, name) for name in module.__all__ if name.startswith("check_")}
        assert own <= set(listed), f"{module.__name__} defines a check that no list runs"
    own_pair = {getattr(pair, name) for name in pair.__all__ if name.startswith("check_")}
    assert own_pair == {*pair.PAIR_CHECKS, pair.check_refused_flags}


def test_message_checks_keep_their_order() -> None:
    """The plugin's output (docs/plugins.rst) shows the message checks in this order."""
    names = [getattr(check, "__name__", "") for check in message.MESSAGE_CHECKS]
    assert names[:11] == [
        "check_message_identity",
        "check_message_boundaries",
        "check_empty_message",
        "check_message_order",
        "check_message_truncation",
        "check_max_message_size",
        "check_send_accepts_buffers",
        "check_peek_leaves_data",
        "check_dontwait",
        "check_recv_timeout",
        "check_message_end_of_connection",
    ]
    assert names[-1] == "check_refused_flags"


def test_memory_listener_errors_name_the_operation_and_address() -> None:
    name = f"layout-{uuid.uuid4().hex}"
    url = f"memory://{name}"
    with memory.MemoryListener(name) as first:
        with pytest.raises(AddressInUse) as in_use:
            memory.MemoryListener(name)
        assert (in_use.value.op, in_use.value.address, in_use.value.errno) == (
            "listen",
            url,
            errno.EADDRINUSE,
        )
        first.timeout = 0
        with pytest.raises(WouldBlock) as blocked:  # timeout 0 never waits, as on a socket
            first.accept()
        assert (blocked.value.op, blocked.value.address) == ("accept", url)
        assert first.local_address == first.address
    with pytest.raises(TransportClosed) as closed:
        first.accept()
    assert (closed.value.op, closed.value.address, closed.value.errno) == ("accept", url, errno.EBADF)
    with pytest.raises(ConnectionRefused) as refused:
        transports.connect(url, timeout=1.0)
    assert (refused.value.op, refused.value.address) == ("connect", url)


def test_memorygram_names_are_claimed_and_released() -> None:
    name = f"layout-{uuid.uuid4().hex}"
    endpoint = memorygram.MemoryDatagramTransport.bind(name)
    with endpoint:
        with pytest.raises(AddressInUse) as in_use:
            memorygram.MemoryDatagramTransport.bind(name)
        assert in_use.value.op == "bind"
        client = memorygram.MemoryDatagramTransport.connect(name)
        with client:
            assert client.send(b"hi") == 2
            assert endpoint.recv(10) == b"hi"
    with pytest.raises(ConnectionRefused) as refused:
        memorygram.MemoryDatagramTransport.connect(name)
    assert (refused.value.op, refused.value.address) == ("connect", f"memorygram://{name}")
    memorygram.MemoryDatagramTransport.bind(name).close()  # the name is free again
