"""Our Sphinx extension: APUE section references and the concept map.

The docstrings stay the one source of truth. Every public class and function
says which section of *Advanced Programming in the UNIX Environment* (3rd
ed.) it is built on, in one form: the role, "(:apue:`16.5`)" or
"(:apue:`16.8`, :apue:`14.4`)", which renders the section's title and links
to it (tests/test_apue_citations.py holds src/ to that form; the example
scripts, read as plain text, write "APUE 16.5"). At each build this extension:

* reads those citations from the docstrings of the public names of
  ``transports``, ``transports.aio`` and ``transports.testing``, and from the
  module docstrings of the scripts in ``examples/``;
* warns -- an error under ``-W`` -- when a public class or function cites no
  section, or cites a number missing from :data:`SECTIONS`;
* offers the ``:apue:`16.5``` role, which renders "APUE 16.5 Data Transfer"
  and links to that section of the concept map;
* links each name to its entry at the public path (``transports.TCPTransport``,
  ``transports.aio.TCPTransport``), and warns when that entry is missing
  from the API reference;
* offers two directives: ``.. apue-concept-map::`` (section -> our names ->
  examples -> the pages that use the role for it) and ``.. apue-examples::``
  (every example script, in full).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

# The chapters and sections of APUE (3rd ed.) that the library builds on.
CHAPTERS: dict[str, str] = {
    "10": "Signals",
    "14": "Advanced I/O",
    "15": "Interprocess Communication",
    "16": "Network IPC: Sockets",
    "17": "Advanced IPC",
}
SECTIONS: dict[str, str] = {
    "10.16": "sigsuspend Function",
    "14.4": "I/O Multiplexing",
    "14.6": "readv and writev",
    "14.7": "readn and writen",
    "15.7": "Message Queues",
    "15.11": "Client\N{EN DASH}Server Properties",
    "16.1": "Introduction",
    "16.2": "Socket Descriptors",
    "16.3": "Addressing",
    "16.3.1": "Byte Ordering",
    "16.3.2": "Address Formats",
    "16.3.3": "Address Lookup",
    "16.3.4": "Associating Addresses with Sockets",
    "16.4": "Connection Establishment",
    "16.5": "Data Transfer",
    "16.6": "Socket Options",
    "16.7": "Out-of-Band Data",
    "16.8": "Nonblocking and Asynchronous I/O",
    "17.2": "UNIX Domain Sockets",
    "17.2.1": "Naming UNIX Domain Sockets",
    "17.3": "Unique Connections",
    "17.4": "Passing File Descriptors",
    "17.5": "An Open Server, Version 1",
    "17.6": "An Open Server, Version 2",
}

# PUBLIC_MODULES (from public_paths.py): the modules whose __all__ is public
# API. Only the first one is mandatory for the "every public name cites a
# section" rule to bite; the others are checked the same way because they
# promise the same thing.

# A citation is "APUE" and one or more section numbers. Between two numbers
# there may be a few title words and then a comma, "and" or a dash (a range):
# "APUE 16.4 Connection Establishment, 16.8, 14.4" or "APUE 17.5-17.6".
# Anything else ends it, so "APUE 16.5, Fig. 16.13" yields only 16.5.
_NUMBER = r"\d{1,2}\.\d{1,2}(?:\.\d{1,2})?"
_FIRST = re.compile(rf"\bAPUE\s+({_NUMBER})\b")
_MORE = re.compile(
    rf"(?:\s+[A-Za-z][\w/'\u2019\u2013-]*){{0,6}}?(\s*,\s*|\s+and\s+|\s*[-\u2013]\s*)({_NUMBER})\b(?!\.\d)"
)


def sort_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def anchor(number: str) -> str:
    """The label of a section on the concept map: 16.3.4 -> apue-16-3-4."""
    return "apue-" + number.replace(".", "-")


# Docstrings in src/ cite with the role, ":apue:`16.5`"; examples and prose
# may still write "APUE 16.5 Data Transfer". Both read the same here.
_ROLE_CITE = re.compile(rf":apue:`({_NUMBER})`")


def parse_citations(text: str) -> list[str]:
    """Every section number *text* cites, in order of first mention."""
    text = _ROLE_CITE.sub(r"APUE \1", text)
    found: list[str] = []
    for first in _FIRST.finditer(text):
        numbers = [first.group(1)]
        pos = first.end()
        while more := _MORE.match(text, pos):
            separator, number = more.group(1).strip(), more.group(2)
            if separator in ("-", "\N{EN DASH}"):
                # A range such as 17.5-17.6: every known section in between.
                low, high = sort_key(numbers[-1]), sort_key(number)
                numbers += [n for n in SECTIONS if low < sort_key(n) < high]
            numbers.append(number)
            pos = more.end()
        found += [n for n in dict.fromkeys(numbers) if n not in found]
    return found


@dataclass
class Entry:
    """One public object, or one example script, and the sections it cites."""

    label: str  # what the reader sees: "TCPTransport", "aio.connect", "echo_tcp.py"
    target: str  # where it links: a Python object path or an example's label
    role: str  # "class", "func" or "ref"; "" for no link
    sections: list[str] = field(default_factory=list)


def _where(obj: Any) -> str:
    try:
        return f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]}"
    except (OSError, TypeError):
        return getattr(obj, "__module__", "?")


def _check_known(sections: list[str], who: str, location: str) -> None:
    for number in sections:
        if number not in SECTIONS:
            logger.warning(
                "%s cites APUE %s, which is not in the table of docs/_ext/apue.py",
                who,
                number,
                type="apue",
                location=location,
            )


def collect_api() -> list[Entry]:
    """The public classes and functions, each with the sections it cites."""
    # Imported here: tests load this file alone, without docs/_ext on sys.path.
    from public_paths import PUBLIC_MODULES, public_paths

    entries: list[Entry] = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        prefix = module_name.removeprefix("transports").lstrip(".")
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants and type aliases carry no docstring of their own
            who = f"{module_name}.{name}"
            sections = parse_citations(obj.__doc__ or "")
            if not sections:
                logger.warning(
                    "%s names no APUE section: add one to its docstring, e.g. '(:apue:`16.5`)'",
                    who,
                    type="apue",
                    location=_where(obj),
                )
            _check_known(sections, who, _where(obj))
            role = "class" if inspect.isclass(obj) else "func"
            # api.rst documents each name at its public path: transports.TCPTransport,
            # transports.aio.TCPTransport, not where it is defined (public_paths.py).
            target = public_paths()[id(obj)]
            if any(e.target == target for e in entries):
                continue  # re-exported by transports.testing too
            entries.append(Entry(f"aio.{name}" if prefix == "aio" else name, target, role, sections))
    return entries


def example_label(relative: str) -> str:
    return "example-" + re.sub(r"[^a-z0-9]+", "-", relative.lower()).strip("-")


def find_examples(examples_dir: Path) -> list[Path]:
    """The example scripts: every .py under examples/ but tests and stubs."""
    return sorted(
        path
        for path in examples_dir.rglob("*.py")
        if not {"tests", "stubs"} & set(path.relative_to(examples_dir).parts)
    )


def collect_examples(examples_dir: Path) -> list[Entry]:
    entries = []
    for path in find_examples(examples_dir):
        relative = path.relative_to(examples_dir).as_posix()
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        sections = parse_citations(doc)
        _check_known(sections, f"examples/{relative}", str(path))
        entries.append(Entry(relative, example_label(relative), "ref", sections))
    return entries


_ROLE = re.compile(r":apue:`([^`]+)`")


def collect_chapters(srcdir: Path) -> dict[str, set[str]]:
    """Which pages of the docs use the :apue: role for which section."""
    pages: dict[str, set[str]] = {}
    for path in srcdir.rglob("*.rst"):
        if "_build" in path.parts:
            continue
        docname = path.relative_to(srcdir).with_suffix("").as_posix()
        for number in _ROLE.findall(path.read_text(encoding="utf-8")):
            pages.setdefault(number.strip(), set()).add(docname)
    return pages


def _link(entry: Entry, label: str = "") -> str:
    label = label or entry.label
    if entry.role == "ref":
        return f":ref:`{label} <{entry.target}>`"
    if entry.role:
        return f":py:{entry.role}:`{label} <{entry.target}>`"
    return f"``{label}``"


class _Generated(SphinxDirective):
    """A directive that writes reStructuredText and lets Sphinx parse it."""

    def _parse(self, lines: list[str]) -> list[nodes.Node]:
        _remember(self.env)
        node = nodes.section()
        source = str(self.env.doc2path(self.env.docname))
        nested_parse_with_titles(self.state, StringList(lines, source=source), node)
        return list(node.children)


class ConceptMap(_Generated):
    """``.. apue-concept-map::`` -- one section per APUE section we use."""

    def run(self) -> list[nodes.Node]:
        app = self.env.app
        api, examples, chapters = app.apue_api, app.apue_examples, app.apue_chapters  # type: ignore[attr-defined]
        lines: list[str] = []
        chapter = ""
        for number in sorted(SECTIONS, key=sort_key):
            if number.split(".")[0] != chapter:
                chapter = number.split(".")[0]
                title = f"Chapter {chapter}: {CHAPTERS[chapter]}"
                lines += [title, "-" * len(title), ""]
            cited = [e for e in api if number in e.sections]
            names = [_link(e) for e in cited if not e.label.startswith("aio.")]
            twins = [_link(e, e.label[4:]) for e in cited if e.label.startswith("aio.")]
            scripts = [_link(e) for e in examples if number in e.sections]
            pages = [f":doc:`/{d}`" for d in sorted(chapters.get(number, ())) if d != self.env.docname]
            title = f"{number} {SECTIONS[number]}"
            lines += [f".. _{anchor(number)}:", "", title, "~" * len(title), ""]
            for heading, items in [
                ("**In the library:**", names),
                ("**Async twins** in :doc:`transports.aio </aio>`:", twins),
                ("**Examples:**", scripts),
                ("**Read more:**", pages),
            ]:
                if items:
                    lines += [f"* {heading} " + ", ".join(items)]
            if not (names or twins or scripts or pages):
                lines += ["*Background only: nothing here cites it.*"]
            lines += [""]
        return self._parse(lines)


class Examples(_Generated):
    """``.. apue-examples::`` -- every example script, shown in full."""

    def run(self) -> list[nodes.Node]:
        examples_dir = self.env.app.apue_examples_dir  # type: ignore[attr-defined]
        lines: list[str] = []
        for entry in self.env.app.apue_examples:  # type: ignore[attr-defined]
            path = (examples_dir / entry.label).resolve()
            here = Path(self.env.doc2path(self.env.docname)).parent
            rel = Path(os.path.relpath(path, here))  # literalinclude wants it relative
            cited = ", ".join(f":apue:`{n}`" for n in entry.sections) or "no APUE section"
            lines += [f".. _{entry.target}:", "", entry.label, "-" * len(entry.label), ""]
            lines += [f"``examples/{entry.label}`` cites {cited}.", ""]
            lines += [f".. literalinclude:: {rel.as_posix()}", "   :language: python", ""]
        return self._parse(lines)


def apue_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Any,
    options: dict[str, Any] | None = None,
    content: list[str] | None = None,
) -> tuple[list[nodes.Node], list[nodes.system_message]]:
    """``:apue:`16.5``` -> "APUE 16.5 Data Transfer", linked to the concept map."""
    number = text.strip()
    if number not in SECTIONS:
        msg = inliner.reporter.error(f"unknown APUE section {number!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    label = f"APUE {number} {SECTIONS[number]}"
    ref = addnodes.pending_xref(
        rawtext,
        refdomain="std",
        reftype="ref",
        reftarget=anchor(number),
        refexplicit=True,
        refwarn=True,
        refdoc=inliner.document.settings.env.docname,
    )
    ref += nodes.inline(label, label, classes=["apue"])
    return [ref], []


def _remember(env: BuildEnvironment) -> None:
    """Note the documents built from docstrings, to rebuild them every time."""
    generated: set[str] = getattr(env, "apue_generated", set())
    generated.add(env.docname)
    env.apue_generated = generated  # type: ignore[attr-defined]


def _always_outdated(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    return sorted(getattr(env, "apue_generated", set()) & env.found_docs)


def _merge(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment) -> None:
    merged = getattr(env, "apue_generated", set()) | getattr(other, "apue_generated", set())
    env.apue_generated = merged  # type: ignore[attr-defined]


def _collect(app: Sphinx) -> None:
    """Read every citation once per build; warnings here fail a -W build."""
    app.apue_examples_dir = (Path(app.confdir) / app.config.apue_examples_dir).resolve()  # type: ignore[attr-defined]
    app.apue_api = collect_api()  # type: ignore[attr-defined]
    app.apue_examples = collect_examples(app.apue_examples_dir)  # type: ignore[attr-defined]
    app.apue_chapters = collect_chapters(Path(app.srcdir))  # type: ignore[attr-defined]


def _unresolved(app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Node) -> None:
    """A concept-map link to an object missing from the API reference is an error."""
    targets = {e.target for e in app.apue_api if e.role}  # type: ignore[attr-defined]
    on_map = node.get("refdoc") in getattr(env, "apue_generated", set())
    if on_map and node.get("refdomain") == "py" and node.get("reftarget") in targets:
        logger.warning(
            "%s is public but not in the API reference (docs/api.rst)",
            node["reftarget"],
            type="apue",
            location=node,
        )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("apue_examples_dir", "../examples", "env", types=[str])
    app.add_role("apue", apue_role)
    app.add_directive("apue-concept-map", ConceptMap)
    app.add_directive("apue-examples", Examples)
    app.connect("builder-inited", _collect)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("env-merge-info", _merge)
    app.connect("missing-reference", _unresolved)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
