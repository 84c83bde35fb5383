"""HTTP error mapping: one table from the Codex error tree to status codes, and JSON bodies everywhere.

Every error response is ``{"error": <kind>, "message": <sentence>, ...details, "request_id": …}``.
Request validation errors are 422 with ``fields`` (location, message); malformed JSON is 400; nothing
maps to 500 except a genuine bug, whose body never carries a traceback (nor a secret: the log line
of a bug is redacted by :mod:`codex.api.logs`).

Waits and refusals say when to come back: ``DatabaseBusy`` (a lock not granted in time) and
``DatabaseUnavailable`` (the database cannot be reached) are both 503 with ``Retry-After``, the body
naming which; a quota or throttle (429) carries ``Retry-After`` when it resets (seconds to the quota
window's end).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from codex.api.logs import current_request_id, redact
from codex.engine import translate_db_error
from codex.errors import (
    ApiError,
    CodexError,
    ConfigError,
    Conflict,
    CursorExpired,
    DatabaseBusy,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    SchemaError,
)

__all__ = ["STATUS", "ApiError", "error_headers", "install_error_handlers", "status_for"]

log = logging.getLogger("codex.api")

STATUS: dict[type[CodexError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    CursorExpired: 410,
    QuotaExceeded: 429,
    SchemaError: 503,
    DatabaseUnavailable: 503,
    ConfigError: 500,
}
"""Codex error → HTTP status (first matching class in MRO order)."""


def status_for(exc: CodexError) -> int:
    """The HTTP status of a Codex error."""
    if isinstance(exc, ApiError):
        return exc.status
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


_DEFAULT_RETRY = {DatabaseBusy: 1, DatabaseUnavailable: 5}
"""Retry-After (seconds) of a 503 whose error does not say."""


def error_headers(exc: CodexError) -> dict[str, str]:
    """The headers of an error response: ``WWW-Authenticate`` on 401, ``Retry-After`` on waits.

    ``Retry-After`` comes from ``details["retry_after"]`` (whole seconds, at least 1), or a default
    for ``DatabaseBusy`` / ``DatabaseUnavailable``.
    """
    status = status_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry = exc.details.get("retry_after")
    if retry is None and status == 503:
        retry = next((v for cls, v in _DEFAULT_RETRY.items() if isinstance(exc, cls)), None)
    if isinstance(retry, (int, float)) and status in (429, 503) and math.isfinite(retry):
        headers["Retry-After"] = str(max(1, math.ceil(retry)))
    return headers


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    body = {**body, "message": redact(str(body.get("message", "")))}  # never echo a secret
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a JSON body."""

    @app.exception_handler(CodexError)
    async def _codex(request: Request, exc: CodexError) -> JSONResponse:
        return _json(status_for(exc), exc.to_dict(), error_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _json(400, {"error": "MalformedJSON", "message": "the request body is not valid JSON"})
        fields = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "message": str(e.get("msg", "")),
                "type": e.get("type"),
            }
            for e in errors
        ]
        return _json(422, {"error": "ValidationError", "message": "the request is invalid", "fields": fields})

    @app.exception_handler(ValidationError)
    async def _model(request: Request, exc: ValidationError) -> JSONResponse:
        fields = [
            {"loc": [str(p) for p in e["loc"]], "message": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        return _json(422, {"error": "ValidationError", "message": "the request is invalid", "fields": fields})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}.get(
            exc.status_code, "HTTPError"
        )
        return _json(
            exc.status_code, {"error": kind, "message": str(exc.detail)}, getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        try:
            mapped = translate_db_error(exc)
        except Exception:
            mapped = None
        if mapped is not None and type(exc).__module__.startswith("sqlalchemy"):
            return _json(status_for(mapped), mapped.to_dict(), error_headers(mapped))
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(500, {"error": "InternalError", "message": "internal error; see the server log"})
