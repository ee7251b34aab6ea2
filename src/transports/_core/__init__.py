"""The private core shared by every transport and both faces (sync and ``transports.aio``).

Nothing here is public API: the public names live in the modules that
re-export them. Each module holds one concept the rest of the library
builds on, so that it exists once; the names without a leading underscore
are the core's internal API, the only ones other modules import:

* ``deadline``: the one time budget of a multi-call operation (:apue:`14.4`);
* ``validate``: argument checks made before any system call;
* ``sockflags``: the ``MSG_*`` bits as plain ints (:apue:`16.5`);
* ``owner``: one owned socket, closed once even with calls in flight (:apue:`16.2`);
* ``sockets``: setting up a new socket (closed if a step fails) and adopting one (:apue:`16.4`);
* ``transport``: identity, addresses, errors and the send/recv hot paths (:apue:`16.5`);
* ``stream``: ``shutdown``, ``send_all``, ``recv_exactly`` (:apue:`14.7`);
* ``message``: truncation-aware message receives, ``send_to`` (:apue:`16.5`);
* ``listener``: the passive socket that hands out transports (:apue:`16.4`);
* ``inet``: what TCP and UDP check and look up before a socket: family, peer, source, ``resolve`` (:apue:`16.3.3`);
* ``dial``: one connect over every resolved address on one budget, in turn or raced (RFC 8305), for both faces (:apue:`16.4`);
* ``eyeballs``: the sync Happy Eyeballs race, non-blocking connects under one ``poll`` (:apue:`16.8`, :apue:`14.4`);
* ``networks``: one row per network (tcp, udp, unix, unixgram, unixpacket): socket type, families, address decoder (:apue:`16.2`);
* ``unixpath``: the Unix socket file: stale files, the start lock, binding with a mode, owning the path (:apue:`17.3`);
* ``batch``, ``mmsg`` and ``cmsg``: datagram batches, ``recvmmsg`` through ctypes, and control messages (:apue:`16.5`);
* ``listenfds``, ``activation`` and ``notify``: systemd's passed descriptors, their adoption, and ``sd_notify`` (:apue:`17.4`);
* ``handoff``, ``handoffmsg`` and ``handoffsteps``: passing listeners to a successor, written once for both faces (:apue:`17.4`);
* ``zerocopy`` and ``files``: the zero-copy engine and the files it moves (:apue:`16.5`, :apue:`14.7`).
"""
