"""OpenTelemetry tracing, optional and off by default: one server span per HTTP request.

Install the extra (``pip install 'codex[otel]'``) and set ``VOX_CODEX_OTEL=1``; spans then go to the
tracer provider the process has (configure one, and its exporter, the usual OpenTelemetry way, e.g. by
running under ``opentelemetry-instrument``). Without the setting, or without the package, nothing is
added to the app and nothing is imported: tracing costs nothing when unused.

Each span is named ``<METHOD> <route template>`` and carries ``http.request.method``, ``http.route``,
``http.response.status_code``, ``codex.request_id`` and ``codex.tenant``; a 5xx marks it as an error.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codex.api.observe import route_template
from codex.config import CodexSettings

__all__ = ["install_tracing"]

log = logging.getLogger("codex.api")


class _Tracing:
    """ASGI middleware: a server span around every HTTP request."""

    def __init__(self, app: ASGIApp, tracer: Any) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        method = str(scope.get("method", "GET"))
        status = 500
        with self.tracer.start_as_current_span(
            f"{method} {scope.get('path', '')}", kind=SpanKind.SERVER
        ) as span:

            async def watch(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await self.app(scope, receive, watch)
            finally:
                route = route_template(scope)
                state = scope.get("state") or {}
                principal = state.get("principal")
                span.update_name(f"{method} {route}")  # the template, never the raw path
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("codex.request_id", str(state.get("request_id", "")))
                if principal is not None:
                    span.set_attribute("codex.tenant", str(principal.tenant))
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


def install_tracing(app: FastAPI, settings: CodexSettings, *, tracer_provider: Any = None) -> bool:
    """Trace ``app``'s requests when ``settings.otel`` is on and OpenTelemetry is installed.

    Args:
        app: The app (before it starts).
        settings: ``otel`` switches tracing on.
        tracer_provider: The provider to use (default: the process's global one).

    Returns:
        True when the middleware was added; False when tracing is off or the package is missing (a
        warning says which).
    """
    if not settings.otel:
        return False
    try:
        from opentelemetry import trace
    except ImportError:
        log.warning("VOX_CODEX_OTEL is on but OpenTelemetry is not installed (pip install 'codex[otel]')")
        return False
    tracer = trace.get_tracer("codex", tracer_provider=tracer_provider)
    app.add_middleware(_Tracing, tracer=tracer)
    return True
