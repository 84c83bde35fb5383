"""``/health``, ``/ready`` (no auth) and ``/api/search/status``."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from codex.api.auth import Principal, bearer_scheme, require
from codex.api.state import AppState
from codex.errors import CodexError
from codex.migrate._verify import VerifyReport
from codex.search import status as search_corpus_status

__all__ = ["router"]

router = APIRouter()

REQUIRED_TABLES = (
    "codex_change_log",
    "codex_query_snapshots",
    "search_documents",
    "search_document_chunks",
    "search_indexing_jobs",
)
CAPABILITIES = {
    "codex_api_surface": True,
    "named_mutations": True,
    "named_queries": True,
    "sse": True,
    "websocket": True,
    "tenancy": True,
}


@router.get("/health", tags=["health"], summary="Liveness: the process answers.")
def health() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process runs."""
    return {"status": "ok"}


def _ready_body(report: VerifyReport) -> tuple[int, dict[str, Any]]:
    missing = [t for t in REQUIRED_TABLES if t in report.missing_tables] + [
        t for t in report.missing_tables if t not in REQUIRED_TABLES
    ]
    body: dict[str, Any] = {
        "status": "ready" if report.ok else "not_ready",
        "schema_version": report.schema_version,
        "expected_schema_version": report.expected_schema_version,
        "revision": report.revision,
        "head_revision": report.head_revision,
        "baseline_digest": report.baseline_digest,
        "live_digest": report.live_digest,
        "expected_digest": report.expected_digest,
        "capabilities": CAPABILITIES,
    }
    if not report.ok:
        body.update(problems=report.problems, missing_tables=missing, diff=report.diff)
    return (200 if report.ok else 503), body


@router.get(
    "/ready",
    tags=["health"],
    summary="Readiness: 200 only when the database is exactly at head (version, tables, live digest).",
    responses={503: {"description": "Not at head: the body names what is wrong."}},
)
async def ready(request: Request) -> JSONResponse:
    """Compare the live database with the code's head; 503 with the differences otherwise."""
    state: AppState = request.app.state.codex
    try:
        with anyio.fail_after(10):
            report = await anyio.to_thread.run_sync(state.store.verify, abandon_on_cancel=True)
    except TimeoutError:
        return JSONResponse({"status": "not_ready", "error": "the database did not answer within 10 s"}, 503)
    except CodexError as exc:
        return JSONResponse({"status": "not_ready", **exc.to_dict()}, 503)
    except Exception as exc:
        return JSONResponse({"status": "not_ready", "error": type(exc).__name__, "message": str(exc)}, 503)
    status, body = _ready_body(report)
    replica = state.store.replica_status()
    if replica is not None:
        body["replica"] = replica  # how far behind the primary this server's reads may be
    return JSONResponse(body, status)


@router.get(
    "/api/search/status",
    tags=["search"],
    summary="Row counts of the search tables and indexing jobs by status.",
    dependencies=[Depends(bearer_scheme)],
)
def search_status(request: Request, who: Principal = Depends(require("read"))) -> dict[str, Any]:
    """The tenant's search counts (documents, chunks, jobs by status); an operator's span the corpus + index sizes."""
    state: AppState = request.app.state.codex
    prefix = None if who.is_operator else f"{who.tenant}/"  # a tenant counts its own documents only
    with state.store.connect() as conn:
        return dict(search_corpus_status(conn, uri_prefix=prefix))
