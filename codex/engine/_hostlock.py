"""The host lock: the write transactions of every process on this machine that writes to one database
take turns in the kernel, not in SQLite's busy handler.

Why: a writer that finds the database locked waits inside SQLite's busy handler, which sleeps
between its checks (1, 2, 5, 10 … up to 100 ms). Between two processes that write back to back (the
workers of ``codex serve --workers N``, or two servers on one machine), the lock then sits free for
those sleeps after every commit: on sqld, 16 writers spread over two workers made 34–109 mutations a
second where one worker made 110–130. An advisory ``flock`` on a file named after the database hands
the turn over as soon as it is given back. It is an optimisation of the wait, not the lock itself:
the database still enforces its own, and writers on other machines still wait in the busy handler.

Turns are fair: a process waiting for the lock holds a shared lock on a second file
(``….lock.wait``) while it polls, and a holder that sees a waiter when it gives the lock back lets two
milliseconds pass before it asks again, so a busy process cannot take turn after turn.

POSIX only; elsewhere the gate runs without it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time

from codex.errors import DatabaseBusy

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["HostLock", "host_lock_for"]


class HostLock:
    """An exclusive advisory lock on ``path``, shared by the processes of this machine.

    One holder per process at a time (the write gate has one slot when it uses a host lock); the file
    is opened lazily in each process, so a forked or spawned worker gets its own.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fds: tuple[int, int, int] | None = None
        self._pid = 0
        self._courtesy_until = 0.0

    def _files(self) -> tuple[int, int, int]:
        """The lock, the wait marker, and a second handle on the marker (to look for other waiters)."""
        if self._fds is None or self._pid != os.getpid():
            flags = os.O_RDWR | os.O_CREAT
            wait = self.path + ".wait"
            self._fds = (
                os.open(self.path, flags, 0o600),
                os.open(wait, flags, 0o600),
                os.open(wait, flags, 0o600),
            )
            self._pid = os.getpid()
        return self._fds

    def acquire(self, timeout: float) -> None:
        """Take the lock, polling every half millisecond (without the GIL) for up to ``timeout`` s.

        Raises:
            DatabaseBusy: Another process kept it for ``timeout`` seconds.
        """
        assert fcntl is not None
        fd, waiting, _ = self._files()
        now = time.monotonic()
        deadline = now + timeout
        if now < self._courtesy_until:  # another process waited when this one gave the lock back
            time.sleep(self._courtesy_until - now)
        marked = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise DatabaseBusy(
                            f"another process on this machine kept the write turn for {timeout:g} s; "
                            "nothing was written, retry shortly",
                            retry_after=1,
                        ) from None
                    if not marked:
                        fcntl.flock(waiting, fcntl.LOCK_SH)
                        marked = True
                    time.sleep(0.0005)
        finally:
            if marked:
                fcntl.flock(waiting, fcntl.LOCK_UN)

    def release(self) -> None:
        """Give the lock back (and, when another process waits for it, step back for its turn)."""
        assert fcntl is not None and self._fds is not None
        fd, _, probe = self._fds
        fcntl.flock(fd, fcntl.LOCK_UN)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a waiter holds the marker
            self._courtesy_until = time.monotonic() + 0.002
        else:
            fcntl.flock(probe, fcntl.LOCK_UN)


def host_lock_for(database: str) -> HostLock | None:
    """The host lock of ``database`` (a file path or a server URL), or None where ``flock`` is missing.

    The lock file is ``codex-write-<sha256 of the name, 16 hex>.lock`` in the temporary directory, so
    every process on this machine that names the database the same way shares it.
    """
    if fcntl is None:  # pragma: no cover - not POSIX
        return None
    digest = hashlib.sha256(database.encode("utf-8")).hexdigest()[:16]
    return HostLock(os.path.join(tempfile.gettempdir(), f"codex-write-{digest}.lock"))
