"""The conformance kit on TLS: the stream checks over TCP, a Unix stream and the memory transport, both faces.

TLS is a stream transport like any other, so the kit's stream checks are
its contract too; one test per check (the plugin's
``transports_stream_check``) and per plain stream. The three checks of
flags that act on the ciphertext (``WAITALL``, ``PEEK``, ``DONTWAIT``) do
not apply: TLS refuses those flags, and the kit reports them skipped. The
async face runs the same checks on each event loop (the plugin's
``transports_async_stream_check``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import transports
from test_tls import PLAINS, tls_pair
from test_tls_aio import PLAINS as AIO_PLAINS
from test_tls_aio import tls_pair as aio_tls_pair
from tls_certs import PKI, tls_pki
from transports import aio
from transports.testing import AsyncPairFactory, StreamCheck, run_stream_checks

__all__ = ["tls_pki"]  # the session's certificates (tests/tls_certs.py), a fixture used here

#: The checks of flags TLS refuses (they act on the ciphertext stream).
FLAG_CHECKS = {"check_waitall", "check_peek_leaves_data", "check_dontwait"}


def tls_pairs(pki: PKI, plain: str) -> transports.testing.PairFactory[transports.Transport]:
    """Fresh (client, server) TLS pairs over the plain stream *plain*.

    The server sends its TLS 1.3 session tickets after the handshake, as by
    default: a client that closes before reading them must not make the
    kernel reset the connection (``close`` reads what waits unread).
    """
    server_context = pki.server_context()
    client_context = pki.client_context()

    def factory() -> tuple[transports.Transport, transports.Transport]:
        return tls_pair(PLAINS[plain](), server_context, client_context)

    return factory


@pytest.mark.parametrize("plain", sorted(PLAINS))
def test_tls_stream_kit(transports_stream_check: StreamCheck, plain: str, tls_pki: PKI) -> None:
    transports_stream_check(tls_pairs(tls_pki, plain))


def test_tls_skips_only_the_flag_checks(tls_pki: PKI) -> None:
    """The whole kit at once: the checks that do not apply are those of the flags TLS refuses, no other."""
    results = run_stream_checks(tls_pairs(tls_pki, "unix"))  # raises at the first failure
    skipped = {name for name, verdict in results.items() if verdict != "passed"}
    assert skipped == FLAG_CHECKS, results
    for name in FLAG_CHECKS:
        assert "TLS refuses" in results[name], results[name]


# -- the async face -----------------------------------------------------------------------------------


def async_tls_pairs(pki: PKI, plain: str) -> AsyncPairFactory:
    """Fresh async (client, server) TLS pairs over the async plain stream *plain* (see :func:`tls_pairs`)."""
    server_context = pki.server_context()
    client_context = pki.client_context()

    async def factory() -> tuple[aio.Transport, aio.Transport]:
        return await aio_tls_pair(await AIO_PLAINS[plain](), server_context, client_context)

    return factory


@pytest.mark.parametrize("plain", sorted(AIO_PLAINS))
def test_tls_async_stream_kit(
    transports_async_stream_check: Callable[..., None], plain: str, tls_pki: PKI
) -> None:
    transports_async_stream_check(async_tls_pairs(tls_pki, plain))
