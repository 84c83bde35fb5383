"""Prometheus metrics for one app: a registry per app, the instruments, and the scrape-time readings.

Every app built by :func:`codex.api.create_app` has its own :class:`Metrics` (``app.state.codex_metrics``)
with its own ``CollectorRegistry``: tests build many apps in one process, and a process-global registry
would refuse the second app's instruments (duplicate names) or mix their counts.

Counters and histograms move as things happen:

* ``codex_http_requests_total{route,method,status}`` and ``codex_http_request_duration_seconds{route,method}``
  (the route *template*, e.g. ``/api/codex/query/{name}``, never the raw path: bounded cardinality);
* ``codex_deliveries_total{transport}`` and ``codex_delivery_latency_seconds{transport}``: change-log rows
  the change hub handed to its members (one per row and member: ``sse`` streams, ``websocket``
  subscriptions, ``live`` queries), counted per tick and group, never per member; and, once per tick and
  transport, the time from the hub seeing the commit to the tick's last hand-over
  (:data:`codex.reactive.hub.OnDeliver`). Replays read from the log (a join, a resume) are not counted;
* ``codex_live_query_evaluations_total`` (:func:`record_live_query_evaluation`, called by
  :mod:`codex.api.live` for each evaluation);
* ``codex_db_busy_total`` and ``codex_db_errors_total{kind}`` (every driver error of the store's engines,
  classified once by :func:`codex.engine.translate_db_error`).

Gauges are read when scraped (:class:`_StoreCollector`): ``codex_change_log_head``,
``codex_subscribers{transport}`` (``sse`` and ``websocket`` streams, and ``live``: the subscribers of live
queries), ``codex_live_queries`` (live queries evaluated, one per tenant, query and parameters),
``codex_schema_info{revision,digest}`` and, for an embedded replica, ``codex_replica_lag_frames``.

Who may scrape is one decision in one place: :data:`METRICS_SCOPE` (see :func:`metrics_scope`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event

from codex.engine import translate_db_error

if TYPE_CHECKING:
    from codex.api.live import LiveQueries
    from codex.reactive.hub import ChangeHub
    from codex.store import Store

__all__ = [
    "CONTENT_TYPE",
    "METRICS_SCOPE",
    "TRANSPORTS",
    "Metrics",
    "metrics_scope",
    "record_live_query_evaluation",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format."""

METRICS_SCOPE = "operator"
"""The token scope that may read ``GET /metrics``: ``operator``, since the metrics span every tenant (a
tenant's ``admin`` does not reach them). Every check goes through :func:`metrics_scope`."""
TRANSPORTS = ("sse", "websocket", "live")
"""The transports ``codex_subscribers`` always reports (zero included)."""

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SCHEMA_TTL = 30.0
"""Seconds a scrape reuses the schema revision and digest (reading the live schema costs a few ms)."""


def metrics_scope() -> str:
    """The scope a token needs to scrape ``/metrics`` (:data:`METRICS_SCOPE`)."""
    return METRICS_SCOPE


def _error_kind(error: BaseException) -> str:
    """``busy``, ``unavailable``, ``conflict``, ``schema``, ``invalid_input``… for a driver error."""
    name = type(translate_db_error(error)).__name__
    return {
        "DatabaseBusy": "busy",
        "DatabaseUnavailable": "unavailable",
        "Conflict": "conflict",
        "SchemaError": "schema",
        "InvalidInput": "invalid_input",
    }.get(name, name.lower())


class Metrics:
    """The instruments of one app, on their own registry.

    Example:
        >>> m = Metrics()
        >>> m.live_query_evaluated()
        >>> b"codex_live_query_evaluations_total 1.0" in m.render()
        True
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "codex_http_requests", "HTTP requests answered.", ["route", "method", "status"], registry=r
        )
        self.http_duration = Histogram(
            "codex_http_request_duration_seconds",
            "Time to answer an HTTP request (a stream: until it ends).",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "codex_deliveries",
            "Change-log rows handed to the hub's members (one per row and member).",
            ["transport"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "codex_delivery_latency_seconds",
            "From the hub seeing a committed change to handing it to its members (one per tick and transport).",
            ["transport"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.live_query_evaluations = Counter(
            "codex_live_query_evaluations", "Live query re-evaluations.", registry=r
        )
        self.db_busy = Counter(
            "codex_db_busy", "Database calls refused because the database was busy (locked).", registry=r
        )
        self.db_errors = Counter("codex_db_errors", "Database errors by kind.", ["kind"], registry=r)
        self._collector: _StoreCollector | None = None
        self._engines: list[sa.Engine] = []

    # -- events -------------------------------------------------------------------------------------
    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request."""
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route, method).observe(seconds)

    def delivered(self, counts: Mapping[str, int], latency: float) -> None:
        """What one hub tick handed over (:data:`codex.reactive.hub.OnDeliver`): rows by transport, and the
        seconds from the hub seeing the commit to the last hand-over (observed once per transport)."""
        for transport, count in counts.items():
            if count:
                self.deliveries.labels(transport).inc(count)
                self.delivery_latency.labels(transport).observe(max(0.0, latency))

    def live_query_evaluated(self, count: int = 1) -> None:
        """Count live query evaluations."""
        self.live_query_evaluations.inc(count)

    def db_error(self, error: BaseException) -> None:
        """Count a database error (and a busy one twice: ``codex_db_busy_total`` too)."""
        kind = _error_kind(error)
        self.db_errors.labels(kind).inc()
        if kind == "busy":
            self.db_busy.inc()

    # -- wiring -------------------------------------------------------------------------------------
    def watch_store(
        self,
        store: Store,
        hub: ChangeHub,
        replica_lag: Callable[[], int | None],
        live: LiveQueries | None = None,
    ) -> None:
        """Count the store's driver errors and read its gauges at scrape time (until :meth:`close`).

        Args:
            store: The app's store (its engines' errors are counted).
            hub: The change hub (subscribers by transport).
            replica_lag: Reads an embedded replica's lag (called at scrape time, replicas only).
            live: The live queries (their subscribers), if the app has them.
        """
        for engine in {id(e): e for e in (store.engine, store.read_engine)}.values():
            event.listen(engine, "handle_error", self._on_error)
            self._engines.append(engine)
        self._collector = _StoreCollector(store, hub, replica_lag, live)
        self.registry.register(self._collector)

    def close(self) -> None:
        """Stop watching the store (the app's shutdown)."""
        for engine in self._engines:
            if event.contains(engine, "handle_error", self._on_error):
                event.remove(engine, "handle_error", self._on_error)
        self._engines.clear()
        if self._collector is not None:
            self.registry.unregister(self._collector)
            self._collector = None

    def _on_error(self, ctx: sa.engine.ExceptionContext) -> None:
        error = ctx.chained_exception or ctx.sqlalchemy_exception or ctx.original_exception
        if error is not None:
            self.db_error(error)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def record_live_query_evaluation(app_state: Any, count: int = 1) -> None:
    """Count ``count`` live query evaluations on the app owning ``app_state`` (a no-op without metrics).

    Args:
        app_state: ``request.app.state`` (or anything carrying ``codex_metrics``).
        count: Evaluations to add.
    """
    metrics = getattr(app_state, "codex_metrics", None)
    if isinstance(metrics, Metrics):
        metrics.live_query_evaluated(count)


class _StoreCollector(Collector):
    """Gauges read from the store and the hub when Prometheus scrapes."""

    def __init__(
        self,
        store: Store,
        hub: ChangeHub,
        replica_lag: Callable[[], int | None],
        live: LiveQueries | None = None,
    ) -> None:
        self.store, self.hub, self.replica_lag, self.live = store, hub, replica_lag, live
        self._schema: tuple[float, str, str] | None = None

    def describe(self) -> list[Metric]:
        return []  # read at scrape time only: never query the database at registration

    def _schema_info(self, conn: sa.Connection) -> tuple[str, str]:
        from codex.migrate import current_revision
        from codex.schema import read_live_schema

        now = time.monotonic()
        if self._schema is None or now - self._schema[0] > _SCHEMA_TTL:
            revision = current_revision(conn) or "none"
            self._schema = (now, revision, read_live_schema(conn).digest())
        return self._schema[1], self._schema[2]

    def collect(self) -> Iterable[Metric]:
        from codex.repositories.changelog import ChangeLogRepository

        subscribers = GaugeMetricFamily(
            "codex_subscribers",
            "Open subscriptions: SSE streams, WebSocket subscriptions, subscribers of live queries.",
            labels=["transport"],
        )
        tally = self.hub.transports()
        queries = tally.pop("live", 0)  # the hub's live members are the queries, not their subscribers
        tally["live"] = self.live.subscriber_count if self.live is not None else 0
        for transport in (*TRANSPORTS, *sorted(set(tally) - set(TRANSPORTS))):
            subscribers.add_metric([transport], tally.get(transport, 0))
        yield subscribers
        yield GaugeMetricFamily(
            "codex_live_queries", "Live queries (one per tenant, query and parameters).", value=queries
        )
        try:
            with self.store.connect() as conn:
                head = ChangeLogRepository(conn).head()
                revision, digest = self._schema_info(conn)
        except Exception:  # the database is away: /ready says so; the other series still scrape
            return
        yield GaugeMetricFamily("codex_change_log_head", "Newest change-log id.", value=head)
        info = GaugeMetricFamily(
            "codex_schema_info",
            "The applied revision and the live schema digest.",
            labels=["revision", "digest"],
        )
        info.add_metric([revision, digest], 1)
        yield info
        if self.store.config.mode == "replica":
            lag = self.replica_lag()
            if lag is not None:
                yield GaugeMetricFamily(
                    "codex_replica_lag_frames",
                    "Change-log rows the embedded replica has not pulled from the primary yet.",
                    value=lag,
                )
