"""Render our own Markdown files (CHANGELOG.md, a table of README.md) on the site.

The project keeps two facts in Markdown, where GitHub and PyPI show them:
the changelog, and the README's table of what is inside the package. The
site shows the same text instead of a copy, so the two can never disagree.

Only the subset those files use is understood, and it is the whole of what
Keep a Changelog needs: ``#`` headings, paragraphs, ``-``/``*`` bullet lists
(with continuation lines and nested lists), fenced code blocks, pipe tables,
link reference definitions, and inline code, links, ``**bold**`` and
``*emphasis*``. The text is turned into docutils nodes directly -- never into
reST source -- so a ``*`` or a trailing ``_`` in the prose cannot be read as
markup by accident. A full Markdown parser (myst-parser) would be one more
pinned dependency, with its own release cadence, for two files.

Directives:

``.. markdown-file:: ../CHANGELOG.md``
   The whole file, its headings becoming sections below the current one.
   ``:skip-title:`` drops the file's first ``#`` heading when the page has
   a title of its own.
``.. markdown-table:: ../README.md``
   One pipe table; ``:after: What is inside`` takes the first table after
   the heading of that text. ``:apue-column: APUE`` turns that column's
   section numbers (``16.2, 16.5``) into ``:apue:`` references, so the
   table links to the concept map like the rest of the site.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^([-*+])\s+(.*)$")
_FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)\s*$")
_LINK_DEF = re.compile(r"^\[([^\]]+)\]:\s*(\S+)\s*$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_INLINE = re.compile(
    r"(?P<code>(?P<ticks>`+)(?P<codetext>.+?)(?P=ticks))"
    r"|(?P<link>\[(?P<linktext>[^\]]+)\]\((?P<url>[^)\s]+)\))"
    r"|(?P<bold>\*\*(?P<boldtext>\S(?:.*?\S)?)\*\*)"
    r"|(?P<em>(?<![\w*])\*(?P<emtext>[^*\s](?:[^*]*?[^*\s])?)\*(?![\w*]))"
)


def inline(text: str, links: dict[str, str] | None = None) -> list[nodes.Node]:
    """The inline nodes of one Markdown paragraph's *text*."""
    out: list[nodes.Node] = []
    pos = 0
    for match in _INLINE.finditer(text):
        if match.start() > pos:
            out.append(nodes.Text(text[pos : match.start()]))
        pos = match.end()
        if match["code"]:
            code = match["codetext"]
            # CommonMark strips one space on each side when both are there (`` `x` ``).
            if len(code) > 2 and code[0] == code[-1] == " ":
                code = code[1:-1]
            out.append(nodes.literal(code, code))
        elif match["link"]:
            out.append(_reference(match["linktext"], match["url"], links))
        elif match["bold"]:
            out.append(nodes.strong("", "", *inline(match["boldtext"], links)))
        else:
            out.append(nodes.emphasis("", "", *inline(match["emtext"], links)))
    if pos < len(text):
        out.append(nodes.Text(text[pos:]))
    return out


def _reference(text: str, url: str, links: dict[str, str] | None) -> nodes.Node:
    children = inline(text, links)
    if "://" not in url and not url.startswith("mailto:"):
        # A path inside the repository: right on GitHub, meaningless on the site.
        return nodes.inline("", "", *children)
    return nodes.reference("", "", *children, refuri=url)


@dataclass
class _Lines:
    """Markdown source lines with a cursor, and the file's link definitions."""

    lines: list[str]
    links: dict[str, str] = field(default_factory=dict)
    pos: int = 0

    def peek(self) -> str | None:
        return self.lines[self.pos] if self.pos < len(self.lines) else None


def split_links(text: str) -> tuple[list[str], dict[str, str]]:
    """The lines of *text* without its link reference definitions, and those definitions."""
    lines: list[str] = []
    links: dict[str, str] = {}
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
        definition = None if fenced else _LINK_DEF.match(line)
        if definition:
            links[definition[1].lower()] = definition[2]
        else:
            lines.append(line.rstrip())
    return lines, links


def blocks(src: _Lines, on_heading: Any = None) -> list[nodes.Node]:
    """Parse block elements until the lines run out.

    *on_heading(level, title_nodes)* is called for each heading; without it a
    heading is an error (it cannot appear inside a list item).
    """
    out: list[nodes.Node] = []
    while (line := src.peek()) is not None:
        if not line.strip():
            src.pos += 1
        elif heading := _HEADING.match(line):
            src.pos += 1
            if on_heading is None:
                raise ValueError(f"a heading inside a list item: {line!r}")
            on_heading(len(heading[1]), _heading_text(heading[2], src.links), out)
        elif fence := _FENCE.match(line):
            out.append(_fenced(src, fence[1], fence[2]))
        elif _BULLET.match(line):
            out.append(_bullets(src))
        elif line.lstrip().startswith("|"):
            out.append(table(src))
        else:
            para: list[str] = []
            while (more := src.peek()) is not None and more.strip() and not _starts_block(more):
                para.append(more.strip())
                src.pos += 1
            out.append(nodes.paragraph("", "", *inline(" ".join(para), src.links)))
    return out


def _starts_block(line: str) -> bool:
    return bool(
        _HEADING.match(line) or _FENCE.match(line) or _BULLET.match(line) or line.lstrip().startswith("|")
    )


def _heading_text(text: str, links: dict[str, str]) -> list[nodes.Node]:
    # Keep a Changelog headings: "[1.2.0] - 2026-01-02", the brackets a link reference.
    bracket = re.match(r"^\[([^\]]+)\](.*)$", text)
    if bracket and bracket[1].lower() in links:
        ref = nodes.reference("", bracket[1], refuri=links[bracket[1].lower()])
        return [ref, *inline(bracket[2], links)]
    if bracket:
        text = bracket[1] + bracket[2]
    return inline(text, links)


def _fenced(src: _Lines, marker: str, language: str) -> nodes.Node:
    src.pos += 1
    body: list[str] = []
    while (line := src.peek()) is not None and not line.strip().startswith(marker):
        body.append(line)
        src.pos += 1
    src.pos += 1  # the closing fence (or the end of the file)
    code = "\n".join(body)
    block = nodes.literal_block(code, code)
    block["language"] = {"console": "console", "sh": "sh", "python": "python"}.get(language, "text")
    return block


def _bullets(src: _Lines) -> nodes.Node:
    marker_match = _BULLET.match(src.lines[src.pos])
    assert marker_match
    marker = marker_match[1]
    bullet_list = nodes.bullet_list(bullet=marker)
    while (line := src.peek()) is not None:
        item = _BULLET.match(line)
        if not item or item[1] != marker:
            break
        src.pos += 1
        body = [item[2]]
        indent = len(line) - len(item[2])
        # The item goes on while lines are indented; a blank line ends it
        # unless the next line is indented too (a second paragraph, a sub-list).
        while (more := src.peek()) is not None:
            if more.strip() and more.startswith(" " * indent):
                body.append(more[indent:])
            elif not more.strip() and _next_nonblank_indented(src, indent):
                body.append("")
            else:
                break
            src.pos += 1
        inner = _Lines(body, src.links)
        bullet_list += nodes.list_item("", *blocks(inner))
        while (more := src.peek()) is not None and not more.strip() and _next_is_bullet(src, marker):
            src.pos += 1
    return bullet_list


def _next_nonblank_indented(src: _Lines, indent: int) -> bool:
    for line in src.lines[src.pos :]:
        if line.strip():
            return line.startswith(" " * indent)
    return False


def _next_is_bullet(src: _Lines, marker: str) -> bool:
    for line in src.lines[src.pos :]:
        if line.strip():
            item = _BULLET.match(line)
            return bool(item and item[1] == marker)
    return False


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line.removeprefix("|")
    line = line.removesuffix("|")
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)]


#: Renders one body cell (column index, Markdown text), or None for the default.
CellHook = Callable[[int, str], "list[nodes.Node] | None"]


def table(src: _Lines, cell_hook: CellHook | None = None) -> nodes.Node:
    """A pipe table: a header row, a rule of dashes, body rows."""
    rows: list[list[str]] = []
    while (line := src.peek()) is not None and line.lstrip().startswith("|"):
        rows.append(_cells(line))
        src.pos += 1
    if len(rows) < 2 or not _TABLE_RULE.match("|".join(rows[1])):
        raise ValueError(f"a pipe table needs a header row and a rule under it: {rows[:2]!r}")
    header, body = rows[0], rows[2:]
    width = len(header)
    group = nodes.tgroup(cols=width)
    for _ in range(width):
        group += nodes.colspec(colwidth=1)
    group += nodes.thead("", _row(header, src.links))
    group += nodes.tbody("", *(_row((cells + [""] * width)[:width], src.links, cell_hook) for cells in body))
    return nodes.table("", group)


def _row(cells: list[str], links: dict[str, str], cell_hook: CellHook | None = None) -> nodes.row:
    row = nodes.row()
    for column, cell in enumerate(cells):
        text = cell.replace("\\|", "|")
        custom = cell_hook(column, text) if cell_hook else None
        row += nodes.entry(
            "", nodes.paragraph("", "", *(custom if custom is not None else inline(text, links)))
        )
    return row


class _MarkdownDirective(SphinxDirective):
    required_arguments = 1

    def read(self) -> tuple[list[str], dict[str, str]]:
        relative, path = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(relative)
        return split_links(Path(path).read_text(encoding="utf-8"))


class MarkdownFile(_MarkdownDirective):
    """A whole Markdown file, its headings nested below the current section."""

    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {"skip-title": directives.flag}

    def run(self) -> list[nodes.Node]:
        lines, links = self.read()
        src = _Lines(lines, links)
        skip_title = "skip-title" in self.options
        top: list[nodes.Node] = []
        # (heading level, where its content goes); level 0 is the page around us.
        stack: list[tuple[int, list[nodes.Node] | nodes.Element]] = [(0, top)]
        seen_title = False

        def on_heading(level: int, title: list[nodes.Node], here: list[nodes.Node]) -> None:
            nonlocal seen_title
            _flush(here, stack)
            if level == 1 and skip_title and not seen_title:
                seen_title = True
                return
            while stack[-1][0] >= level:
                stack.pop()
            section = nodes.section()
            section += nodes.title("", "", *title)
            name = nodes.fully_normalize_name(section.astext())
            section["names"].append(name)
            self.state.document.note_implicit_target(section, section)
            parent = stack[-1][1]
            parent.append(section)
            stack.append((level, section))

        rest = blocks(src, on_heading)
        _flush(rest, stack)
        return top


def _flush(here: list[nodes.Node], stack: list[tuple[int, list[nodes.Node] | nodes.Element]]) -> None:
    """Move the blocks parsed so far into the innermost open section."""
    target = stack[-1][1]
    for node in here:
        target.append(node)
    here.clear()


class MarkdownTable(_MarkdownDirective):
    """One pipe table of a Markdown file, found after a heading."""

    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "after": directives.unchanged_required,
        "apue-column": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        lines, links = self.read()
        heading = self.options.get("after")
        start = 0
        if heading is not None:
            titles = [i for i, line in enumerate(lines) if (m := _HEADING.match(line)) and m[2] == heading]
            if not titles:
                raise self.error(f"{self.arguments[0]} has no heading {heading!r}: fix :after: or the file")
            start = titles[0] + 1
        for i in range(start, len(lines)):
            if lines[i].lstrip().startswith("|"):
                return [table(_Lines(lines, links, i), self._apue_hook(_cells(lines[i])))]
            if heading is not None and _HEADING.match(lines[i]):
                break
        raise self.error(f"{self.arguments[0]} has no pipe table after {heading!r}: fix :after: or the file")

    def _apue_hook(self, header: list[str]) -> CellHook | None:
        wanted = self.options.get("apue-column")
        if wanted is None:
            return None
        if wanted not in header:
            raise self.error(f"the table in {self.arguments[0]} has no column {wanted!r}; it has {header!r}")
        apue_column = header.index(wanted)

        def hook(column: int, text: str) -> list[nodes.Node] | None:
            if column != apue_column or not text:
                return None
            source = ", ".join(f":apue:`{number.strip()}`" for number in text.split(","))
            parsed, messages = self.state.inline_text(source, self.lineno)
            return [*parsed, *messages]

        return hook


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("markdown-file", MarkdownFile)
    app.add_directive("markdown-table", MarkdownTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
