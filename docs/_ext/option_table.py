"""The table of socket options on the configuration page, read from the code.

``.. socket-option-table::`` writes one row per option that
:func:`transports.options.all_options` returns: its name, the level it
lives at, the Python type of its value, the families and kinds it applies
to, and its one-line description. The code's table is the only source, so
a new option appears on the site with no edit to the docs.
"""

from __future__ import annotations

import socket
import types
import typing
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

import transports.options as options_module
from transports.kinds import Kind

_LEVELS = ("SOL_SOCKET", "IPPROTO_TCP", "IPPROTO_IPV6", "IPPROTO_IP", "IPPROTO_UDP")
_FAMILIES = ("AF_INET", "AF_INET6", "AF_UNIX")
_HEADER = ("Option", "Level", "Value", "Families", "Kinds", "What it does")


def _constant_name(value: int, names: tuple[str, ...]) -> str:
    for name in names:
        if getattr(socket, name, None) == value:
            return name
    return str(value)


def _value_type(name: str) -> str:
    hints = typing.get_type_hints(options_module)
    (value,) = typing.get_args(hints[name])
    return typing_repr(value)


def typing_repr(value: Any) -> str:
    """``bool``, ``int``, ``Linger | None``: a value type as a reader writes it."""
    args = typing.get_args(value)
    if args and typing.get_origin(value) in (typing.Union, types.UnionType):
        return " | ".join(typing_repr(arg) for arg in args)
    return "None" if value is type(None) else getattr(value, "__name__", repr(value))


def _families(families: frozenset[int]) -> str:
    known = [name for name in _FAMILIES if getattr(socket, name, None) in families]
    return ", ".join(known) if len(known) < len(_FAMILIES) else "all"


def _kinds(kinds: frozenset[Kind]) -> str:
    if kinds == frozenset(Kind):
        return "all"
    return ", ".join(kind.name.lower() for kind in Kind if kind in kinds)


def _cell(text: str, literal: bool = False) -> nodes.entry:
    child = nodes.literal(text, text) if literal else nodes.Text(text)
    return nodes.entry("", nodes.paragraph("", "", child))


class SocketOptionTable(SphinxDirective):
    """Every typed socket option, one row each."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(options_module.__file__ or "")
        group = nodes.tgroup(cols=len(_HEADER))
        for width in (16, 12, 12, 14, 14, 40):
            group += nodes.colspec(colwidth=width)
        group += nodes.thead("", nodes.row("", *(_cell(text) for text in _HEADER)))
        body = nodes.tbody()
        for option in options_module.all_options():
            name = option.name
            row = nodes.row()
            row += _cell(name, literal=True)
            row += _cell(_constant_name(option.level, _LEVELS), literal=True)
            row += _cell(_value_type(name), literal=True)
            row += _cell(_families(option.families))
            row += _cell(_kinds(option.kinds))
            row += _cell(option.doc)
            body += row
        group += body
        table = nodes.table("", group, classes=["socket-options"])
        return [table]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("socket-option-table", SocketOptionTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
