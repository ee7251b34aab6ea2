"""The API reference documents every public name at its public path.

These read docs/api.rst, docs/conf.py, the vendored Python inventory and the
cross-references in docs/*.rst and src/ without building the site (the
Sphinx build with -n -W runs in CI and in docs/check_site.py).
"""

from __future__ import annotations

import importlib
import inspect
import re
import runpy
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PUBLIC_MODULES = ("transports", "transports.aio", "transports.testing")
DIRECTIVE = re.compile(r"^\.\. auto(?:class|exception|function|data):: (\S+)$", re.MULTILINE)


def _ext(name: str) -> ModuleType:
    """One of our Sphinx extensions, from docs/_ext."""
    if str(DOCS / "_ext") not in sys.path:
        sys.path.insert(0, str(DOCS / "_ext"))
    return importlib.import_module(name)


def _script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented() -> list[str]:
    return DIRECTIVE.findall((DOCS / "api.rst").read_text(encoding="utf-8"))


def test_every_public_class_and_function_is_documented_at_its_public_path() -> None:
    documented = set(_documented())
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            public: str = _ext("public_paths").public_paths()[id(obj)]
            if public not in documented:
                missing.append(public)
    assert not missing, f"add these to docs/api.rst (.. autoclass:: or .. autofunction::): {missing}"


def test_no_public_object_is_documented_under_its_defining_module() -> None:
    public_target = _ext("public_paths").public_target
    wrong = {path: public_target(path) for path in _documented() if public_target(path)}
    assert not wrong, f"docs/api.rst documents these away from their public path (have -> want): {wrong}"


def test_the_aio_twins_are_documented_under_transports_aio() -> None:
    documented = set(_documented())
    assert {"transports.TCPTransport", "transports.aio.TCPTransport"} <= documented
    assert "transports.tcp.TCPTransport" not in documented


@pytest.mark.parametrize(
    ("target", "public"),
    [
        ("transports.tcp.TCPTransport", "transports.TCPTransport"),
        ("transports.tcp.TCPTransport.sendfile", "transports.TCPTransport.sendfile"),
        ("transports.errors.AddressError", "transports.AddressError"),
        ("transports.aio.protocols.Transport", "transports.aio.Transport"),
        ("transports.aio.tcp.TCPTransport.send_all", "transports.aio.TCPTransport.send_all"),
        ("transports.testing.base.PROMPT", "transports.testing.PROMPT"),
        ("transports.testing.stream.STREAM_CHECKS", "transports.testing.STREAM_CHECKS"),
        ("typing_extensions.Buffer", "collections.abc.Buffer"),
        ("transports.TCPTransport", None),
        ("transports.tcp.resolve", None),
        ("transports.no_such_module.Thing", None),
    ],
)
def test_public_target(target: str, public: str | None) -> None:
    assert _ext("public_paths").public_target(target) == public


_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|obj):`~?(?:[^`<>]*<)?(transports\.[\w.]+)>?`")


def test_cross_references_name_public_paths() -> None:
    public_target = _ext("public_paths").public_target
    files = sorted(DOCS.glob("*.rst")) + sorted((ROOT / "src" / "transports").rglob("*.py"))
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for target in _ROLE.findall(line):
                if public_target(target):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {target} -> {public_target(target)}")
    assert not found, "cross-references to a non-public path that has a public one:\n" + "\n".join(found)


def _inventory_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    header = data.split(b"\n", 4)
    assert header[0] == b"# Sphinx inventory version 2", f"{path} is not a version 2 inventory"
    assert b"zlib" in header[3]
    return zlib.decompress(header[4]).decode("utf-8").splitlines()


def test_vendored_python_inventory_is_current() -> None:
    script = _script(DOCS / "_intersphinx" / "make_python_inv.py")
    lines = _inventory_lines(DOCS / "_intersphinx" / "python.inv")
    assert lines == script.entries(), (
        "docs/_intersphinx/python.inv is stale: run docs/_intersphinx/make_python_inv.py"
    )
    names = {line.split()[0]: line.split()[3] for line in lines}
    assert names["socket.socket"] == "library/socket.html#$"
    assert names["asyncio"] == "library/asyncio.html#module-asyncio"
    assert names["asyncio.Lock"] == "library/asyncio-sync.html#$"


def test_conf_is_nitpicky_and_offline() -> None:
    conf: dict[str, Any] = runpy.run_path(str(DOCS / "conf.py"))
    assert conf["nitpicky"] is True
    url, inventory = conf["intersphinx_mapping"]["python"]
    assert url == "https://docs.python.org/3"
    assert Path(inventory).is_file(), "intersphinx must read the vendored inventory, never fetch one"
    assert conf["autodoc_preserve_defaults"] is True
    for role, target in conf["nitpick_ignore"]:
        assert role.startswith("py:"), f"{role!r}: nitpick_ignore entries are Python roles"
        assert target, f"{role}: an ignored reference names its target"


def test_octal_modes_stay_octal() -> None:
    conf: dict[str, Any] = runpy.run_path(str(DOCS / "conf.py"))
    signature = "(url: str, *, mode: int | None = 384, backlog: int = 128)"
    new, _ = conf["_octal_modes"](None, "function", "x", None, None, signature, None)
    assert new == "(url: str, *, mode: int | None = 0o600, backlog: int = 128)"


def test_octal_modes_stay_octal_in_overload_signatures() -> None:
    from docutils import nodes  # type: ignore[import-untyped]  # docutils ships no stubs; the dev extra has none
    from sphinx import addnodes

    conf: dict[str, Any] = runpy.run_path(str(DOCS / "conf.py"))
    tree = nodes.section()
    for name, value in (("mode", "384"), ("backlog", "128")):
        parameter = addnodes.desc_parameter()
        parameter += addnodes.desc_sig_name("", name)
        parameter += nodes.inline("", value, classes=["default_value"])
        tree += parameter
    conf["_octal_mode_defaults"](None, tree)
    shown = [p.astext() for p in tree.findall(addnodes.desc_parameter)]
    assert shown == ["mode0o600", "backlog128"]
