"""The ``transports`` command (APUE 16.1 Introduction: sockets as IPC on one host or across hosts).

``transports demo`` is a guided tour: it starts a listener on loopback for
every kind of transport, exchanges data with it, and prints each step with
the APUE section it illustrates. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from transports._version import __version__

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    from transports.cli.demo import DEMOS

    parser = argparse.ArgumentParser(
        prog="transports",
        description="Typed TCP, UDP and Unix-domain transports, with APUE's concepts named.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="tour every transport kind on loopback, naming the APUE section of each step",
        description="Start a listener for each transport kind on loopback, exchange data, "
        "and print what each step shows.",
    )
    demo.add_argument(
        "kinds",
        nargs="*",
        metavar="KIND",
        help=f"which tours to run (default: all of {', '.join(DEMOS)})",
    )
    commands.add_parser("schemes", help="list the URL schemes transports.connect() understands")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from transports.cli.demo import DEMOS, run_demo

            unknown = [k for k in args.kinds if k not in DEMOS]
            if unknown:
                parser.error(f"unknown demo kind {unknown[0]!r}; choose from {', '.join(DEMOS)}")
            return run_demo(args.kinds or None, out=sys.stdout)
        if args.command == "schemes":
            from transports.registry import schemes

            for row in schemes():
                kind = row.kind.value if row.kind is not None else "broken"
                text = row.error if row.error is not None else row.description
                print(f"{row.name:12} {kind:10} {text} [{row.origin}]")
            return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"transports: {exc}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2
