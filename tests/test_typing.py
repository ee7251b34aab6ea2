"""The public API's static types, checked by running mypy (``--strict``, the project's config).

``tests/typing/accept*.py`` (the sync face in ``accept.py``, the async face
in ``accept_aio.py``) pin the types of correct code and must check clean.
Each file in ``tests/typing/reject/`` holds misuses, one per line,
each marked with a trailing ``# E: <code>`` comment naming the mypy error
code it must produce; the test requires exactly the marked lines to fail,
with exactly the marked codes. mypy runs once, in-process, for all files.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import runpy
import shutil
import tempfile
import tokenize
from pathlib import Path

import attrs
import pytest
from mypy import api as mypy_api

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"
ACCEPTS = sorted(TYPING.glob("accept*.py"))
REJECTS = sorted((TYPING / "reject").glob("*.py"))

#: A trailing ``# E: code`` (or ``# E: code-a, code-b``) comment.
_MARK = re.compile(r"#\s*E:\s*(?P<codes>[a-z][a-z0-9-]*(?:\s*,\s*[a-z][a-z0-9-]*)*)\s*$")
_ERROR = re.compile(r"^(?P<path>.+?):(?P<line>\d+): error: (?P<message>.*)\s\s\[(?P<code>[a-z][a-z0-9-]*)\]$")
_SUMMARY = re.compile(
    r"\(checked (?P<count>\d+) source files?\)|^Success: no issues found in (?P<ok>\d+) source files?"
)

#: (line, error code)
Diagnostic = tuple[int, str]


@attrs.frozen
class MypyReport:
    """Errors by file (resolved path -> sorted (line, code) pairs, with messages for failures)."""

    errors: dict[Path, list[tuple[int, str, str]]]
    checked: int
    output: str

    def diagnostics(self, path: Path) -> set[Diagnostic]:
        return {(line, code) for line, code, _ in self.errors.get(path, [])}

    def describe(self, path: Path) -> str:
        return "\n".join(
            f"  {path.name}:{line}: [{code}] {message}" for line, code, message in self.errors.get(path, [])
        )


def expected_errors(path: Path) -> set[Diagnostic]:
    """The (line, code) pairs the ``# E:`` comments of *path* ask for."""
    expected: set[Diagnostic] = set()
    with tokenize.open(path) as source:
        for token in tokenize.generate_tokens(source.readline):
            if token.type != tokenize.COMMENT:
                continue
            found = _MARK.search(token.string)
            if found:
                expected.update((token.start[0], code.strip()) for code in found["codes"].split(","))
    return expected


@pytest.fixture(scope="module")
def mypy_report() -> MypyReport:
    """Run mypy once over the accept files and every reject file, with a throw-away cache."""
    cache = tempfile.mkdtemp(prefix="tt-mypy-")
    files = [str(path.relative_to(ROOT)) for path in [*ACCEPTS, *REJECTS]]
    try:
        # Relative paths in the config (mypy_path = "src") are relative to the working directory.
        with contextlib.chdir(ROOT):
            stdout, stderr, status = mypy_api.run(
                [
                    "--config-file",
                    "pyproject.toml",
                    "--strict",
                    "--cache-dir",
                    cache,
                    "--show-error-codes",
                    "--no-pretty",
                    "--no-color-output",
                    "--hide-error-context",
                    *files,
                ]
            )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    # 0: clean, 1: type errors found; anything else is mypy failing to run.
    assert status in (0, 1), f"mypy failed to run (status {status}):\n{stdout}\n{stderr}"
    assert not stderr.strip(), stderr
    errors: dict[Path, list[tuple[int, str, str]]] = {}
    checked = -1
    for line in stdout.splitlines():
        error = _ERROR.match(line)
        if error:
            path = (ROOT / error["path"]).resolve()
            errors.setdefault(path, []).append((int(error["line"]), error["code"], error["message"]))
            continue
        summary = _SUMMARY.search(line)
        if summary:
            checked = int(summary["count"] or summary["ok"])
    return MypyReport(
        errors={path: sorted(found) for path, found in errors.items()}, checked=checked, output=stdout
    )


def test_mypy_checked_every_file(mypy_report: MypyReport) -> None:
    # Guards against a config change (an exclude, say) making mypy skip our files.
    assert mypy_report.checked == len(ACCEPTS) + len(REJECTS), mypy_report.output


def test_accept_files_exist() -> None:
    # Both faces pin their types: a renamed file must not drop out unnoticed.
    assert {path.name for path in ACCEPTS} >= {"accept.py", "accept_aio.py"}
    for path in ACCEPTS:
        assert "assert_type(" in path.read_text(encoding="utf-8"), (
            f"{path.name} pins no type with assert_type"
        )


@pytest.mark.parametrize("path", ACCEPTS, ids=[path.name for path in ACCEPTS])
def test_accept_file_type_checks_clean(mypy_report: MypyReport, path: Path) -> None:
    assert mypy_report.diagnostics(path) == set(), mypy_report.describe(path)


def test_no_errors_outside_the_checked_files(mypy_report: MypyReport) -> None:
    # An error in the library itself would make the reject results meaningless.
    others = {path: found for path, found in mypy_report.errors.items() if path not in {*ACCEPTS, *REJECTS}}
    assert others == {}, mypy_report.output


def test_reject_files_exist() -> None:
    assert len(REJECTS) >= 4
    for path in REJECTS:
        assert expected_errors(path), f"{path.name} marks no line with '# E: <code>'"


@pytest.mark.parametrize("path", REJECTS, ids=[path.name for path in REJECTS])
def test_reject_file_errors_exactly_where_marked(mypy_report: MypyReport, path: Path) -> None:
    expected = expected_errors(path)
    actual = mypy_report.diagnostics(path)
    said = f"mypy said:\n{mypy_report.describe(path)}"
    assert not sorted(expected - actual), (
        f"{path.name}: marked but not reported: {sorted(expected - actual)}\n{said}"
    )
    assert not sorted(actual - expected), (
        f"{path.name}: reported but not marked: {sorted(actual - expected)}\n{said}"
    )


def test_expected_errors_reads_marks(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'x: int = "a"  # E: assignment\n'
        's = "# E: not-a-mark"\n'
        "y = 1  # E: misc, arg-type\n"
        "z = 2  # a comment that marks nothing\n",
        encoding="utf-8",
    )
    assert expected_errors(sample) == {(1, "assignment"), (3, "misc"), (3, "arg-type")}


@pytest.mark.parametrize("path", [*ACCEPTS, *REJECTS], ids=[p.name for p in [*ACCEPTS, *REJECTS]])
def test_typing_files_import_without_side_effects(path: Path) -> None:
    # Only definitions at module level: running the file defines functions and calls nothing.
    namespace = runpy.run_path(str(path), run_name="typing_check")
    functions = [
        value
        for value in namespace.values()
        if inspect.isfunction(value) and value.__module__ == "typing_check"
    ]
    assert functions
