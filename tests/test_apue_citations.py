"""APUE citations in src/ have one form, the docs' ``:apue:`` role, and only where they apply.

The docs build (docs/_ext/apue.py) reads the citations to draw the concept
map and fails on a public name that cites nothing. These tests hold the
form: a docstring or a ``#:`` attribute comment cites with
``:apue:`16.5``` (which renders the title and links to the section), never
with hand-written prose, every number is one the docs know, and properties
carry no citation of their own (their class does).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "transports"
PLAIN = re.compile(r"\bAPUE\s+\d{1,2}\.\d")
ROLE = re.compile(r":apue:`([^`]*)`")


def _apue_extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_apue_ext", ROOT / "docs" / "_ext" / "apue.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_apue_ext", module)
    spec.loader.exec_module(module)
    return module


def _is_property(node: ast.AST) -> bool:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Name) and decorator.id in ("property", "cached_property"):
            return True
        if isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "getter", "cached_property"):
            return True
    return False


def _documented_text(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line, text, is a property's docstring) for every docstring and ``#:`` comment."""
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                yield node.body[0].lineno, doc, _is_property(node)
    for number, line in enumerate(source.splitlines(), start=1):
        if line.lstrip().startswith("#:"):
            yield number, line, False


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_the_source_tree_is_found() -> None:
    assert len(_sources()) > 20


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(SRC)))
def test_citations_use_the_role(path: Path) -> None:
    plain = [
        f"{path.relative_to(ROOT)}:{line}: {PLAIN.search(text).group(0)!r}"  # type: ignore[union-attr]  # filtered just below
        for line, text, _ in _documented_text(path)
        if PLAIN.search(text)
    ]
    assert not plain, "cite APUE as :apue:`16.5` in docstrings and #: comments, not as prose:\n" + "\n".join(
        plain
    )


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(SRC)))
def test_properties_cite_nothing(path: Path) -> None:
    cited = [
        f"{path.relative_to(ROOT)}:{line}"
        for line, text, is_property in _documented_text(path)
        if is_property and ROLE.search(text)
    ]
    assert not cited, "a property's class carries its APUE section; drop the citation at:\n" + "\n".join(
        cited
    )


def test_every_cited_section_is_known() -> None:
    sections = _apue_extension().SECTIONS
    unknown = [
        f"{path.relative_to(ROOT)}:{line}: {number}"
        for path in _sources()
        for line, text, _ in _documented_text(path)
        for number in ROLE.findall(text)
        if number not in sections
    ]
    assert not unknown, "these sections are not in docs/_ext/apue.py's table:\n" + "\n".join(unknown)


@pytest.mark.parametrize("module_name", ["transports", "transports.aio", "transports.testing"])
def test_every_public_class_and_function_cites_a_section(module_name: str) -> None:
    parse = _apue_extension().parse_citations
    module = importlib.import_module(module_name)
    silent = [
        name
        for name in module.__all__
        if (inspect.isclass(obj := getattr(module, name)) or inspect.isfunction(obj))
        and not parse(obj.__doc__ or "")
    ]
    assert not silent, f"{module_name}: these public names cite no APUE section: {silent}"


def test_the_parser_reads_the_role_and_prose_alike() -> None:
    parse = _apue_extension().parse_citations
    assert parse("Send (:apue:`16.5`, :apue:`14.7`).") == ["16.5", "14.7"]
    assert parse("Send (APUE 16.5 Data Transfer, 14.7 readn and writen).") == ["16.5", "14.7"]
    assert parse("nothing here") == []
