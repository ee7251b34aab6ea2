"""Plugins of the ``transports.schemes`` entry-point group, without installing any package.

A fake distribution (a ``.dist-info`` directory with ``METADATA`` and
``entry_points.txt``) and its module are put on ``sys.path`` for one test,
so :mod:`importlib.metadata` finds them like an installed plugin. The
registry's plugin state is emptied before each test and put back after.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import transports
from transports import AddressError, Kind, PluginError, SchemeFactory, UnknownScheme, registry

MODULE = "tt_fake_plugin"

ENTRY_POINTS = f"""
[transports.schemes]
fake = {MODULE}:FACTORY
fakecall = {MODULE}:make_factory
wrong = {MODULE}:NOT_A_FACTORY
missing = tt_no_such_module:FACTORY
tcp = {MODULE}:FACTORY
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


FACTORY = Factory()
NOT_A_FACTORY = 42


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
    saved_origins = dict(registry._origins)
    saved_plugins = dict(registry._plugins)
    saved_errors = dict(registry._plugin_errors)
    was_discovered = registry._discovered.is_set()
    # Forget plugins loaded earlier in this process (an installed example, say).
    for name, origin in saved_origins.items():
        if origin.startswith("plugin"):
            del registry._registry[name]
            del registry._origins[name]
    registry._plugins.clear()
    registry._plugin_errors.clear()
    registry._discovered.clear()
    try:
        yield discoveries
    finally:
        registry._registry.clear()
        registry._registry.update(saved_registry)
        registry._origins.clear()
        registry._origins.update(saved_origins)
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
