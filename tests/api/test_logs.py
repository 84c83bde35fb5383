"""Secret-free log lines with request ids (units of :mod:`codex.api.logs`)."""

from __future__ import annotations

import io
import logging

import pytest

from codex.api.logs import RedactSecrets, log_config, redact

TOKEN = "codex_" + "Zq9-x_" * 7 + "A"  # token-shaped (43 characters after the prefix), fixed for xdist


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            f'"GET /api/codex/subscribe/a?after_id=3&token={TOKEN} HTTP/1.1" 200',
            "after_id=3&token=[REDACTED]",
        ),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [REDACTED]"),
        ('headers={"authorization": "Basic dXNlcjpwYXNz"}', '"authorization": "Basic [REDACTED]"'),
        ("/x?api_key=abc&password=hunter2&q=ok", "/x?api_key=[REDACTED]&password=[REDACTED]&q=ok"),
        (f"unknown query '{TOKEN}'", "unknown query '[REDACTED]'"),
        ("index codex_idempotency_keys_created", "codex_idempotency_keys_created"),  # not a token
        (  # a placeholder is not a secret: error messages stay readable
            "a bearer token is required (Authorization: Bearer <token>)",
            "a bearer token is required (Authorization: Bearer <token>)",
        ),
    ],
)
def test_redact(text: str, kept: str) -> None:
    out = redact(text)
    assert kept in out and TOKEN not in out and "hunter2" not in out


def test_serve_logs_carry_request_ids_and_run_every_handler_through_the_filter() -> None:
    config = log_config("info")
    assert all(h["filters"] == ["redact"] for h in config["handlers"].values())
    assert all("%(request_id)s" in f["fmt"] for f in config["formatters"].values())
    assert config["loggers"]["codex"]["level"] == "INFO"


def test_the_filter_redacts_access_lines_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("[%(request_id)s] %(message)s"))
    logger = logging.getLogger("codex.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s in an argument", TOKEN)
        try:
            raise ValueError(f"Authorization: Bearer {TOKEN}")
        except ValueError:
            logger.exception("boom")
        access = logging.getLogger("uvicorn.access").makeRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:1", "GET", f"/x?token={TOKEN}", "1.1", 200),
            None,
        )
        handler.handle(access)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert TOKEN not in text and text.count("[REDACTED]") >= 3, text
    assert text.startswith("[-] token [REDACTED] in an argument")


def test_json_format_is_one_object_per_line_through_the_filter() -> None:
    import json

    from codex.api.logs import JsonFormatter, resolve_log_format

    config = log_config("info", "json")
    assert config["formatters"]["json"]["()"] is JsonFormatter
    assert all(h["filters"] == ["redact"] for h in config["handlers"].values())
    assert config["loggers"]["uvicorn.access"]["handlers"] == []  # codex.access is the access log
    assert log_config("info", "text")["loggers"]["codex.access"]["handlers"] == []
    assert resolve_log_format("auto", io.StringIO()) == "json" and resolve_log_format("text") == "text"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("codex.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("GET /x?token=%s", TOKEN, extra={"tenant": "t", "status": 200, "duration_ms": 1.5})
        try:
            raise ValueError(f"Authorization: Bearer {TOKEN}")
        except ValueError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert TOKEN not in stream.getvalue()
    assert lines[0]["message"] == "GET /x?token=[REDACTED]"
    assert {k: lines[0][k] for k in ("tenant", "status", "duration_ms", "level")} == {
        "tenant": "t",
        "status": 200,
        "duration_ms": 1.5,
        "level": "INFO",
    }
    assert lines[1]["level"] == "ERROR" and "[REDACTED]" in lines[1]["exc"]
