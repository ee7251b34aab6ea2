"""The words of error messages: verbs for phrases, and advice by errno (:apue:`16.5`).

Below :mod:`transports.errors`, which picks the classes and fields: the verb
each message phrase stands for (``"connect to"`` is ``connect``), what to try
for each ``errno`` of a connection and of a file being written, the way both
kinds of error name the system's reason (``connection refused (ECONNREFUSED)``),
and the message for a raw :class:`OSError` of a socket call.
"""

from __future__ import annotations

import errno
import os

#: Phrases the messages use, by the verb of ``errors.OPS`` they stand for.
PHRASES = {
    "connect to": "connect",
    "accept on": "accept",
    "listen on": "listen",
    "socket for": "socket",
    "set timeout on": "settimeout",
    "peer_credentials of": "peer_credentials",
    # A Unix bind first looks at what is at its path (APUE 17.3): part of bind.
    "inspect": "bind",
    "probe": "bind",
    "remove stale socket": "bind",
    "create the start lock for": "bind",
    "sendfile headers": "sendfile",
    "sendfile trailers": "sendfile",
    "sendfile: read the file for": "sendfile",
}

#: What to try when a socket call fails with an errno; the others get no hint.
SOCKET_HINTS = {
    errno.ECONNREFUSED: "is a server listening there?",
    errno.ECONNRESET: "the peer reset the connection; reconnect if you need to go on",
    errno.ECONNABORTED: "the connection was aborted; reconnect if you need to go on",
    errno.EPIPE: "the peer has closed its end; stop sending and close this transport",
    errno.ENOTCONN: "connect the transport first, or use send_to with an address",
    errno.EDESTADDRREQ: "connect the transport first, or use send_to with an address",
    errno.EADDRINUSE: "another socket is bound there; choose another address or port 0",
    errno.ETIMEDOUT: "the peer did not answer in time; check that it is reachable",
    errno.EAGAIN: "nothing can be done without blocking now; wait for readiness and retry",
    errno.EBADF: "the transport is closed; open a new one",
    errno.ENOENT: "no socket file at that path; is the server running?",
    errno.EACCES: "permission denied; check the socket file's mode and owner",
    errno.EADDRNOTAVAIL: "that address is not on this host; bind to a local address",
    errno.ENETUNREACH: "no route to that network; check the address",
    errno.EHOSTUNREACH: "no route to that host; check the address",
}

#: What to try when writing the target file of ``recv_into_file`` fails, by errno.
WRITE_HINTS = {
    errno.ENOSPC: "free space on the file's filesystem or write the file elsewhere",
    errno.EDQUOT: "the disk quota is used up; free space or raise the quota",
    errno.EFBIG: "the file would grow past the file size limit (ulimit -f, RLIMIT_FSIZE) or the "
    "largest file its filesystem allows",
    errno.EBADF: "the descriptor is not open for writing any more; pass one open for writing",
    errno.EPIPE: "the reader of that pipe or socket has gone",
    errno.EROFS: "the filesystem is mounted read-only; write the file elsewhere",
    errno.EIO: "the device reported an I/O error; check it",
}


def reason(code: int | None, strerror: str | None, default: str) -> str:
    """The system's reason as a message clause: ``connection refused (ECONNREFUSED)``.

    *strerror* (or, when it is empty, the C library's text for *code*) in
    lower case, then the errno's name when *code* has one; *default* when
    there is neither a text nor a code.
    """
    text = strerror or (os.strerror(code) if code is not None else "")
    if not text:
        return default
    name = errno.errorcode.get(code, str(code)) if code is not None else None
    return f"{text[:1].lower()}{text[1:]}" + (f" ({name})" if name else "")


def os_error_text(exc: OSError, place: str, bytes_sent: int | None, timeout: float | None) -> str:
    """The message for a raw :class:`OSError` of the operation at *place* (``"connect to tcp://h:1"``).

    What failed, why, after how many bytes when some were sent, and what to try.
    """
    sent = f" after {bytes_sent} bytes were sent" if bytes_sent else ""
    if exc.errno is None and isinstance(exc, TimeoutError):
        limit = f" of {timeout:g} s" if timeout is not None else ""
        return f"{place}: timed out{sent} (timeout{limit}); raise the timeout or check the peer"
    if exc.errno is None:
        return f"{place}: {exc}{sent}"
    hint = SOCKET_HINTS.get(exc.errno)
    return f"{place}: {reason(exc.errno, exc.strerror, '')}{sent}" + (f"; {hint}" if hint else "")
