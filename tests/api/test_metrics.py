"""``GET /metrics``: scraped from a real server, the values move; the per-app registry and the error counts."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from codex.api import create_app
from codex.api.metrics import METRICS_SCOPE, Metrics, metrics_scope, record_live_query_evaluation
from codex.config import LocalDb
from codex.errors import CodexError
from codex.migrate import head_revision
from codex.store import open_store
from tests.api.conftest import Server, start_server
from tests.sqld import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _scrape(server: Server) -> Samples:
    with server.client("operator") as c:
        r = c.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return _parse(r.text)


def test_the_scope_is_one_switch() -> None:
    assert metrics_scope() == METRICS_SCOPE == "operator"  # the metrics span every tenant


def test_scraping_a_live_server_shows_the_values_move(server: Server) -> None:
    before = _scrape(server)
    mutate = (
        "codex_http_requests_total",
        {"route": "/api/codex/mutate/change", "method": "POST", "status": "200"},
    )
    assert _value(before, mutate[0], **mutate[1]) == 0
    head_before = _value(before, "codex_change_log_head")
    schema = [k for k in before if k[0] == "codex_schema_info"]
    assert len(schema) == 1 and dict(schema[0][1])["revision"] == head_revision()
    assert dict(schema[0][1])["digest"].startswith("0x")
    for transport in ("sse", "websocket", "live"):
        assert (("codex_subscribers", (("transport", transport),))) in before  # reported at zero too
        assert _value(before, "codex_subscribers", transport=transport) == 0
    assert _value(before, "codex_live_query_evaluations_total") == 0

    got: list[dict[str, object]] = []
    opened = threading.Event()

    def listen() -> None:
        with server.client("a_all") as c, c.stream("GET", "/api/codex/subscribe/metrics/*") as stream:
            opened.set()
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    if len(got) == 3:
                        return

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert opened.wait(10)
    deadline = time.monotonic() + 10
    while _value(_scrape(server), "codex_subscribers", transport="sse") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with server.client("a_all") as c:
        for i in range(3):
            r = c.post("/api/codex/mutate/change", json={"topic": f"metrics/{i}", "change_kind": "insert"})
            assert r.status_code == 200, r.text
        assert c.get("/api/codex/query/no.such.query").status_code == 404
    reader.join(10)
    assert len(got) == 3

    deadline = time.monotonic() + 10
    while True:  # the stream's request is counted when it ends
        after = _scrape(server)
        if _value(after, "codex_subscribers", transport="sse") == 0:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _value(after, mutate[0], **mutate[1]) == 3
    unknown = {"route": "/api/codex/query/{name}", "method": "GET", "status": "404"}
    assert _value(after, "codex_http_requests_total", **unknown) == 1
    assert not any("no.such.query" in str(labels) for _, labels in after)  # templates, never raw paths
    assert (
        _value(
            after,
            "codex_http_request_duration_seconds_count",
            route="/api/codex/mutate/change",
            method="POST",
        )
        == 3
    )
    assert _value(after, "codex_http_requests_total", route="/metrics", method="GET", status="200") >= 2
    assert _value(after, "codex_change_log_head") >= head_before + 3
    assert _value(after, "codex_deliveries_total", transport="sse") == 3  # one per row and stream
    # the hub times each tick's hand-over once per transport: the three commits took one to three ticks
    assert 1 <= _value(after, "codex_delivery_latency_seconds_count", transport="sse") <= 3
    assert 0 < _value(after, "codex_delivery_latency_seconds_sum", transport="sse") < 10
    assert _value(after, "codex_db_busy_total") == 0


def test_only_the_operator_scope_may_scrape(server: Server) -> None:
    for token in ("a_all", "a_read", "admin"):  # a tenant's admin is not an operator
        with server.client(token) as c:
            assert c.get("/metrics").status_code == 403
    with server.client(None) as c:
        assert c.get("/metrics").status_code == 401
    with server.client("operator") as c:
        assert c.get("/metrics").status_code == 200


def test_live_queries_count_their_subscribers_and_evaluations(server: Server) -> None:
    got: list[str] = []
    opened = threading.Event()

    def listen() -> None:
        params = {"topic": "livemetrics/*"}
        with (
            server.client("a_all") as c,
            c.stream("GET", "/api/codex/live/changes.since", params=params) as r,
        ):
            assert r.status_code == 200
            opened.set()
            for line in r.iter_lines():
                if line.startswith("event: "):
                    got.append(line[7:])
                    if len(got) == 2:
                        return

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert opened.wait(10)
    deadline = time.monotonic() + 10
    while _value(samples := _scrape(server), "codex_subscribers", transport="live") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _value(samples, "codex_live_queries") == 1
    assert _value(samples, "codex_live_query_evaluations_total") >= 1  # the first result
    with server.client("a_all") as c:
        r = c.post("/api/codex/mutate/change", json={"topic": "livemetrics/1", "change_kind": "insert"})
        assert r.status_code == 200, r.text
    reader.join(10)
    assert got == ["result", "result"]
    samples = _scrape(server)
    assert _value(samples, "codex_live_query_evaluations_total") >= 2
    assert _value(samples, "codex_deliveries_total", transport="live") >= 1  # the change, to the query


def test_a_separate_port_serves_metrics_without_a_token(tmp_path: Path) -> None:
    port = free_port()
    srv = start_server(
        LocalDb(path=str(tmp_path / "codex.db")), tmp_path, {"VOX_CODEX_METRICS_PORT": str(port)}
    )
    try:
        with srv.client("a_all") as c:
            c.get("/api/codex/query/changes.since", params={"topic": "*"})
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        samples = _parse(text)
        route = {"route": "/api/codex/query/changes.since", "method": "GET", "status": "200"}
        assert _value(samples, "codex_http_requests_total", **route) == 1
        assert any(name == "codex_schema_info" for name, _ in samples)
    finally:
        srv.stop()
        srv.store.dispose()


def test_every_app_has_its_own_registry_and_db_errors_are_counted(tmp_path: Path) -> None:
    from tests.api.inprocess import serve_in_thread

    store = open_store(LocalDb(path=str(tmp_path / "codex.db")))
    try:
        apps = [create_app(store), create_app(store)]
        with serve_in_thread(apps[0]), serve_in_thread(apps[1]):
            one, two = (app.state.codex_metrics for app in apps)
            assert isinstance(one, Metrics) and one.registry is not two.registry
            record_live_query_evaluation(apps[0].state)
            with pytest.raises(CodexError), store.connect() as conn:
                conn.exec_driver_sql("SELECT * FROM no_such_table")
            first, second = _parse(one.render().decode()), _parse(two.render().decode())
            assert _value(first, "codex_live_query_evaluations_total") == 1
            assert _value(second, "codex_live_query_evaluations_total") == 0
            assert _value(first, "codex_db_errors_total", kind="schema") == 1
            assert _value(second, "codex_db_errors_total", kind="schema") == 1  # both watch the store
        # after shutdown the apps stop watching the store
        with pytest.raises(CodexError), store.connect() as conn:
            conn.exec_driver_sql("SELECT * FROM no_such_table")
        assert _value(_parse(one.render().decode()), "codex_db_errors_total", kind="schema") == 1
    finally:
        store.dispose()


def test_busy_errors_count_twice() -> None:
    from codex.errors import DatabaseBusy

    m = Metrics()
    m.db_error(DatabaseBusy("database is locked"))
    samples = _parse(m.render().decode())
    assert _value(samples, "codex_db_busy_total") == 1
    assert _value(samples, "codex_db_errors_total", kind="busy") == 1


def test_a_taken_metrics_port_is_a_warning_not_a_crash() -> None:
    import socket

    from codex.api.app import serve_metrics
    from codex.config import load_settings

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings({"VOX_CODEX_METRICS_PORT": str(port)})
        assert serve_metrics(Metrics(), settings) is None
