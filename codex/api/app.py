"""The ASGI app factory.

FastAPI (on Starlette) was chosen over bare Starlette because the contract is the product: typed
request models give 422s with field errors for free, and the OpenAPI document that
``contracts/codex-api.openapi.yaml`` commits is generated from the same models the handlers use. SSE
and WebSocket come from Starlette underneath.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from wsgiref.simple_server import WSGIServer

from fastapi import FastAPI
from fastapi.middleware import Middleware
from starlette.types import Receive, Scope, Send

from codex import __version__
from codex.api.bookkeeping import Bookkeeper
from codex.api.boundary import InputBoundary
from codex.api.errors import install_error_handlers
from codex.api.limits import BodySizeLimit
from codex.api.live import LiveQueries
from codex.api.logs import RequestIds, install_log_hygiene
from codex.api.metrics import Metrics
from codex.api.named import register_builtins
from codex.api.observe import RequestObserver
from codex.api.registry import Registry
from codex.api.replica import ReplicaTracker
from codex.api.routes_admin import add_admin_routes
from codex.api.routes_codex import add_codex_routes
from codex.api.routes_core import router as core_router
from codex.api.routes_graph import add_graph_routes
from codex.api.routes_metrics import add_metrics_routes
from codex.api.routes_search import add_search_routes
from codex.api.routes_stream import add_stream_routes
from codex.api.snapshots import SnapshotRecorder
from codex.api.state import AppState, make_hub
from codex.api.streaming import SERVER_SEND, end_streams
from codex.api.tracing import install_tracing
from codex.config import CodexSettings, load_settings
from codex.console import mount_console
from codex.reactive.push import tend
from codex.reactive.retention import RetentionPolicy, run_retention
from codex.store import Store, open_store

__all__ = ["CodexApp", "create_app", "default_registry"]


class CodexApp(FastAPI):
    """The FastAPI app, keeping the server's own ``send`` in each HTTP scope (before any middleware
    wraps it): SSE streams write to their connection directly (:mod:`codex.api.streaming`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def default_registry() -> Registry:
    """The built-in named mutations and queries."""
    registry = Registry()
    register_builtins(registry)
    return registry


def create_app(
    store: Store | None = None,
    *,
    settings: CodexSettings | None = None,
    registry: Registry | None = None,
) -> FastAPI:
    """Build the Codex HTTP app.

    Args:
        store: The store to serve; when None the lifespan opens the configured database (without
            migrating it: deploys run ``alembic upgrade head`` first, and ``/ready`` reports).
        settings: Service settings (default: :func:`codex.config.load_settings`).
        registry: Named mutations and queries (default: the built-ins).

    Returns:
        The FastAPI app. Its lifespan owns the store (when it opened it) and the change hub.

    Example:
        >>> app = create_app()  # then: uvicorn.run(app)
    """
    settings = settings or load_settings()
    registry = registry or default_registry()
    metrics = Metrics()
    replica = ReplicaTracker()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        the_store = (
            store
            if store is not None
            else open_store(migrate="none", busy_timeout_ms=settings.busy_timeout_ms)
        )
        install_log_hygiene()
        hub = make_hub(the_store, settings, on_deliver=metrics.delivered)
        snapshots = SnapshotRecorder(the_store)
        book = Bookkeeper(the_store, settings)
        live = LiveQueries(hub, the_store, debounce=settings.live_debounce_seconds, app_state=app.state)
        app.state.codex = state = AppState(
            store=the_store,
            settings=settings,
            registry=registry,
            hub=hub,
            snapshots=snapshots,
            book=book,
            live=live,
        )
        live.limiter = state.readers()
        if settings.wake_on_commit:
            the_store.commit_listeners.append(hub.notify)
        metrics.watch_store(the_store, hub, lambda: replica.state(app.state.codex).lag_changes, live)
        exporter = serve_metrics(metrics, settings)
        await hub.start()
        await snapshots.start()
        await book.start()
        tending = asyncio.create_task(
            tend(hub, keepalive=settings.sse_keepalive_seconds, more=live.streams), name="codex-tend"
        )
        policy = RetentionPolicy(settings.retention_keep_last, settings.retention_max_age_seconds)
        background = [tending]
        if policy.active:
            background.append(
                asyncio.create_task(
                    run_retention(the_store, policy, every=settings.retention_interval_seconds),
                    name="codex-retention",
                )
            )
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            end_streams(hub, live)
            await book.stop()
            await snapshots.stop()
            await hub.stop()
            if hub.notify in the_store.commit_listeners:
                the_store.commit_listeners.remove(hub.notify)
            if exporter is not None:
                exporter.shutdown()
                exporter.server_close()
            metrics.close()
            replica.dispose()
            if owned:
                the_store.dispose()

    app = CodexApp(
        title="Codex API",
        version=__version__,
        summary="Named queries and mutations, live change streams and readiness for a Codex store.",
        lifespan=lifespan,
        # outermost first: a request id for everything, then the size limit, then the input rules
        middleware=[
            Middleware(RequestIds),
            Middleware(RequestObserver, metrics=metrics),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
            Middleware(InputBoundary),
        ],
    )
    app.state.codex_metrics = metrics
    install_error_handlers(app)
    app.include_router(core_router)
    add_codex_routes(app, registry)
    add_stream_routes(app)
    add_graph_routes(app)
    add_admin_routes(app, replica)
    add_search_routes(app)
    add_metrics_routes(app)
    mount_console(app)
    install_tracing(app, settings)  # a no-op unless VOX_CODEX_OTEL=1 and OpenTelemetry is installed
    return app


def serve_metrics(metrics: Metrics, settings: CodexSettings) -> WSGIServer | None:
    """Serve ``metrics`` without auth on ``settings.metrics_port`` (None: not configured).

    The exporter binds the service's host (loopback by default): a port that needs no token must be
    reachable only by the scraper. Under ``codex serve --workers N`` only the first worker gets the port
    (the others log a warning): scrape ``GET /metrics`` per worker instead, or run one worker.
    """
    if settings.metrics_port is None:
        return None
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(
            settings.metrics_port, addr=settings.host, registry=metrics.registry
        )
    except OSError as exc:  # e.g. the port is taken (with --workers N, the first worker holds it)
        logging.getLogger("codex.api").warning(
            "metrics: cannot serve on %s:%s (%s); GET /metrics still answers",
            settings.host,
            settings.metrics_port,
            exc,
        )
        return None
    return server
