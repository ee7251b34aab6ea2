"""Check the built documentation the way a new reader would meet it.

1. Build the HTML site with warnings as errors (``-W --keep-going``), unless
   ``--no-build`` says it is already built.
2. Open every built page and follow every relative ``href`` and ``src``: the
   file must exist and, when the link names an anchor (``page.html#part``),
   the page must have an element with that id. External links are not
   followed (CI has no network); Sphinx's ``linkcheck`` builder is for those.
3. When Chromium is installed, render the index and the concept map to PNG
   files with headless Chromium, for a human to look at. Chromium is large,
   so this step is optional and never installs anything.

Run it from the repository: ``python docs/check_site.py``. Exit status 0
means the build and the links are fine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

DOCS = Path(__file__).resolve().parent
PAGES_TO_SHOOT = ("index", "concept-map")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class _Page(HTMLParser):
    """Collects the links and the anchor targets of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and (name == "id" or tag == "a"):
                self.ids.add(value)
            elif name in ("href", "src") and tag != "base":
                self.links.append(value)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def check_links(html_dir: Path) -> list[str]:
    """Every broken relative link under *html_dir*, as 'page: link (why)'."""
    pages: dict[Path, _Page] = {p.resolve(): _parse(p) for p in html_dir.rglob("*.html")}
    problems: list[str] = []
    for path, page in sorted(pages.items()):
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("//"):
                continue  # external (http:, mailto:, data: ...): not ours to check offline
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            where = f"{path.relative_to(html_dir.resolve())}: {link}"
            if not target.is_file():
                problems.append(f"{where} (no such file)")
                continue
            anchor = unquote(parts.fragment)
            if anchor and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if anchor not in ids:
                    problems.append(f"{where} (no anchor #{anchor})")
    return problems


def build(html_dir: Path) -> bool:
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    return subprocess.run([*command, str(DOCS), str(html_dir)], check=False).returncode == 0


def find_chromium() -> str | None:
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def screenshot(chromium: str, page: Path, png: Path) -> bool:
    """Render *page* into *png* with headless Chromium; False if it failed."""
    with tempfile.TemporaryDirectory(prefix="check-site-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1280,1600",
            page.as_uri(),
        ]
        try:
            subprocess.run(command, check=False, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            return False
    return png.is_file() and png.stat().st_size > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=DOCS / "_build" / "html", help="built site")
    parser.add_argument("--no-build", action="store_true", help="check an already built site")
    parser.add_argument(
        "--screenshots", type=Path, default=DOCS / "_build" / "screenshots", help="PNG folder"
    )
    parser.add_argument("--no-screenshots", action="store_true", help="skip Chromium")
    args = parser.parse_args(argv)
    args.html = args.html.resolve()  # Chromium needs absolute file:// URLs

    if not args.no_build and not build(args.html):
        print("the HTML build failed (warnings are errors)", file=sys.stderr)
        return 1
    if not (args.html / "index.html").is_file():
        print(f"no built site in {args.html}", file=sys.stderr)
        return 1

    problems = check_links(args.html)
    for problem in problems:
        print(f"broken link: {problem}", file=sys.stderr)
    count = len(list(args.html.rglob("*.html")))
    print(f"links: {count} pages checked, {len(problems)} broken")

    chromium = None if args.no_screenshots else find_chromium()
    if chromium is None:
        print("screenshots: skipped (no Chromium found, or --no-screenshots)")
    else:
        args.screenshots.mkdir(parents=True, exist_ok=True)
        for name in PAGES_TO_SHOOT:
            png = args.screenshots / f"{name}.png"
            ok = screenshot(chromium, args.html / f"{name}.html", png)
            print(f"screenshot: {png}" if ok else f"screenshot of {name} FAILED")
            problems += [] if ok else [f"screenshot of {name}"]
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
