"""Per-request observation: one metrics sample and one structured access record per HTTP request.

:class:`RequestObserver` is an ASGI middleware that sits inside :class:`codex.api.logs.RequestIds` (so the
request id is known). When the response ends it

* counts the request in ``codex_http_requests_total{route,method,status}`` and times it in
  ``codex_http_request_duration_seconds`` (:mod:`codex.api.metrics`), labelled with the route *template*
  (``/api/codex/query/{name}``), ``<unmatched>`` when no route matched;
* writes one record to the ``codex.access`` logger carrying ``route``, ``method``, ``status``,
  ``duration_ms`` and the caller's ``tenant`` (set by the auth dependency), which the JSON log format
  (:mod:`codex.api.logs`) renders as fields.

Streams are recorded when they end; WebSocket connections are not timed here.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codex.api.metrics import Metrics

__all__ = ["ACCESS_LOGGER", "RequestObserver", "route_template"]

ACCESS_LOGGER = "codex.access"
UNMATCHED = "<unmatched>"
log = logging.getLogger(ACCESS_LOGGER)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/codex/query/{name}``), or ``<unmatched>``."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED


class RequestObserver:
    """ASGI middleware: metrics and an access record for every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = str(scope.get("method", "GET"))
            self.metrics.observe_request(route, method, status, elapsed)
            principal = (scope.get("state") or {}).get("principal")
            log.info(
                "%s %s %s %.1f ms",
                method,
                route,
                status,
                elapsed * 1000,
                extra={
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "tenant": getattr(principal, "tenant", None),
                },
            )
