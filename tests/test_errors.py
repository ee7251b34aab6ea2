"""The error hierarchy: OSError underneath, built-in relatives, pickling, errno translation."""

from __future__ import annotations

import errno
import pickle

import pytest

from transports import errors
from transports.errors import (
    AddressError,
    AddressInUse,
    BrokenPipe,
    ConnectionAborted,
    ConnectionRefused,
    ConnectionReset,
    FileWriteError,
    MessageTooLarge,
    MessageTruncated,
    NotConnected,
    PluginError,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnexpectedEOF,
    UnknownScheme,
    UnsupportedFlag,
    UnsupportedOption,
    WouldBlock,
    translate_os_error,
)
from transports.flags import RecvFlags, SendFlags

PUBLIC_CLASSES = [getattr(errors, name) for name in errors.__all__ if isinstance(getattr(errors, name), type)]
TRANSPORT_ERRORS = [cls for cls in PUBLIC_CLASSES if issubclass(cls, TransportError)]


def test_every_error_is_exported_from_the_package() -> None:
    import transports

    for cls in PUBLIC_CLASSES:
        assert getattr(transports, cls.__name__) is cls


@pytest.mark.parametrize("cls", TRANSPORT_ERRORS, ids=lambda cls: cls.__name__)
def test_transport_errors_are_os_errors(cls: type[TransportError]) -> None:
    assert issubclass(cls, OSError)
    assert issubclass(cls, TransportError)


def test_the_classes_not_under_transport_error() -> None:
    # Bad addresses are found before any socket exists: ValueErrors, not OSErrors.
    others = {cls for cls in PUBLIC_CLASSES if not issubclass(cls, TransportError)}
    assert others == {
        AddressError,
        UnknownScheme,
        PluginError,
        FileWriteError,
        UnsupportedFlag,
        UnsupportedOption,
    }
    # A failed write to recv_into_file's target is the file's fault: an OSError, not the connection's.
    assert issubclass(FileWriteError, OSError)
    # Caller mistakes (a bad address, a flag or option the transport cannot honour) are ValueErrors.
    for cls in (AddressError, UnknownScheme, UnsupportedFlag, UnsupportedOption):
        assert issubclass(cls, ValueError)
        assert not issubclass(cls, OSError)
    # A plugin that will not load is a broken installation, not an I/O error.
    assert issubclass(PluginError, RuntimeError)
    assert not issubclass(PluginError, OSError)


@pytest.mark.parametrize(
    ("ours", "builtin"),
    [
        (ConnectionRefused, ConnectionRefusedError),
        (ConnectionReset, ConnectionResetError),
        (ConnectionAborted, ConnectionAbortedError),
        (BrokenPipe, BrokenPipeError),
        (TransportTimeout, TimeoutError),
        (WouldBlock, BlockingIOError),
        (UnexpectedEOF, EOFError),
        (UnsupportedFlag, ValueError),
        (UnsupportedOption, ValueError),
        (UnknownScheme, AddressError),
    ],
)
def test_builtin_relatives(ours: type[Exception], builtin: type[Exception]) -> None:
    assert issubclass(ours, builtin)


def test_except_clauses_written_for_the_stdlib_still_work() -> None:
    error = translate_os_error(OSError(errno.ECONNRESET, "Connection reset by peer"), "recv", "tcp://h:1")
    with pytest.raises(ConnectionResetError):
        raise error
    with pytest.raises(ConnectionError):
        raise error
    with pytest.raises(OSError):  # noqa: PT011 - the point is the broad clause
        raise error


SAMPLES: list[TransportError] = [
    TransportError("plain", errno=errno.EIO, op="send", address="tcp://127.0.0.1:1", bytes_sent=7),
    BrokenPipe("gone", errno=errno.EPIPE, op="send_all", address="unix:///tmp/s", bytes_sent=1024),
    TransportTimeout("slow", errno=errno.ETIMEDOUT, op="recv", address="udp://[::1]:53"),
    MessageTooLarge("big", size=70000, limit=65507, op="send_to", address="udp://127.0.0.1:9"),
    MessageTruncated("cut", data=b"head", size=99, op="recv", address="unixgram:@x"),
    UnexpectedEOF("short", partial=b"abc", expected=10, op="recv_exactly", address="tcp://h:2"),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_pickling_keeps_every_attribute(error: TransportError) -> None:
    error.partial = error.partial if isinstance(error, UnexpectedEOF) else b"some bytes"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.errno == error.errno
    assert copy.op == error.op
    assert copy.address == error.address
    assert copy.bytes_sent == error.bytes_sent
    assert copy.partial == error.partial
    assert vars(copy) == vars(error)


def test_pickling_the_caller_mistakes_keeps_their_fields() -> None:
    flag = pickle.loads(pickle.dumps(UnsupportedFlag("no OOB on udp", flag=SendFlags.OOB, network="udp")))
    assert type(flag) is UnsupportedFlag
    assert (str(flag), flag.flag, flag.network) == ("no OOB on udp", SendFlags.OOB, "udp")
    option = pickle.loads(
        pickle.dumps(UnsupportedOption("no option", op="set SO_BROADCAST", address="tcp://h:3"))
    )
    assert type(option) is UnsupportedOption
    assert (str(option), option.op, option.address) == ("no option", "set SO_BROADCAST", "tcp://h:3")
    assert str(UnsupportedOption("bare")) == "bare"
    assert (UnsupportedOption("bare").op, UnsupportedOption("bare").address) == (None, None)


def _retry_on_oserror(error: Exception, attempts: list[int]) -> None:
    """Raise *error* up to three times, retrying whenever it is an OSError."""
    for attempt in range(3):
        attempts.append(attempt)
        try:
            raise error
        except OSError:
            continue


def test_an_oserror_retry_loop_does_not_swallow_caller_mistakes() -> None:
    # The point of keeping them out of the OSError tree: a loop that retries
    # on OSError must stop at a programming error instead of retrying it.
    mistakes: list[Exception] = [
        UnsupportedFlag("RecvFlags.WAITALL refused", flag=RecvFlags.WAITALL, network="udp"),
        UnsupportedOption("SO_BROADCAST refused", op="set SO_BROADCAST", address="tcp://h:3"),
    ]
    for mistake in mistakes:
        attempts: list[int] = []
        with pytest.raises(ValueError, match="refused"):
            _retry_on_oserror(mistake, attempts)
        assert len(attempts) == 1


def test_pickling_the_value_errors() -> None:
    unknown = pickle.loads(pickle.dumps(UnknownScheme("quic", ["udp", "tcp"])))
    assert unknown.scheme == "quic"
    assert unknown.known == ("tcp", "udp")
    assert "tcp, udp" in str(unknown)
    bad = pickle.loads(pickle.dumps(AddressError("port 70000 is out of range")))
    assert str(bad) == "port 70000 is out of range"


def test_special_attributes() -> None:
    too_large = MessageTooLarge("m", size=10, limit=5)
    assert (too_large.size, too_large.limit, too_large.errno, too_large.bytes_sent) == (
        10,
        5,
        errno.EMSGSIZE,
        0,
    )
    cut = MessageTruncated("m", data=b"ab", size=None)
    assert (cut.data, cut.size) == (b"ab", None)
    eof = UnexpectedEOF("m", partial=b"x", expected=3)
    assert (eof.partial, eof.expected) == (b"x", 3)
    flag = UnsupportedFlag("m", flag=RecvFlags.WAITALL, network="udp")
    assert (flag.flag, flag.network) == (RecvFlags.WAITALL, "udp")


def test_str_is_the_message_not_the_errno_tuple() -> None:
    error = TransportError("send tcp://h:1: broken", errno=errno.EPIPE)
    assert str(error) == "send tcp://h:1: broken"
    assert error.errno == errno.EPIPE
    assert error.strerror == "send tcp://h:1: broken"
    assert str(TransportError("no errno")) == "no errno"


# -- translate_os_error ------------------------------------------------------------------

MAPPED = [
    (errno.ECONNREFUSED, ConnectionRefused),
    (errno.ECONNRESET, ConnectionReset),
    (errno.ECONNABORTED, ConnectionAborted),
    (errno.EPIPE, BrokenPipe),
    (errno.ENOTCONN, NotConnected),
    (errno.EDESTADDRREQ, NotConnected),
    (errno.EADDRINUSE, AddressInUse),
    (errno.ETIMEDOUT, TransportTimeout),
    (errno.EAGAIN, WouldBlock),
    (errno.EBADF, TransportClosed),
    (errno.ENOENT, TransportError),
    (errno.EACCES, TransportError),
    (errno.EIO, TransportError),
]


@pytest.mark.parametrize(
    ("code", "cls"), MAPPED, ids=lambda v: errno.errorcode.get(v, "") if isinstance(v, int) else ""
)
def test_translate_maps_errno(code: int, cls: type[TransportError]) -> None:
    raw = OSError(code, "Some Reason")
    error = translate_os_error(raw, "send", "tcp://127.0.0.1:9", bytes_sent=12)
    assert type(error) is cls
    assert error.errno == code
    assert error.op == "send"
    assert error.address == "tcp://127.0.0.1:9"
    assert error.bytes_sent == 12
    message = str(error)
    assert message.startswith("send tcp://127.0.0.1:9: some Reason")
    assert f"({errno.errorcode[code]})" in message
    assert "after 12 bytes were sent" in message


def test_translate_adds_hints() -> None:
    refused = translate_os_error(OSError(errno.ECONNREFUSED, "Connection refused"), "connect to", "tcp://h:1")
    assert "is a server listening" in str(refused)
    missing = translate_os_error(OSError(errno.ENOENT, "No such file"), "connect to", "unix:///x.sock")
    assert "is the server running" in str(missing)
    odd = translate_os_error(OSError(errno.EIO, "I/O error"), "recv", None)
    # Without an address the message starts with the operation; no hint for a rare errno.
    assert str(odd).startswith("recv: ")
    assert str(odd).endswith("(EIO)")


def test_translate_timeouts() -> None:
    error = translate_os_error(TimeoutError("timed out"), "recv", "udp://h:1", timeout=0.25)
    assert type(error) is TransportTimeout
    assert error.errno == errno.ETIMEDOUT
    assert "0.25 s" in str(error)
    assert isinstance(error, TimeoutError)


def test_translate_errors_without_errno() -> None:
    error = translate_os_error(OSError("strange"), "bind", "unix:///x")
    assert type(error) is TransportError
    assert "strange" in str(error)
    assert error.op == "bind"


def test_translate_passes_our_errors_through() -> None:
    ours = BrokenPipe("already ours", errno=errno.EPIPE)
    assert translate_os_error(ours, "send", "tcp://h:1") is ours


def test_translate_uses_strerror_when_missing() -> None:
    error = translate_os_error(OSError(errno.EPIPE, ""), "send", "tcp://h:1")
    assert "broken pipe" in str(error).lower()
