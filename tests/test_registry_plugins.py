"""Plugins of the ``transports.schemes`` entry-point group, without installing any package.

A fake distribution (a ``.dist-info`` directory with ``METADATA`` and
``entry_points.txt``) and its module are put on ``sys.path`` for one test,
so :mod:`importlib.metadata` finds them like an installed plugin. The
registry's plugin state is emptied before each test and put back after.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import textwrap
from collections.abc import Coroutine, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import pytest

import transports
from conftest import TIMEOUT
from transports import (
    AddressError,
    InetAddress,
    Kind,
    NamedAddress,
    OpenArgs,
    PluginError,
    SchemeFactory,
    UnknownScheme,
    aio,
    registry,
)

T = TypeVar("T")

MODULE = "tt_fake_plugin"

ENTRY_POINTS = f"""
[transports.schemes]
fake = {MODULE}:FACTORY
fakecall = {MODULE}:make_factory
wrong = {MODULE}:NOT_A_FACTORY
missing = tt_no_such_module:FACTORY
tcp = {MODULE}:FACTORY
fakeboth = {MODULE}:BOTH
fakeasync = {MODULE}:ASYNC_ONLY
"""

SOURCE = """
from transports import AddressError, Kind


class Factory:
    kind = Kind.STREAM
    description = "a fake plugin for the tests"

    def connect(self, url, args):
        raise AddressError(f"the fake plugin was asked to connect to {url}")

    def listen(self, url, args):
        raise AddressError("the fake plugin does not listen")

    def bind(self, url, args):
        raise AddressError("the fake plugin does not bind")


class AsyncFactory:
    kind = Kind.STREAM
    description = "the fake plugin's async face"

    def __init__(self):
        self.peers = []

    async def connect(self, url, args):
        from transports import aio

        mine, peer = aio.socketpair()
        self.peers.append(peer)
        return mine

    async def listen(self, url, args):
        raise AddressError("the fake async plugin does not listen")

    async def bind(self, url, args):
        raise AddressError("the fake async plugin does not bind")


class BothFactory(Factory):
    async_factory = AsyncFactory()


FACTORY = Factory()
NOT_A_FACTORY = 42
BOTH = BothFactory()
ASYNC_ONLY = AsyncFactory()


def make_factory():
    return Factory()
"""


class Discoveries:
    """Counts how often the registry reads the entry-point group."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Discoveries]:
    """A fake installed plugin distribution, and a registry that has not looked for plugins yet."""
    dist_info = tmp_path / "tt_fake_plugin-1.2.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: tt-fake-plugin\nVersion: 1.2\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    (tmp_path / f"{MODULE}.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))

    discoveries = Discoveries()
    real_entry_points = metadata.entry_points

    def counting_entry_points(*, group: str) -> metadata.EntryPoints:
        discoveries.count += 1
        return real_entry_points(group=group)

    # The registry calls importlib.metadata.entry_points: the module is shared.
    monkeypatch.setattr(metadata, "entry_points", counting_entry_points)

    saved_registry = dict(registry._registry)
    saved_plugins = dict(registry._plugins)
    saved_errors = dict(registry._plugin_errors)
    was_discovered = registry._discovered.is_set()
    # Forget plugins loaded earlier in this process (an installed example, say).
    for name, row in saved_registry.items():
        if row.origin.startswith("plugin"):
            del registry._registry[name]
    registry._plugins.clear()
    registry._plugin_errors.clear()
    registry._discovered.clear()
    try:
        yield discoveries
    finally:
        registry._registry.clear()
        registry._registry.update(saved_registry)
        registry._plugins.clear()
        registry._plugins.update(saved_plugins)
        registry._plugin_errors.clear()
        registry._plugin_errors.update(saved_errors)
        if was_discovered:
            registry._discovered.set()
        else:
            registry._discovered.clear()
        sys.modules.pop(MODULE, None)


def test_a_plugin_is_loaded_on_first_use_only(plugin_dir: Discoveries) -> None:
    assert registry.lookup("tcp://127.0.0.1:1") is registry.registered_schemes()["tcp"]
    assert plugin_dir.count == 0, "a built-in scheme must not trigger plugin discovery"
    with transports.listen("tcp://127.0.0.1:0") as listener:
        assert not listener.closed
    assert MODULE not in sys.modules

    factory = registry.lookup("fake://anything")
    assert MODULE in sys.modules
    assert plugin_dir.count == 1
    assert isinstance(factory, SchemeFactory)
    assert factory is sys.modules[MODULE].FACTORY
    assert registry.lookup("FAKE://again") is factory
    assert registry.registered_schemes()["fake"] is factory
    with pytest.raises(AddressError, match="the fake plugin was asked to connect to fake://here"):
        transports.connect("fake://here")
    # A callable entry point is called once to make the factory.
    made = registry.lookup("fakecall:x")
    assert type(made).__name__ == "Factory"
    assert made is not factory
    assert registry.lookup("fakecall:y") is made
    assert plugin_dir.count == 1, "the group is read once"


def test_a_plugin_cannot_shadow_a_builtin(plugin_dir: Discoveries) -> None:
    assert registry.lookup("tcp://127.0.0.1:1") is registry.registered_schemes()["tcp"]
    rows = {row.name: row for row in transports.schemes()}
    assert rows["tcp"].origin == "builtin"
    assert rows["tcp"].description == "TCP over IPv4 or IPv6"


@pytest.mark.parametrize(
    ("scheme", "cause"),
    [("missing", "ModuleNotFoundError: No module named 'tt_no_such_module'"), ("wrong", "TypeError")],
)
def test_a_broken_plugin_names_itself_and_spares_the_builtins(
    plugin_dir: Discoveries, scheme: str, cause: str
) -> None:
    with pytest.raises(PluginError) as info:
        transports.connect(f"{scheme}://x")
    message = str(info.value)
    assert f"scheme {scheme!r}" in message
    assert "tt-fake-plugin 1.2" in message
    assert cause in message
    # The failure is remembered: the same error again, no second import attempt.
    with pytest.raises(PluginError, match=cause):
        registry.lookup(f"{scheme}://y")
    # Built-ins, and the distribution's good plugins, keep working.
    with transports.listen("tcp://127.0.0.1:0") as listener:
        assert listener.address.url().startswith("tcp://127.0.0.1:")
    assert registry.lookup("fake://x").kind is Kind.STREAM
    a, b = transports.socketpair()
    with a, b:
        a.send(b"still fine")
        b.timeout = 5
        assert b.recv(100) == b"still fine"


def test_schemes_lists_builtin_plugin_and_broken(plugin_dir: Discoveries) -> None:
    rows = {row.name: row for row in transports.schemes()}
    assert rows["unixgram"].origin == "builtin"
    assert rows["unixgram"].kind is Kind.DATAGRAM
    assert rows["fake"].origin == "plugin tt-fake-plugin 1.2"
    assert rows["fake"].kind is Kind.STREAM
    assert rows["fake"].description == "a fake plugin for the tests"
    assert rows["fake"].error is None
    assert rows["fakecall"].kind is Kind.STREAM
    for broken in ("missing", "wrong"):
        assert rows[broken].kind is None
        assert rows[broken].origin == "plugin"
        error = rows[broken].error
        assert error is not None
        assert f"scheme {broken!r}" in error
    assert "ModuleNotFoundError" in (rows["missing"].error or "")
    names = [row.name for row in transports.schemes()]
    assert names == sorted(names)


def test_unknown_scheme_lists_plugins_too(plugin_dir: Discoveries) -> None:
    with pytest.raises(UnknownScheme) as info:
        transports.connect("nothing://here")
    assert {"fake", "fakecall", "missing", "wrong", "tcp", "unixpacket"} <= set(info.value.known)
    assert "fake" in str(info.value)
    # Listing a plugin's name imports nothing.
    assert MODULE not in sys.modules


# -- one table for both faces ---------------------------------------------------------------------


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run *coro* on a fresh event loop, failing it after TIMEOUT seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(TIMEOUT):
            return await coro

    return asyncio.run(bounded())


def test_aio_opens_plugin_schemes_through_the_same_table(plugin_dir: Discoveries) -> None:
    async def body() -> None:
        async with await aio.connect("fakeboth://x", timeout=2.0) as conn:
            assert isinstance(conn, aio.StreamTransport)
        async with await aio.connect("fakeasync://y") as conn:
            assert isinstance(conn, aio.UnixStreamTransport)
        with pytest.raises(AddressError, match="the fake async plugin does not listen"):
            await aio.listen("fakeboth://x")
        with pytest.raises(AddressError, match="the fake async plugin does not bind"):
            await aio.bind("fakeasync://x")
        # A sync-only plugin: a clear error naming the scheme, its package and the face that exists.
        with pytest.raises(AddressError) as info:
            await aio.connect("fake://x")
        message = str(info.value)
        assert "fake:// (plugin tt-fake-plugin 1.2) has no async factory" in message
        assert "sync transports.connect" in message
        assert not isinstance(info.value, UnknownScheme)

    run(body())
    module = sys.modules[MODULE]
    for factory in (module.BOTH.async_factory, module.ASYNC_ONLY):
        for peer in factory.peers:
            peer.close()
    # The sync face of the same rows.
    with pytest.raises(AddressError, match="the fake plugin was asked to connect to fakeboth://z"):
        transports.connect("fakeboth://z")
    with pytest.raises(AddressError, match=r"fakeasync:// \(plugin tt-fake-plugin 1.2\) has no sync factory"):
        transports.connect("fakeasync://z")
    assert plugin_dir.count == 1, "both faces share one read of the group"


def test_schemes_say_which_faces_open_them(plugin_dir: Discoveries) -> None:
    rows = {row.name: row for row in transports.schemes()}
    assert (rows["fakeboth"].sync, rows["fakeboth"].aio) == (True, True)
    assert (rows["fakeasync"].sync, rows["fakeasync"].aio) == (False, True)
    assert rows["fakeasync"].description == "the fake plugin's async face"
    assert (rows["fake"].sync, rows["fake"].aio) == (True, False)
    assert (rows["tcp4"].sync, rows["tcp4"].aio, rows["tcp4"].family) == (True, True, socket.AF_INET)
    assert rows["unixpacket"].family is socket.AF_UNIX
    assert (rows["memory"].sync, rows["memory"].aio, rows["memory"].family) == (True, True, None)
    assert rows["memorygram"].kind is Kind.DATAGRAM
    assert "fakeasync" not in transports.registered_schemes(), "registered_schemes maps sync factories"


def test_memory_opens_from_both_faces_through_one_row() -> None:
    async def main() -> None:
        with pytest.raises(AddressError, match=r"memorygram is datagram; use aio\.bind\(\) instead"):
            await aio.listen("memorygram://registry-test")
        async with await aio.listen("memory://registry-test") as listener:
            assert listener.address == NamedAddress("memory", "registry-test")
            # The sync face opens it through the same row, and reaches the async listener.
            with transports.connect("memory://registry-test", timeout=TIMEOUT):
                async with await listener.accept():
                    pass

    run(main())


def test_parse_address_uses_the_rows_parser() -> None:
    assert registry.parse_address("tcp6://[::1]:80") == InetAddress("::1", 80)
    assert registry.parse_address("MEMORY://jobs") == NamedAddress("memory", "jobs")
    with pytest.raises(AddressError, match="not a memorygram:// URL"):
        registry.parse_address("memorygram:x://y")
    with pytest.raises(UnknownScheme):
        registry.parse_address("nothing://x")


@pytest.fixture
def saved_table() -> Iterator[None]:
    """Put the table back as it was: there is no unregister, on purpose."""
    saved = dict(registry._registry)
    try:
        yield
    finally:
        registry._registry.clear()
        registry._registry.update(saved)


class AsyncPair:
    """An async factory that hands out one end of an aio socketpair."""

    kind = Kind.STREAM
    description = "an async fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, OpenArgs]] = []
        self.peers: list[aio.Transport] = []

    async def connect(self, url: str, args: OpenArgs) -> aio.Transport:
        self.calls.append((url, args))
        mine, peer = aio.socketpair()
        self.peers.append(peer)
        return mine

    async def listen(self, url: str, args: OpenArgs) -> aio.Listener[aio.Transport]:
        raise AddressError(f"listen({url!r}): the async fake only connects")

    async def bind(self, url: str, args: OpenArgs) -> aio.Transport:
        raise AddressError(f"bind({url!r}): the async fake only connects")


def test_register_an_async_factory(saved_table: None) -> None:
    factory = AsyncPair()
    assert isinstance(factory, registry.AsyncSchemeFactory)
    transports.register("afake", None, async_factory=factory)

    async def body() -> None:
        async with await aio.connect("AFAKE://there", timeout=1.5) as conn:
            assert isinstance(conn, aio.UnixStreamTransport)

    run(body())
    for peer in factory.peers:
        peer.close()
    assert factory.calls == [("AFAKE://there", OpenArgs(timeout=1.5))]
    assert registry.lookup_async("afake://x") is factory
    with pytest.raises(AddressError, match=r"afake:// \(registered\) has no sync factory"):
        transports.connect("afake://x")
    with pytest.raises(ValueError, match="already registered"):
        transports.register("afake", None, async_factory=AsyncPair())


def test_register_checks_which_face_a_factory_serves(saved_table: None) -> None:
    with pytest.raises(TypeError, match="coroutine methods; pass it as async_factory="):
        transports.register("afake", AsyncPair())  # type: ignore[arg-type]  # an async factory, deliberately
    with pytest.raises(TypeError, match="got neither"):
        transports.register("afake", None)
    sync = registry.registered_schemes()["tcp"]
    with pytest.raises(TypeError, match="the async factory needs"):
        transports.register("afake", None, async_factory=sync)  # type: ignore[arg-type]  # a sync one, deliberately
    assert "afake" not in {row.name for row in transports.schemes()}
