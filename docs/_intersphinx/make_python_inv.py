"""Write ``python.inv``: a small intersphinx inventory of the Python names we cite.

CI builds the docs with no network, so ``conf.py`` cannot fetch Python's own
``objects.inv``. This script writes a stand-in that lists only the standard
library names our docstrings, pages and type hints refer to, each with its
address under https://docs.python.org/3/. It downloads nothing: the table
below is the whole source. Add a row when ``sphinx -n`` reports a Python name
it cannot resolve, then run it again and commit the result::

    python docs/_intersphinx/make_python_inv.py

The file is the version 2 format that Sphinx reads (a four-line header, then
zlib-compressed lines "name domain:role priority uri display-name").
"""

from __future__ import annotations

import zlib
from pathlib import Path

OUT = Path(__file__).with_name("python.inv")

# Pages whose names are not "library/<module>.html".
_PAGE = {
    "builtins": "library/functions.html",
    "exceptions": "library/exceptions.html",
    "stdtypes": "library/stdtypes.html",
    "constants": "library/constants.html",
}

# (role, page key or module, names). A page key above, or a module whose page
# is "library/<module>.html"; the anchor is the name itself.
TABLE: list[tuple[str, str, tuple[str, ...]]] = [
    # Modules: the anchor is "module-<name>".
    (
        "module",
        "",
        (
            "argparse",
            "asyncio",
            "collections.abc",
            "enum",
            "errno",
            "importlib.metadata",
            "io",
            "os",
            "pathlib",
            "select",
            "selectors",
            "socket",
            "ssl",
            "subprocess",
            "threading",
            "tracemalloc",
            "typing",
        ),
    ),
    # Built-in types and functions.
    (
        "class",
        "stdtypes",
        (
            "bytes",
            "bytearray",
            "memoryview",
            "str",
            "int",
            "float",
            "list",
            "tuple",
            "dict",
            "set",
            "frozenset",
            "type",
        ),
    ),
    ("class", "builtins", ("bool", "object")),
    ("function", "builtins", ("len", "isinstance", "iter", "next", "open", "print", "repr")),
    ("data", "constants", ("None", "True", "False", "Ellipsis", "NotImplemented")),
    (
        "exception",
        "exceptions",
        (
            "BaseException",
            "Exception",
            "OSError",
            "ValueError",
            "TypeError",
            "KeyError",
            "LookupError",
            "RuntimeError",
            "TimeoutError",
            "EOFError",
            "BlockingIOError",
            "BrokenPipeError",
            "ConnectionError",
            "ConnectionAbortedError",
            "ConnectionRefusedError",
            "ConnectionResetError",
            "FileExistsError",
            "FileNotFoundError",
            "InterruptedError",
            "NotImplementedError",
            "PermissionError",
            "StopIteration",
            "StopAsyncIteration",
            "ImportError",
            "OverflowError",
            "AttributeError",
        ),
    ),
    # collections.abc and typing.
    (
        "class",
        "collections.abc",
        (
            "collections.abc.AsyncIterator",
            "collections.abc.AsyncIterable",
            "collections.abc.AsyncGenerator",
            "collections.abc.Awaitable",
            "collections.abc.Buffer",
            "collections.abc.Callable",
            "collections.abc.Collection",
            "collections.abc.Coroutine",
            "collections.abc.Generator",
            "collections.abc.Iterable",
            "collections.abc.Iterator",
            "collections.abc.Mapping",
            "collections.abc.MutableMapping",
            "collections.abc.Sequence",
        ),
    ),
    (
        "class",
        "typing",
        (
            "typing.Any",
            "typing.Generic",
            "typing.Literal",
            "typing.NamedTuple",
            "typing.Protocol",
            "typing.TypeVar",
            "typing.Self",
            "typing.Never",
            "typing.NoReturn",
            "typing.ClassVar",
            "typing.Final",
        ),
    ),
    ("data", "typing", ("typing.TypeAlias", "typing.Optional", "typing.Union", "typing.TYPE_CHECKING")),
    ("function", "typing", ("typing.overload", "typing.cast", "typing.runtime_checkable")),
    # socket.
    ("class", "socket", ("socket.socket", "socket.AddressFamily", "socket.SocketKind")),
    (
        "function",
        "socket",
        (
            "socket.socketpair",
            "socket.getaddrinfo",
            "socket.send_fds",
            "socket.recv_fds",
            "socket.create_connection",
            "socket.fromfd",
        ),
    ),
    (
        "method",
        "socket",
        (
            "socket.socket.accept",
            "socket.socket.bind",
            "socket.socket.close",
            "socket.socket.connect",
            "socket.socket.detach",
            "socket.socket.fileno",
            "socket.socket.getsockopt",
            "socket.socket.listen",
            "socket.socket.recv",
            "socket.socket.recv_into",
            "socket.socket.recvfrom",
            "socket.socket.recvmsg",
            "socket.socket.send",
            "socket.socket.sendall",
            "socket.socket.sendfile",
            "socket.socket.sendmsg",
            "socket.socket.sendto",
            "socket.socket.setblocking",
            "socket.socket.setsockopt",
            "socket.socket.settimeout",
            "socket.socket.shutdown",
        ),
    ),
    ("exception", "socket", ("socket.timeout", "socket.gaierror", "socket.herror")),
    # os, io, errno, select, ssl, threading, enum, pathlib, tracemalloc.
    ("class", "os", ("os.PathLike",)),
    (
        "function",
        "os",
        (
            "os.sendfile",
            "os.splice",
            "os.pipe",
            "os.close",
            "os.dup",
            "os.fstat",
            "os.read",
            "os.write",
            "os.fspath",
            "os.set_inheritable",
        ),
    ),
    ("class", "io", ("io.BytesIO", "io.BufferedIOBase", "io.RawIOBase", "io.IOBase")),
    ("exception", "io", ("io.UnsupportedOperation",)),
    (
        "data",
        "errno",
        (
            "errno.EAGAIN",
            "errno.EPIPE",
            "errno.ECONNRESET",
            "errno.ECONNREFUSED",
            "errno.EADDRINUSE",
            "errno.EMSGSIZE",
            "errno.ENOTCONN",
        ),
    ),
    ("function", "select", ("select.select", "select.poll")),
    ("class", "ssl", ("ssl.SSLContext", "ssl.SSLSocket", "ssl.SSLSession", "ssl.SSLObject", "ssl.MemoryBIO")),
    ("function", "ssl", ("ssl.create_default_context",)),
    ("exception", "ssl", ("ssl.SSLError",)),
    ("class", "threading", ("threading.Lock", "threading.Event", "threading.Thread")),
    ("function", "threading", ("threading.excepthook",)),
    ("class", "enum", ("enum.Enum", "enum.IntEnum", "enum.IntFlag", "enum.Flag", "enum.StrEnum")),
    ("class", "pathlib", ("pathlib.Path", "pathlib.PurePath")),
    ("function", "tracemalloc", ("tracemalloc.start", "tracemalloc.stop")),
    # asyncio documents its names on several pages.
    ("class", "asyncio-sync", ("asyncio.Lock", "asyncio.Event", "asyncio.Condition", "asyncio.Semaphore")),
    ("class", "asyncio-queue", ("asyncio.Queue",)),
    ("class", "asyncio-task", ("asyncio.Task", "asyncio.TaskGroup", "asyncio.Timeout")),
    (
        "function",
        "asyncio-task",
        ("asyncio.timeout", "asyncio.wait_for", "asyncio.sleep", "asyncio.gather", "asyncio.create_task"),
    ),
    ("function", "asyncio-runner", ("asyncio.run",)),
    ("class", "asyncio-eventloop", ("asyncio.AbstractEventLoop",)),
    ("exception", "asyncio-exceptions", ("asyncio.CancelledError",)),
]


def _uri(role: str, where: str, name: str) -> str:
    if role == "module":
        return f"library/{name}.html#module-{name}"
    page = _PAGE.get(where, f"library/{where}.html")
    return f"{page}#{name}"


def entries() -> list[str]:
    """The inventory's lines, sorted, one per name."""
    lines = []
    for role, where, names in TABLE:
        for name in names:
            uri = _uri(role, where, name)
            if uri.endswith("#" + name):
                uri = uri[: -len(name)] + "$"  # the format's shorthand for "the name again"
            lines.append(f"{name} py:{role} 1 {uri} -")
    return sorted(set(lines))


def main() -> None:
    header = "# Sphinx inventory version 2\n# Project: Python\n# Version: 3\n"
    header += "# The remainder of this file is compressed using zlib.\n"
    body = "".join(line + "\n" for line in entries()).encode("utf-8")
    OUT.write_bytes(header.encode("utf-8") + zlib.compress(body, 9))
    print(f"wrote {OUT} ({len(entries())} names)")


if __name__ == "__main__":
    main()
