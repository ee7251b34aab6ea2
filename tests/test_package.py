"""The package as PyPI shows it: metadata in pyproject.toml, and the ``transports`` name clash.

The import name ``transports`` is also the import name of an unrelated PyPI
project called ``transports``; ``transports --version`` names our
distribution and warns when another distribution's RECORD lists the
``transports/__init__.py`` that was imported. The distributions here are
fakes in a temporary folder: no network, nothing installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import transports
from transports.cli.distribution import DISTRIBUTION, owners, version_report

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def fake_distribution(where: Path, name: str, *files: str) -> None:
    """An installed distribution *name* in *where* whose RECORD lists *files* (relative to *where*)."""
    info = where / f"{name.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n", encoding="utf-8")
    record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
    (info / "RECORD").write_text("".join(f"{entry},,\n" for entry in record), encoding="utf-8")


# -- metadata ---------------------------------------------------------------------------------------


def test_project_urls_are_public_addresses() -> None:
    urls = PROJECT["urls"]
    assert {"Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    for label, url in urls.items():
        assert url.startswith("https://"), (label, url)
        assert "typed-transports" in url, (label, url)


def test_the_summary_warns_about_the_name_clash() -> None:
    assert "transports" in PROJECT["description"]
    assert "unrelated" in PROJECT["description"]


def test_classifiers_say_only_what_is_true() -> None:
    classifiers = set(PROJECT["classifiers"])
    assert {
        "Framework :: AsyncIO",
        "Framework :: Pytest",
        "Typing :: Typed",
        "Operating System :: POSIX :: Linux",
    } <= classifiers
    # The Python versions CI tests, and no others.
    assert {c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")} == {
        f"Programming Language :: Python :: 3.{minor}" for minor in (11, 12, 13)
    }
    assert PROJECT["requires-python"] == ">=3.11"
    # The license is an SPDX expression matching LICENSE; PEP 639 forbids a License classifier beside it.
    assert PROJECT["license"] == "MIT"
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert not [c for c in classifiers if c.startswith("License ::")]


def test_the_pytest_classifier_matches_a_registered_plugin() -> None:
    assert PROJECT["entry-points"]["pytest11"] == {"transports": "transports.testing.plugin"}


# -- who owns transports/__init__.py ----------------------------------------------------------------


def test_owners_reads_the_records(tmp_path: Path) -> None:
    package = tmp_path / "transports"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    fake_distribution(tmp_path, "transports", "transports/__init__.py")
    fake_distribution(tmp_path, "typed-transports", "transports/__init__.py")
    fake_distribution(tmp_path, "bystander", "bystander/__init__.py")
    init = package / "__init__.py"
    assert sorted(owners(init, [str(tmp_path)])) == ["transports", "typed-transports"]
    # Another file of the same name elsewhere is not claimed by them.
    elsewhere = tmp_path / "elsewhere" / "__init__.py"
    elsewhere.parent.mkdir()
    elsewhere.touch()
    assert owners(elsewhere, [str(tmp_path)]) == []


def test_version_report_warns_only_about_another_distribution(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for where in (ours, theirs):
        (where / "transports").mkdir(parents=True)
        (where / "transports" / "__init__.py").touch()
    # A differently spelt name of ours (PEP 503) is still ours.
    fake_distribution(ours, "Typed_Transports", "transports/__init__.py")
    fake_distribution(theirs, "typed-transports", "transports/__init__.py")
    fake_distribution(theirs, "transports", "transports/__init__.py")

    line, warning = version_report("1.2.3", ours / "transports" / "__init__.py", [str(ours)])
    assert line.startswith(f"transports 1.2.3 (distribution {DISTRIBUTION}, ")
    assert warning is None

    line, warning = version_report("1.2.3", theirs / "transports" / "__init__.py", [str(theirs)])
    assert DISTRIBUTION in line
    assert warning is not None
    assert "'transports'" in warning
    assert "pip uninstall transports typed-transports" in warning
    assert "\n" not in warning


def run_version(extra_path: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-m", "transports", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_version_names_the_distribution() -> None:
    result = run_version(None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"transports {transports.__version__} (distribution {DISTRIBUTION}, ")
    assert result.stderr == ""


def test_version_warns_when_another_distribution_claims_the_package(tmp_path: Path) -> None:
    """A fake ``transports`` distribution on sys.path whose RECORD lists the imported ``__init__.py``."""
    init = Path(transports.__file__ or "").resolve()
    assert init.name == "__init__.py"
    fake_distribution(tmp_path, "transports", os.path.relpath(init, tmp_path))
    result = run_version(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"transports {transports.__version__} (distribution {DISTRIBUTION}, ")
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("transports: warning: ")
    assert str(init) in lines[0]
    assert "'transports'" in lines[0]


# -- bench: offered only where the suite is ---------------------------------------------------------


@pytest.mark.parametrize(("where", "offered"), [("checkout", True), ("elsewhere", False)])
def test_bench_is_offered_only_beside_the_suite(tmp_path: Path, where: str, offered: bool) -> None:
    """-I keeps the current directory off sys.path, as for the ``transports`` script."""
    result = subprocess.run(
        [sys.executable, "-I", "-m", "transports", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO if where == "checkout" else tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert ("bench" in result.stdout) is offered, result.stdout
