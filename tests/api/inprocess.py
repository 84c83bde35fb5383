"""Serve an app built in the test process (a custom registry or settings) with uvicorn, on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from tests.sqld import free_port

__all__ = ["serve_in_thread"]


@contextmanager
def serve_in_thread(app: FastAPI, **config: object) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread of this process; yields its base URL; stops it after.

    Args:
        app: The ASGI app (its lifespan runs).
        **config: Extra ``uvicorn.Config`` options.
    """
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", **config)  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, name="codex-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
