"""The private core shared by every transport and both faces (sync and ``transports.aio``).

Nothing here is public API: the public names live in the modules that
re-export them. Each module holds one concept the rest of the library
builds on, so that it exists once: ``deadline`` is the one time budget of a
multi-call operation (APUE 14.4 I/O Multiplexing).
"""
