"""The ``transports`` command (:apue:`16.1`: sockets as IPC on one host or across hosts).

``transports demo`` is a guided tour: it starts a listener on loopback for
every kind of transport, exchanges data with it, and prints each step with
the APUE section it illustrates. ``serve``, ``send`` and ``recv`` move bytes
socat-style over any URL, TLS ones included (``transports.cli.tls``); ``schemes`` lists the URL schemes; ``bench`` runs
the benchmark suite of a source checkout (and is offered only there: the
suite is not in the wheel). Only the standard library is
used. Every failure is one line on stderr, never a traceback, and the exit
status says which kind it was, as argparse and httpx's command do: 1 for a
failure while running (a refused connection, a missing file), 2 for a
command line that cannot work (a bad option or URL), 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from transports._version import __version__

if TYPE_CHECKING:
    from transports.tls import TLSCertificateError

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_USAGE", "main"]

#: A failure while running: a refused connection, a missing file, an address in use.
EXIT_FAILURE = 1
#: A command line that cannot work: a bad option, argument or URL (argparse's status).
EXIT_USAGE = 2
#: Interrupted by Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


#: The commands that work on a URL: name -> (help, description, URL's help, FILE's default and help).
_URL_COMMANDS: dict[str, tuple[str, str, str, tuple[str | None, str] | None]] = {
    "serve": (
        "listen on URL and echo, discard or store what arrives",
        "Listen on URL (bind it, for udp and unixgram) and handle connections one at a "
        "time until Ctrl-C, SIGTERM or --max-connections. The bound address is the first line "
        "on stderr: 'listening on URL'. For datagram URLs every message is handled on its own. "
        "With --systemd, serve the socket systemd passed instead of a URL.",
        "where to listen, e.g. tcp://127.0.0.1:0",
        None,
    ),
    "send": (
        "send a file or stdin to URL",
        "Connect to URL and send FILE (stdin when FILE is '-' or absent). Stream URLs "
        "use sendfile for regular files, half-close when done and copy the answer to stdout. "
        "Datagram and seqpacket URLs send one message per read of up to the largest message "
        "(64 KiB at most), or one per line with --lines.",
        "where to send, e.g. tcp://127.0.0.1:8080",
        ("-", "what to send (default: stdin)"),
    ),
    "recv": (
        "receive one connection into a file or stdout",
        "Listen on the stream URL for one connection (or connect to it with --connect) "
        "and write everything that arrives to FILE (stdout when absent or '-') with "
        "recv_into_file. When listening, the first line on stderr is 'listening on URL'.",
        "a stream URL: tcp://..., unix://..., tls://... or tls+unix://...",
        (None, "where to write (default: stdout)"),
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, _usage_line(self.prog, message) + "\n")


class _Version(argparse.Action):
    """``--version``: the line on stdout, and a warning on stderr when the package folder is shared."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> NoReturn:
        import transports
        from transports.cli.distribution import version_report

        line, warning = version_report(__version__, transports.__file__ or "transports/__init__.py")
        print(line)
        if warning is not None:
            print(warning, file=sys.stderr)
        parser.exit(0)


def _usage_line(prog: str, message: str) -> str:
    return f"{prog}: error: {_one_line(message)}; see {prog} --help"


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and the parser of each command by name."""
    from transports.cli.demo import DEMOS

    parser = _Parser(
        prog="transports",
        description="Typed TCP, UDP and Unix-domain transports, with APUE's concepts named.",
    )
    parser.add_argument(
        "--version",
        action=_Version,
        nargs=0,
        help="show the version and the distribution (typed-transports) this 'transports' comes from; "
        "warn when another distribution's files share its folder",
    )
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
    schemes = commands.add_parser("schemes", help="list the URL schemes transports.connect() understands")

    made = {
        name: commands.add_parser(name, help=summary, description=description)
        for name, (summary, description, _, _) in _URL_COMMANDS.items()
    }
    for name, (_, _, url, file) in _URL_COMMANDS.items():
        # serve can take its socket from systemd (--systemd) instead of a URL
        made[name].add_argument("url", metavar="URL", help=url, nargs="?" if name == "serve" else None)
        if file is not None:
            made[name].add_argument("file", metavar="FILE", nargs="?", default=file[0], help=file[1])
    serve, send, recv = made["serve"], made["send"], made["recv"]
    what = serve.add_mutually_exclusive_group(required=True)
    what.add_argument("--echo", dest="mode", action="store_const", const="echo", help="send it back")
    what.add_argument("--discard", dest="mode", action="store_const", const="discard", help="drop it")
    what.add_argument("--sink", metavar="FILE", help="append everything received to FILE")
    stop = serve.add_mutually_exclusive_group()
    stop.add_argument(
        "--max-connections",
        type=_positive_int,
        metavar="N",
        help="stop after N connections (N messages for datagram URLs)",
    )
    stop.add_argument("--once", action="store_true", help="the same as --max-connections 1")
    serve.add_argument(
        "--systemd",
        nargs="?",
        const="",
        metavar="NAME",
        help="instead of URL, serve the socket systemd passed (socket activation): the one named NAME "
        "(FileDescriptorName=), else the first; tell systemd READY=1 once serving and STOPPING=1 on the way out",
    )
    send.add_argument("--lines", action="store_true", help="datagram URLs: one message per line")
    recv.add_argument("--connect", action="store_true", help="connect to URL instead of listening")
    for command in (send, recv):
        command.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="show a progress bar on stderr (default: only when stderr is a terminal)",
        )
    from transports.cli.tls import add_tls_options

    add_tls_options(serve, connects=False, listens=True)
    add_tls_options(send, connects=True, listens=False)
    add_tls_options(recv, connects=True, listens=True)
    for command in made.values():
        command.add_argument(
            "--timeout",
            type=_seconds,
            metavar="SECONDS",
            help="limit on connecting and on each wait for the peer (default: 10 s to connect, then no limit)",
        )

    if _bench_suite_found():
        # Offered only where it can run: the suite is in the source checkout, not in the wheel.
        bench = commands.add_parser(
            "bench",
            add_help=False,
            help="run the benchmark suite of this source checkout ('bench --help' for its options)",
        )
        bench.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser, {"demo": demo, "schemes": schemes, "serve": serve, "send": send, "recv": recv}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _bench_suite_found() -> bool:
    """Can ``benchmarks.suite`` be imported? Looks on sys.path, then in the current directory.

    The suite lives in ``benchmarks/`` at the root of a source checkout and
    is not in the wheel. ``python -m transports`` has the current directory
    on sys.path but the ``transports`` script does not, so a checkout's root
    is added when it is the current directory.
    """
    if _importable("benchmarks.suite"):
        return True
    here = os.getcwd()
    if not os.path.isfile(os.path.join(here, "benchmarks", "suite.py")) or here in sys.path:
        return False
    sys.path.insert(0, here)
    return _importable("benchmarks.suite")


def _importable(name: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except ImportError:  # the parent package is missing
        return False


def _run_bench(args: list[str]) -> int:
    if not _bench_suite_found():
        print(
            "transports bench: the benchmark suite was not found: it is not in the wheel, only in a "
            "source checkout of typed-transports; run 'transports bench' from the checkout's root "
            "(the directory holding benchmarks/)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    from benchmarks.suite import main as bench_main

    return bench_main(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0, 1, 2 or 130, see docs/cli.rst)."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        # Wherever Ctrl-C lands: the with-blocks on the way out closed sockets and files.
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(words: list[str]) -> int:
    if words[:1] == ["bench"]:
        # The suite parses its own options (argparse's REMAINDER would reorder them).
        return _run_bench(words[1:])
    parser, commands = _build_parser()
    try:
        args, extra = parser.parse_known_args(words)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    command = commands.get(args.command, parser)
    stray = extra[0] if len(extra) == 1 else ""
    if (
        args.command in ("send", "recv")
        and args.file in (None, "-")
        and (stray == "-" or stray[:1] not in ("", "-"))
    ):
        # argparse takes URL and FILE in one go: a FILE after an option (send URL --lines FILE) lands here.
        args.file = extra.pop()
    if extra:
        return _usage(command, f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from transports.errors import PluginError

    try:
        return _run(args, command)
    except (OSError, ValueError, PluginError) as exc:
        return _report(command.prog, exc)


def _run(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    if args.command == "demo":
        from transports.cli.demo import DEMOS, run_demo

        unknown = [k for k in args.kinds if k not in DEMOS]
        if unknown:
            return _usage(command, f"unknown demo kind {unknown[0]!r}; choose from {', '.join(DEMOS)}")
        return run_demo(args.kinds or None, out=sys.stdout)
    if args.command == "schemes":
        from transports.registry import schemes

        for row in schemes():
            kind = row.kind.value if row.kind is not None else "broken"
            text = row.error if row.error is not None else row.description
            print(f"{row.name:12} {kind:10} {text} [{row.origin}]")
        return 0
    from transports.cli.commands import kind_of, systemd_url
    from transports.cli.tls import TLSOptions

    if args.command == "serve" and (args.url is None) == (args.systemd is None):
        return _usage(
            command, "give a URL to listen on, or --systemd to serve the socket systemd passed (not both)"
        )
    systemd = args.command == "serve" and args.systemd is not None
    if systemd:
        args.url = systemd_url(args.systemd)
    kind_of(args.url)  # a URL that cannot work is reported before anything else (an --insecure warning)
    tls = TLSOptions.from_args(command.prog, args)
    if args.command == "send":
        from transports.cli.send import send_command

        context, hostname = tls.for_connect(args.url)
        return send_command(args.url, args.file, args.lines, args.progress, args.timeout, context, hostname)
    from transports.cli.commands import recv_command, serve_command

    if args.command == "serve":
        mode = "sink" if args.sink is not None else args.mode
        limit = 1 if args.once else args.max_connections
        return serve_command(
            args.url, mode, args.sink, limit, args.timeout, tls.for_listen(args.url), systemd=systemd
        )
    assert args.command == "recv", args.command
    context, hostname = tls.for_connect(args.url) if args.connect else (tls.for_listen(args.url), None)
    return recv_command(args.url, args.file, args.connect, args.progress, args.timeout, context, hostname)


def _usage(command: argparse.ArgumentParser, message: str) -> int:
    print(_usage_line(command.prog, message), file=sys.stderr)
    return EXIT_USAGE


def _report(prog: str, exc: Exception) -> int:
    """One line on stderr for an error out of a command; its exit status."""
    from transports.cli.commands import UsageError
    from transports.errors import AddressError, TransportError

    if isinstance(exc, BrokenPipeError) and not isinstance(exc, TransportError):
        # Our own stdout was closed early (`| head`): not worth a message.
        _silence_stdout()
        return EXIT_FAILURE
    if isinstance(exc, UsageError | AddressError):
        # A URL that cannot be parsed, a command that cannot take it: the command line is wrong.
        print(_usage_line(prog, str(exc)), file=sys.stderr)
        return EXIT_USAGE
    if "transports.tls" in sys.modules:  # else no TLS error can have been raised
        from transports.tls import TLSCertificateError

        if isinstance(exc, TLSCertificateError):
            print(f"{prog}: {_certificate_failure(exc)}", file=sys.stderr)
            return EXIT_FAILURE
    # TransportError, CommandError, PluginError: each says what went wrong and where.
    print(f"{prog}: {_one_line(str(exc))}", file=sys.stderr)
    return EXIT_FAILURE


def _certificate_failure(exc: TLSCertificateError) -> str:
    """The line for a certificate that did not verify, with the options that fix it."""
    why = _one_line(exc.verify_message or str(exc))
    if exc.host is None:  # we are the server: the client's certificate (mutual TLS)
        return f"TLS: the client's certificate did not verify: {why}; --cafile FILE names the CAs that may sign it"
    return (
        f"TLS: {exc.host}'s certificate did not verify: {why}; trust its CA with --cafile FILE, or pass "
        "--server-hostname NAME if the certificate names the host otherwise (--insecure skips the check, "
        "for tests only)"
    )


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
