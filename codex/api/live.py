"""Live queries: a named query's result, pushed again whenever a committed change alters it.

``GET /api/codex/live/{query}?params`` (SSE) and the WebSocket message ``{"type": "live", "id", "query",
"params"}`` subscribe to one named query with its parameters. The subscriber gets ``event: result``
``{result, digest, cursor}`` at once, then again each time the result differs after a change:

* **One evaluation per change and (tenant, query, canonical parameters)**, shared by every subscriber
  of that key: a :class:`LiveQuery` is one member of the change hub, whatever its number of
  subscribers.
* **Only changes that could alter the result** wake it: the hub offers it the tenant's changes on the
  topics the query declares (:attr:`codex.api.registry.Query.topics`, with the parameters filled in):
  never another tenant's change, never an unrelated topic.
* **Bursts are debounced** (``live_debounce_seconds``): the changes of a burst cost one evaluation; a
  change that lands during an evaluation makes one more, so the last pushed result always reflects
  every change the hub has seen.
* **Identical results are not pushed**: a subscriber is sent a result only when its digest differs
  from the last one it was sent.

Evaluations are reads in one read transaction bound to the subscriber's tenant
(``store.connect(tenant=…)``: ``BEGIN DEFERRED``, never the write
lock) on the bounded query threads. ``cursor`` is the change id the result is consistent with. A query
that fails after the first result (say, its conversation was deleted) pushes ``event: error`` with
the error body; the next successful evaluation pushes a result again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from pydantic import BaseModel

from codex.api.auth import Principal
from codex.api.errors import ApiError, status_for
from codex.api.metrics import record_live_query_evaluation
from codex.api.registry import Query
from codex.errors import CodexError
from codex.reactive import sse
from codex.reactive.feed import Batch
from codex.reactive.hub import ChangeHub
from codex.reactive.patterns import TopicPattern
from codex.reactive.push import Sink
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.reactivity import canonical_json
from codex.schema import keccak256_hex
from codex.store import Store

__all__ = ["LiveFrames", "LiveQueries", "LiveQuery", "LiveResult", "LiveStream", "LiveSubscriber"]

log = logging.getLogger("codex.api")


@dataclass(frozen=True)
class LiveResult:
    """One evaluation, encoded once for every subscriber.

    ``error`` is set (and ``result`` None) when the evaluation failed with a Codex error.
    """

    result: Any
    digest: str
    cursor: int
    error: dict[str, Any] | None = None

    @property
    def body(self) -> dict[str, Any]:
        """The event body: ``{result, digest, cursor}`` (or the error body with ``digest``/``cursor``)."""
        if self.error is not None:
            return {**self.error, "digest": self.digest, "cursor": self.cursor}
        return {"result": self.result, "digest": self.digest, "cursor": self.cursor}

    @property
    def kind(self) -> str:
        """``result`` or ``error``."""
        return "error" if self.error is not None else "result"

    def json(self) -> str:
        """The body as compact JSON (cached per result)."""
        cached: str | None = self.__dict__.get("_json")
        if cached is None:
            cached = sse.json_text(self.body)
            object.__setattr__(self, "_json", cached)
        return cached

    def sse(self) -> bytes:
        """The SSE frame (``event: result`` or ``error``, ``id:`` = cursor), encoded once."""
        cached: bytes | None = self.__dict__.get("_sse")
        if cached is None:
            cached = sse.event(self.json(), event_type=self.kind, event_id=self.cursor)
            object.__setattr__(self, "_sse", cached)
        return cached

    def chunk(self) -> bytes:
        """:meth:`sse` as one HTTP/1.1 chunk, encoded once."""
        cached: bytes | None = self.__dict__.get("_chunk")
        if cached is None:
            cached = sse.chunk(self.sse())
            object.__setattr__(self, "_chunk", cached)
        return cached


class LiveSubscriber(Protocol):
    """Someone a live query pushes to (an SSE stream, a WebSocket subscription)."""

    def push(self, result: LiveResult) -> None:
        """Send ``result`` (called on the event loop; must not block)."""


Evaluate = Callable[[Principal, Query, BaseModel], LiveResult]


class LiveQuery:
    """One (tenant, query, canonical parameters): its hub membership, subscribers and latest result."""

    transport = "live"

    def __init__(
        self,
        owner: LiveQueries,
        key: tuple[str, str, str],
        who: Principal,
        query: Query,
        params: BaseModel,
        patterns: tuple[TopicPattern, ...],
    ) -> None:
        self.owner, self.key, self.who, self.query, self.params = owner, key, who, query, params
        self.tenant = who.tenant
        self.patterns = patterns
        self.subscribers: dict[LiveSubscriber, str | None] = {}
        """Each subscriber with the digest it was last sent."""
        self.latest: LiveResult | None = None
        self.dirty = False
        self.evaluations = 0
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- hub member ---------------------------------------------------------------------------------
    def offer(self, batch: Batch) -> None:
        """A change of the tenant on a declared topic: evaluate again (debounced)."""
        self.dirty = True
        if self._task is None:
            self._task = asyncio.create_task(self._run(debounce=True), name=f"codex-live-{self.query.name}")

    # -- subscribers --------------------------------------------------------------------------------
    async def add(self, subscriber: LiveSubscriber) -> None:
        """Add a subscriber and send it the current result at once (evaluating first if there is none).

        Raises:
            CodexError: The first evaluation failed (the subscriber is not added).
        """
        if self.latest is None and self._task is None:
            self._task = asyncio.create_task(self._run(debounce=False))
        await asyncio.shield(self._first)
        latest = self.latest
        if latest is None or latest.error is not None:
            if not self.subscribers:
                self.owner.drop(self)
            raise _as_error(latest)
        self.subscribers[subscriber] = latest.digest
        subscriber.push(latest)

    def remove(self, subscriber: LiveSubscriber) -> None:
        """Remove a subscriber; the last one out stops the query (idempotent)."""
        self.subscribers.pop(subscriber, None)
        if not self.subscribers:
            self.owner.drop(self)

    def stop(self) -> None:
        """Leave the hub and stop evaluating."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if not self._first.done():
            self._first.cancel()

    # -- evaluation ---------------------------------------------------------------------------------
    async def _run(self, *, debounce: bool) -> None:
        try:
            while True:
                if debounce:
                    await asyncio.sleep(self.owner.debounce)  # a burst costs one evaluation
                self.dirty = False
                self.evaluations += 1
                self.owner.evaluations += 1
                record_live_query_evaluation(self.owner.app_state)
                try:
                    result = await anyio.to_thread.run_sync(
                        self.owner.evaluate, self.who, self.query, self.params, limiter=self.owner.limiter
                    )
                except Exception as exc:  # not a Codex error: a bug or the database away
                    log.warning("live query %s failed: %s", self.query.name, exc)
                    result = _failure(exc, self.latest)
                self._publish(result)
                if not self.dirty:
                    return
                debounce = True
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _publish(self, result: LiveResult) -> None:
        self.latest = result
        if not self._first.done():
            self._first.set_result(None)
        for subscriber, sent in tuple(self.subscribers.items()):
            if sent == result.digest:
                continue  # identical: nothing to push
            self.subscribers[subscriber] = result.digest
            try:
                subscriber.push(result)
            except Exception:
                log.exception("live query: a subscriber failed; removing it")
                self.remove(subscriber)


class LiveQueries:
    """Every live query of one server (see the module docstring).

    Args:
        hub: The change hub the queries join.
        store: The store they read.
        debounce: Seconds a change waits for the rest of its burst before the evaluation.
        limiter: Bounds the threads evaluating queries (shared with the query route).
        app_state: The app's ``app.state``: its metrics count the evaluations
            (:func:`codex.api.metrics.record_live_query_evaluation`; None: not counted).
    """

    def __init__(
        self,
        hub: ChangeHub,
        store: Store,
        *,
        debounce: float,
        limiter: anyio.CapacityLimiter | None = None,
        app_state: Any = None,
    ) -> None:
        self.hub, self.store, self.debounce, self.limiter = hub, store, debounce, limiter
        self.app_state = app_state
        self._queries: dict[tuple[str, str, str], LiveQuery] = {}
        self.evaluations = 0

    def __len__(self) -> int:
        return len(self._queries)

    @property
    def subscriber_count(self) -> int:
        """Subscribers of every live query (SSE streams and WebSocket subscriptions)."""
        return sum(len(q.subscribers) for q in tuple(self._queries.values()))

    def get(self, who: Principal, query: Query, params: BaseModel) -> LiveQuery:
        """The live query of this key, created (and joined to the hub) on first use.

        Raises:
            InvalidInput: A declared topic, with the parameters filled in, is not a valid pattern.
        """
        key = (who.tenant, query.name, canonical_json(params.model_dump(mode="json")))
        live = self._queries.get(key)
        if live is None:
            patterns = tuple(TopicPattern.parse(t) for t in query.topic_patterns(params))
            live = self._queries[key] = LiveQuery(self, key, who, query, params, patterns)
            self.hub.join(live)  # before the first evaluation: a change after its read is seen
        return live

    def drop(self, live: LiveQuery) -> None:
        """Forget a query that has no subscribers left."""
        if self._queries.get(live.key) is live:
            del self._queries[live.key]
        self.hub.leave(live)
        live.stop()

    def stop(self) -> None:
        """Stop every live query (shutdown)."""
        for live in list(self._queries.values()):
            self.drop(live)

    def streams(self) -> list[LiveStream]:
        """Every SSE stream of every live query (for keep-alives)."""
        return [s for q in self._queries.values() for s in q.subscribers if isinstance(s, LiveStream)]

    def evaluate(self, who: Principal, query: Query, params: BaseModel) -> LiveResult:
        """Run the query in one read transaction (a worker thread): result, digest and cursor."""
        try:
            with self.store.connect(tenant=who.tenant) as conn:  # repositories read the caller's tenant
                cursor = ChangeLogRepository(conn).head()
                result = query.run(conn, who, params)
            return LiveResult(result, keccak256_hex(canonical_json(result)), cursor)
        except CodexError as exc:
            with self.store.connect() as conn:
                cursor = ChangeLogRepository(conn).head()
            return _failure(exc, None, cursor)


def _failure(exc: Exception, latest: LiveResult | None, cursor: int | None = None) -> LiveResult:
    if isinstance(exc, CodexError):
        body = {**exc.to_dict(), "status": status_for(exc)}
    else:
        body = {"error": "InternalError", "message": "evaluating the query failed; see the server log"}
    text = canonical_json(body)
    at = cursor if cursor is not None else (latest.cursor if latest is not None else 0)
    return LiveResult(None, keccak256_hex(text), at, error=body)


def _as_error(latest: LiveResult | None) -> ApiError:
    """The first evaluation's failure as an exception for the subscribe request."""
    if latest is None or latest.error is None:
        return ApiError(503, "Unavailable", "the live query could not be evaluated; try again")
    body = dict(latest.error)
    status = int(body.pop("status", 500))
    kind = str(body.pop("error", "Error"))
    message = str(body.pop("message", "the query failed"))
    return ApiError(status, kind, message, **body)


class LiveStream:
    """An SSE response's side of a live query: result frames written to its sink.

    It is added to the query before the response starts (so the first result is the current one);
    until :meth:`bind` gives it a sink, the latest result waits in memory. A client that cannot keep
    up (more than ``max_buffered`` bytes waiting) is disconnected: its reconnect gets the current
    result at once, and only the latest result ever matters.
    """

    def __init__(self, live: LiveQuery, *, max_buffered: int, on_close: Callable[[], None]) -> None:
        self.live, self.max_buffered, self.on_close = live, max_buffered, on_close
        self.sink: Sink | None = None
        self.waiting: LiveResult | None = None
        self.last_write = time.monotonic()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = False

    def bind(self, sink: Sink) -> LiveStream:
        """Give the stream its sink (the response has started)."""
        self.sink = sink
        return self

    def start(self) -> None:
        """Write the result that arrived before the sink."""
        waiting, self.waiting = self.waiting, None
        if waiting is not None:
            self.push(waiting)

    def push(self, result: LiveResult) -> None:
        """Write one result frame (encoded once per result, shared by every stream)."""
        if self._closed:
            return
        sink = self.sink
        if sink is None:
            self.waiting = result
            return
        if sink.closing() or sink.buffered() > self.max_buffered:
            self.close()
            return
        sink.write(result.chunk() if sink.framed else result.sse())
        self.last_write = time.monotonic()

    def ping(self) -> None:
        """A keep-alive comment."""
        if self.sink is not None and not self._closed and not self.sink.closing():
            data = sse.comment("keepalive")
            self.sink.write(sse.chunk(data) if self.sink.framed else data)
            self.last_write = time.monotonic()

    def close(self) -> None:
        """Leave the query, end the response and run ``on_close`` (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if not self.done.done():
            self.done.set_result(None)
        self.live.remove(self)
        try:
            if self.sink is not None:
                self.sink.end()
        finally:
            self.on_close()


class LiveFrames:
    """A WebSocket subscription's side of a live query: ``{"type": "result", "id", result, digest,
    cursor}`` frames (``"type": "error"`` when an evaluation failed) on the connection's outbox.

    Only the latest result matters: when the outbox is full, one waiting frame is kept and replaced.
    """

    def __init__(self, outbox: asyncio.Queue[Any], sub_id: str) -> None:
        self.outbox = outbox
        self.prefix = '{"id":' + sse.json_text(sub_id) + ',"type":'
        self.waiting: str | None = None
        self._task: asyncio.Task[None] | None = None

    def frame(self, result: LiveResult) -> str:
        """The frame of ``result`` for this subscription (the result's JSON is shared)."""
        return self.prefix + sse.json_text(result.kind) + "," + result.json()[1:]

    def push(self, result: LiveResult) -> None:
        """Queue the frame (or keep it as the one waiting frame)."""
        text = self.frame(result)
        if self._task is None:
            try:
                self.outbox.put_nowait(text)
                return
            except asyncio.QueueFull:
                self._task = asyncio.create_task(self._later())
        self.waiting = text

    async def _later(self) -> None:
        try:
            while self.waiting is not None:
                text, self.waiting = self.waiting, None
                await self.outbox.put(text)
        finally:
            self._task = None

    def close(self) -> None:
        """Stop sending."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
