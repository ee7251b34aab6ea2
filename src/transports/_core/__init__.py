"""The private core shared by every transport and both faces (sync and ``transports.aio``).

Nothing here is public API: the public names live in the modules that
re-export them. Each module holds one concept the rest of the library
builds on, so that it exists once; the names without a leading underscore
are the core's internal API, the only ones other modules import:

* ``deadline``: the one time budget of a multi-call operation (APUE 14.4);
* ``validate``: argument checks made before any system call;
* ``sockflags``: the ``MSG_*`` bits as plain ints (APUE 16.5);
* ``owner``: one owned socket, closed once even with calls in flight (APUE 16.2);
* ``transport``: identity, addresses, errors and the send/recv hot paths (APUE 16.5);
* ``stream``: ``shutdown``, ``send_all``, ``recv_exactly`` (APUE 14.7);
* ``message``: truncation-aware message receives (APUE 16.5);
* ``listener``: the passive socket that hands out transports (APUE 16.4).
"""
