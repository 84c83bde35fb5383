"""OpenTelemetry tracing: off by default, a no-op without the package, one span per request when on."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codex.api import create_app
from codex.api.tracing import install_tracing
from codex.config import LocalDb, load_settings
from codex.store import open_store
from tests.api.conftest import make_tokens
from tests.api.inprocess import serve_in_thread


def test_off_by_default_and_a_no_op_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings({}).otel is False
    assert install_tracing(FastAPI(), load_settings({})) is False
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if the extra were not installed
    assert install_tracing(FastAPI(), load_settings({"VOX_CODEX_OTEL": "1"})) is False


def test_one_span_per_request_named_by_the_route_template(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store = open_store(LocalDb(path=str(tmp_path / "codex.db")))
    try:
        token = make_tokens(store)["a_all"]
        app = create_app(store, settings=load_settings({}))
        assert install_tracing(app, load_settings({"VOX_CODEX_OTEL": "1"}), tracer_provider=provider)
        with serve_in_thread(app) as url:
            r = httpx.get(
                f"{url}/api/codex/query/changes.since",
                params={"topic": "*"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200
    finally:
        store.dispose()
    (span,) = [s for s in exporter.get_finished_spans() if "changes.since" in s.name]
    assert span.name == "GET /api/codex/query/changes.since"
    attrs = dict(span.attributes or {})
    assert attrs["http.response.status_code"] == 200 and attrs["codex.tenant"] == "tenant-a"
    assert attrs["codex.request_id"] == r.headers["x-request-id"]
