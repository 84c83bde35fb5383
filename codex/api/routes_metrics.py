"""``GET /metrics``: the app's Prometheus metrics (:mod:`codex.api.metrics`), for operators only.

The route needs the scope :func:`codex.api.metrics.metrics_scope` names. A scraper that cannot send a
bearer token gets the same text on a separate port instead (``VOX_CODEX_METRICS_PORT``, bound to the
service's host; see :func:`codex.api.app.create_app`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from codex.api.auth import Principal, bearer_scheme, require
from codex.api.metrics import CONTENT_TYPE, Metrics, metrics_scope

__all__ = ["add_metrics_routes"]


def add_metrics_routes(app: FastAPI) -> None:
    """Mount ``GET /metrics``."""
    router = APIRouter(tags=["operations"], dependencies=[Depends(bearer_scheme)])

    @router.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus metrics of this server (operator scope).",
        responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format 0.0.4."}},
    )
    def metrics(request: Request, who: Principal = Depends(require(metrics_scope()))) -> Response:
        registry: Metrics = request.app.state.codex_metrics
        return Response(registry.render(), media_type=CONTENT_TYPE)

    app.include_router(router)
