"""``import transports`` stays light: what a fresh interpreter loads, and when (issue 14).

Each check runs a new interpreter, since this one has long imported
everything; the child prints what it finds in ``sys.modules`` as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import transports
from conftest import TIMEOUT


def child(code: str) -> dict[str, bool]:
    """Run *code* in a fresh interpreter; it defines ``seen`` (a dict), printed back as JSON."""
    program = "import json, sys\n" + textwrap.dedent(code) + "\nprint(json.dumps(seen))\n"
    out = subprocess.run(
        [sys.executable, "-c", program], check=True, capture_output=True, text=True, timeout=TIMEOUT * 6
    )
    result: dict[str, bool] = json.loads(out.stdout)
    return result


def test_import_reads_no_installed_distributions() -> None:
    seen = child(
        """
        import transports
        seen = {m: m in sys.modules for m in (
            "importlib.metadata", "transports.memory", "transports.testing", "transports._core.owner", "transports._core.transport",
            "transports._core.listener", "transports.framing", "asyncio",
        )}
        """
    )
    assert seen == {
        "importlib.metadata": False,
        "transports.memory": False,
        "transports.testing": False,
        "transports._core.owner": False,
        "transports._core.transport": False,
        "transports._core.listener": False,
        "transports.framing": False,
        "asyncio": False,
    }


@pytest.mark.skipif(sys.version_info < (3, 12), reason="typing-extensions stands in for Buffer before 3.12")
def test_typing_extensions_is_not_needed_for_buffer() -> None:
    seen = child(
        """
        from transports._compat import Buffer
        import collections.abc
        seen = {"stdlib": Buffer is collections.abc.Buffer, "loaded": "typing_extensions" in sys.modules}
        """
    )
    assert seen == {"stdlib": True, "loaded": False}


def test_plugins_are_read_only_for_an_unknown_scheme() -> None:
    seen = child(
        """
        import transports
        a, b = transports.socketpair()
        a.close(); b.close()
        with transports.listen("tcp://127.0.0.1:0"):
            pass
        with transports.listen("memory://import-test"):
            pass
        seen = {"builtins": "importlib.metadata" in sys.modules, "memory": "transports.testing.memory" in sys.modules}
        try:
            transports.connect("nothing-here://x")
        except transports.UnknownScheme:
            seen["unknown"] = "importlib.metadata" in sys.modules
        """
    )
    assert seen == {"builtins": False, "memory": True, "unknown": True}


def test_lazy_names_are_the_modules_own() -> None:
    from transports import framing, memory, protocols, tcp, unix

    assert transports.TCPTransport is tcp.TCPTransport
    assert transports.UnixSeqpacketListener is unix.UnixSeqpacketListener
    assert transports.MessageStream is framing.MessageStream
    assert transports.MemoryListener is memory.MemoryListener
    assert transports.StreamTransport is protocols.StreamTransport
    assert set(transports.__all__) <= set(dir(transports))
    with pytest.raises(AttributeError, match="module 'transports' has no attribute 'NoSuchThing'"):
        _ = transports.NoSuchThing  # type: ignore[attr-defined]  # the error is the point


def test_import_loads_no_value_module_until_a_name_is_used() -> None:
    seen = child(
        """
        import transports
        before = {m: m in sys.modules for m in ("transports.errors", "transports.addresses", "attrs")}
        error = transports.TransportError
        import transports.errors
        seen = {**{"before " + m: v for m, v in before.items()},
                "same class": error is transports.errors.TransportError,
                "errors loaded": "transports.errors" in sys.modules}
        """
    )
    assert seen == {
        "before transports.errors": False,
        "before transports.addresses": False,
        "before attrs": False,
        "same class": True,
        "errors loaded": True,
    }


def test_a_name_outside_all_is_not_served_from_the_fallback_module() -> None:
    seen = child(
        """
        import transports
        try:
            transports.OPS  # public in transports.errors, but not a name of transports
            raised = False
        except AttributeError:
            raised = True
        seen = {"raised": raised, "errors loaded": "transports.errors" in sys.modules}
        """
    )
    assert seen == {"raised": True, "errors loaded": False}
