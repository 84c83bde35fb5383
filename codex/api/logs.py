"""Request ids and secret-free logs.

* Every HTTP request and WebSocket connection gets a request id: the caller's ``X-Request-ID`` when it
  is a short token of safe characters, a fresh one otherwise. It is answered in the ``X-Request-ID``
  header, carried by every error body (``"request_id"``) and WebSocket error frame, and stamped on
  every log line written while the request runs (``%(request_id)s``; :func:`log_config` puts it in
  the format of ``codex serve``).
* Secrets never reach a log line: :class:`RedactSecrets` rewrites records before any handler formats
  them. It blanks the values of secret-looking query parameters (``?token=…``, ``access_token``,
  ``api_key``, ``password``…), ``Authorization`` / ``Bearer`` values and anything shaped like a Codex
  token (``codex_`` + 43 characters), in messages, arguments (the access log's request line) and
  tracebacks. Codex never accepts a token in the URL; the redaction is for the clients that send one
  anyway (the access log would otherwise keep it).
* Two formats (:func:`log_config`): ``text`` (uvicorn's lines with ``[request id]``) and ``json``
  (:class:`JsonFormatter`: one object per line with ``time``, ``level``, ``logger``, ``message``,
  ``request_id`` and, on the access records of :mod:`codex.api.observe`, ``tenant``, ``route``,
  ``method``, ``status`` and ``duration_ms``). ``codex serve`` picks JSON when stdout is not a terminal
  (:func:`resolve_log_format`).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import sys
import traceback
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REDACTED",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "LogFormat",
    "RedactSecrets",
    "RequestIds",
    "current_request_id",
    "install_log_hygiene",
    "log_config",
    "redact",
    "resolve_log_format",
]

LogFormat = Literal["json", "text"]

REQUEST_ID_HEADER = "X-Request-ID"
REDACTED = "[REDACTED]"
_request_id: ContextVar[str | None] = ContextVar("codex_request_id", default=None)
_INCOMING = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SECRET_PARAMS = (
    r"token|access_token|refresh_token|id_token|api_key|apikey|key|secret|client_secret|password|passwd|"
    r"auth|authorization|session|codex_console|sig|signature"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # ?token=… / &api_key=… in a URL or request line (also percent-encoded names stay as they are)
    (re.compile(rf"(?i)([?&;](?:{_SECRET_PARAMS})=)[^&;#\s\"']*"), rf"\1{REDACTED}"),
    # Authorization: Bearer …, "authorization": "…", authorization=… (credential-shaped values: 8+
    # characters, so that "a bearer token is required (Authorization: Bearer <token>)" stays readable)
    (
        re.compile(
            r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)[A-Za-z0-9._~+/=-]{8,}"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # anything shaped like a Codex token, wherever it appears
    (re.compile(r"(?<![A-Za-z0-9_-])codex_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"), REDACTED),
    # the console's session cookie
    (re.compile(r"(?i)(codex_console=)[^;\s\"']+"), rf"\1{REDACTED}"),
)


def current_request_id() -> str | None:
    """The id of the request being served by the calling task (None outside a request)."""
    return _request_id.get()


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``[REDACTED]``.

    Example:
        >>> redact('"GET /api/codex/subscribe/x?after_id=3&token=codex_abc HTTP/1.1" 200')
        '"GET /api/codex/subscribe/x?after_id=3&token=[REDACTED] HTTP/1.1" 200'
    """
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIds:
    """ASGI middleware: give every request a request id (see the module docstring).

    The id is set in a context variable for the request's task (and the tasks it starts), and added
    to the response headers. The variable is deliberately not reset when the call returns: each
    request runs in its own task, and the app's last-resort error handler, which runs outside this
    middleware, still reads it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _INCOMING.fullmatch(incoming) else uuid.uuid4().hex
        _request_id.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, with_id)


class RedactSecrets(logging.Filter):
    """A logging filter: stamps ``record.request_id`` and redacts secrets (see :func:`redact`).

    Attach it to handlers (it then sees every record they emit) or to the loggers that create records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        if getattr(record, "_codex_redacted", False):
            return True
        record._codex_redacted = True
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            # uvicorn's AccessFormatter reads the tuple itself: keep its shape, redact the request line
            record.args = (args[0], args[1], redact(str(args[2])), args[3], args[4])
        else:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it to the formatter to report
                return True
            cleaned = redact(message)
            if cleaned != message or args:
                record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FIELDS = ("tenant", "route", "method", "status", "duration_ms")
"""Extra record attributes a JSON line carries when a record has them (see :mod:`codex.api.observe`)."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id``.

    Records that carry ``tenant``, ``route``, ``method``, ``status`` or ``duration_ms`` (the access
    records) add them; a traceback goes in ``exc``. Run :class:`RedactSecrets` on the handler first: the
    formatter redacts the strings it adds itself, not the message.

    Example:
        >>> record = logging.makeLogRecord({"msg": "hi", "levelname": "INFO", "name": "codex", "status": 200})
        >>> record.created = 0.0
        >>> JsonFormatter().format(record)
        '{"time": "1970-01-01T00:00:00.000Z", "level": "INFO", "logger": "codex", "message": "hi", "request_id": "-", "status": 200}'
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        doc: dict[str, Any] = {
            "time": stamp.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id() or "-",
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = redact(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def resolve_log_format(choice: str | None, stream: TextIO | None = None) -> LogFormat:
    """``json`` or ``text`` for a choice of ``json``, ``text`` or ``auto``/None (JSON unless a terminal).

    Example:
        >>> import io
        >>> resolve_log_format("auto", io.StringIO()), resolve_log_format("text")
        ('json', 'text')
    """
    if choice == "json":
        return "json"
    if choice == "text":
        return "text"
    out = sys.stdout if stream is None else stream
    return "text" if out.isatty() else "json"


_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "codex")


def install_log_hygiene() -> None:
    """Attach :class:`RedactSecrets` to the service's loggers and their handlers (idempotent).

    ``codex serve`` configures logging with :func:`log_config` already; this covers an app served
    some other way (another ASGI server, ``uvicorn codex.api:create_app --factory``).
    """
    targets: list[logging.Filterer] = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        targets.append(logger)
        targets.extend(logger.handlers)
    targets.extend(logging.getLogger().handlers)
    for target in targets:
        if not any(isinstance(f, RedactSecrets) for f in target.filters):
            target.addFilter(RedactSecrets())


def log_config(level: str = "info", fmt: LogFormat = "text") -> dict[str, Any]:
    """uvicorn's logging configuration with request ids in every line and secrets redacted.

    Args:
        level: The level of the ``codex`` loggers (uvicorn's own follow its ``log_level``).
        fmt: ``text``: uvicorn's lines (its access log included); ``json``: one :class:`JsonFormatter`
            object per line on stdout, the access records written by ``codex.access`` (route template,
            tenant, status, duration) instead of uvicorn's.

    Returns:
        A ``logging.config.dictConfig`` mapping for ``uvicorn.run(log_config=…)``.
    """
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactSecrets}}
    if fmt == "json":
        config["formatters"] = {"json": {"()": JsonFormatter}}
        config["handlers"] = {
            "default": {"formatter": "json", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
        }
        for handler in config["handlers"].values():
            handler["filters"] = ["redact"]
        config["loggers"]["uvicorn.access"] = {"handlers": [], "level": "WARNING", "propagate": False}
        config["loggers"]["codex"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
        return config
    formatters = config["formatters"]
    formatters["default"]["fmt"] = "%(levelprefix)s [%(request_id)s] %(message)s"
    formatters["access"]["fmt"] = (
        '%(levelprefix)s [%(request_id)s] %(client_addr)s - "%(request_line)s" %(status_code)s'
    )
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    config["loggers"]["codex"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    # uvicorn's access line is the access log in text: codex.access would say the same twice
    config["loggers"]["codex.access"] = {"handlers": [], "level": "WARNING", "propagate": False}
    return config
