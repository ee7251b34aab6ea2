"""Every Python snippet a reader may copy from README.md and docs/ passes ``mypy --strict``.

The snippets open transports with ``kind=`` so that the type checker knows
what they get; the last tests here check that the promise holds at run time.

What counts, and how it is cut into modules:

- README.md: each fenced ```` ```python ```` block is one module.
- docs/*.rst: each ``.. code-block:: python`` is one module. The blocks the
  doctest builder runs (``.. testsetup::``, ``.. testcode::``, ``.. doctest::``
  and bare ``>>>`` paragraphs) share one namespace per page, so each page's
  runnable blocks are joined, in order, into one module; ``>>>``/``...``
  prompts are stripped and expected output dropped. ``testoutput`` and
  ``console``/``sh`` blocks are not Python. Sphinx's ``doctest_global_setup``
  imports ``transports`` and ``from transports import *``; the same two lines
  head each doc module, so a snippet may rely on them and nothing more.

mypy runs once, in-process, with the project's config and ``--strict``,
plus ``--allow-redefinition``: a page's blocks are separate cells, and a later
one may bind ``a, b`` to another kind of pair than an earlier one did.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

import transports
from transports import AddressError, Kind, aio

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

#: What the doctest builder's global setup gives every docs snippet (docs/conf.py).
PRELUDE = "import transports\nfrom transports import *  # noqa: F403\n"

_FENCE = re.compile(r"^```python\s*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. (?P<name>[a-z-]+)::[ \t]*(?P<arg>\S*)[ \t]*$")
#: Directives whose body the doctest builder runs as code, or that are Python source.
_RUN = {"testsetup", "testcode", "doctest"}


def readme_snippets() -> list[tuple[str, str]]:
    """(name, source) of each ```python block of README.md."""
    text = README.read_text(encoding="utf-8")
    return [(f"README.md#{n}", match["body"]) for n, match in enumerate(_FENCE.finditer(text), start=1)]


def _body(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The indented body of a directive whose first line is *start*; return it and where it ends."""
    body: list[str] = []
    i = start
    while i < len(lines) and lines[i].strip().startswith(":") and _indent_of(lines[i]) > indent:
        i += 1  # directive options
    while i < len(lines) and (not lines[i].strip() or _indent_of(lines[i]) > indent):
        body.append(lines[i])
        i += 1
    return textwrap.dedent("\n".join(body)).strip("\n").splitlines(), i


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _from_prompts(lines: list[str]) -> list[str]:
    """The source of an interactive session: ``>>>``/``...`` lines, prompts stripped, output dropped."""
    source = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith((">>> ", "... ")) or stripped in (">>>", "..."):
            source.append(stripped[4:])
    return source


def rst_snippets(path: Path) -> list[tuple[str, str]]:
    """(name, source) of the Python in one page: each code-block, then the page's runnable blocks joined."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[str, str]] = []
    runnable: list[str] = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if match:
            name, indent = match["name"], len(match["indent"])
            body, i = _body(lines, i + 1, indent)
            if name in ("code-block", "code", "sourcecode") and match["arg"] in ("python", "py", "python3"):
                blocks.append((f"{path.name}:code-block#{len(blocks) + 1}", "\n".join(body)))
            elif name in _RUN:
                runnable += _from_prompts(body) if any(line.startswith(">>>") for line in body) else body
            continue
        if lines[i].lstrip().startswith(">>> "):
            indent = _indent_of(lines[i])
            start = i
            while i < len(lines) and lines[i].strip() and _indent_of(lines[i]) >= indent:
                i += 1
            runnable += _from_prompts(lines[start:i])
            continue
        i += 1
    if runnable:
        blocks.append((f"{path.name}:doctest", "\n".join(runnable)))
    return [(name, PRELUDE + source) for name, source in blocks]


def all_snippets() -> list[tuple[str, str]]:
    snippets = readme_snippets()
    for page in sorted(DOCS.glob("*.rst")):
        snippets += rst_snippets(page)
    return snippets


def test_the_snippets_are_found() -> None:
    """The extractor sees the blocks a reader sees (a silent miss would pass every check)."""
    names = [name for name, _ in all_snippets()]
    assert "README.md#1" in names
    assert "index.rst:code-block#1" in names
    assert "quickstart.rst:doctest" in names
    assert "plugins.rst:doctest" in names
    assert len(names) >= 15, names


def test_every_snippet_passes_mypy_strict() -> None:
    snippets = all_snippets()
    with tempfile.TemporaryDirectory(prefix="snippets-") as tmp:
        files: dict[Path, str] = {}
        for n, (name, source) in enumerate(snippets):
            file = Path(tmp) / f"snippet_{n:03d}.py"
            file.write_text(source + "\n", encoding="utf-8")
            files[file] = name
        stdout, stderr, status = mypy_api.run(
            [
                "--strict",
                # A page's blocks are cells run one after another: a later one may
                # rebind a name (``a, b = socketpair()``) to another type.
                "--allow-redefinition",
                "--config-file",
                str(ROOT / "pyproject.toml"),
                "--no-incremental",
                "--cache-dir",
                str(Path(tmp) / ".mypy_cache"),
                "--show-error-codes",
                *map(str, files),
            ]
        )
    if status == 0:
        return
    report = stdout
    for file, name in files.items():
        report = report.replace(str(file), name)
    pytest.fail(f"snippets fail mypy --strict:\n{report}{stderr}")


# -- what the snippets' kind= promises is checked when the call runs ------------------------------


@pytest.mark.parametrize(
    ("call", "url", "kind", "makes"),
    [
        ("connect", "udp://127.0.0.1:9", "stream", "datagram"),
        ("connect", "tcp://127.0.0.1:9", "datagram", "stream"),
        ("listen", "unixpacket://@nothing", "stream", "seqpacket"),
        ("bind", "tcp://127.0.0.1:0", "datagram", "stream"),
    ],
)
def test_a_url_of_another_kind_is_refused_naming_both(call: str, url: str, kind: str, makes: str) -> None:
    with pytest.raises(AddressError) as info:
        getattr(transports, call)(url, kind=kind)
    message = str(info.value)
    assert f"{call}({url!r}, kind={kind!r})" in message
    assert f"makes {makes} transports, not {kind}" in message
    assert f"kind={makes!r}" in message


def test_the_aio_entry_points_refuse_the_same_way() -> None:
    async def main() -> None:
        with pytest.raises(AddressError, match=r"aio\.connect\('udp://127\.0\.0\.1:9', kind='stream'\)"):
            await aio.connect("udp://127.0.0.1:9", kind="stream")
        with pytest.raises(AddressError, match=r"aio\.bind\(.*makes stream transports"):
            await aio.bind("tcp://127.0.0.1:0", kind=Kind.DATAGRAM)

    asyncio.run(main())


def test_an_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="kind must be 'stream', 'datagram' or 'seqpacket', got 'strem'"):
        transports.connect("tcp://127.0.0.1:9", kind="strem")  # type: ignore[call-overload]  # the misuse under test


def test_a_matching_kind_opens_as_before() -> None:
    with transports.listen("tcp://127.0.0.1:0", kind="stream", timeout=5) as listener:
        with transports.connect(listener.address.url(), kind=Kind.STREAM, timeout=5) as client:
            with listener.accept() as server:
                server.timeout = 5
                client.send_all(b"ping")
                assert server.recv_exactly(4) == b"ping"
    with transports.bind("udp://127.0.0.1:0", kind="datagram", timeout=5) as udp:
        udp.send_to(b"self", udp.local_address)
        assert udp.recv_from(16).data == b"self"
