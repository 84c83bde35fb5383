"""Live delivery: ``GET /api/codex/subscribe/{topic}`` (Server-Sent Events) and ``WS /api/codex/ws``.

SSE: each change is one event whose ``id:`` is its change-log id (the cursor) and whose data is the
change as JSON. Resume with the ``Last-Event-ID`` header (it wins) or ``?after_id=``; without either
the stream starts at the beginning of the tenant's log (``after_id=0``, as upstream), or at the
query's cursor with ``?query=NAME``, which first sends an ``event: snapshot`` holding the named
query's result and the cursor it is consistent with (no gap, no duplicate after it). Other named
events: ``reset`` (``{cursor, reason}``: the client fell behind; the server resumes from ``cursor``
by reading the log, nothing is lost). Keep-alive comments every ``sse_keepalive_seconds``; the stream
ends when the client disconnects (or after ``sse_max_seconds`` when set: the client resumes).

WebSocket: authenticate with the ``Authorization`` header or a first message
``{"type": "auth", "token": …}``; then ``{"type": "subscribe", "id": …, "topic": …, "after_id": …}`` /
``{"type": "unsubscribe", "id": …}``; the server sends ``{"type": "change", "subscription": id,
"change": {...}}``, ``{"type": "reset", …}``, ``{"type": "subscribed"|"unsubscribed", …}`` and
``{"type": "error", "message": …, "request_id": …}`` (with ``field`` / ``status`` when they apply).
A bad message gets an error frame and the socket stays usable; subscription ids belong to the
connection (two connections, or two tenants, may use the same id). A message larger than
``ws_max_message_bytes`` closes the socket with 1009.

Subscribing writes nothing on the request path: open streams are kept in memory and mirrored to
``codex_subscriptions`` in the background (:mod:`codex.api.bookkeeping`), and unregistered on every
way a stream can end, cancellation included. Open streams are capped per token and per tenant (429).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi import Query as QueryParam
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from codex.api.auth import Principal, authenticate_secret, bearer_scheme, require
from codex.api.bookkeeping import StreamEntry
from codex.api.boundary import INT64_MAX, JsonProblem, parse_json
from codex.api.errors import ApiError, status_for
from codex.api.logs import current_request_id, redact
from codex.api.routes_codex import QueryResponse, parse_params, run_query
from codex.api.state import AppState
from codex.errors import CodexError
from codex.reactive import sse
from codex.reactive.hub import Reset, Subscription
from codex.reactive.patterns import TopicPattern

__all__ = ["add_stream_routes"]

log = logging.getLogger("codex.api")


class _Stream(StreamingResponse):
    """A streaming response that runs ``on_close`` when the response ends, however it ends.

    ``on_close`` is synchronous and runs in a ``finally`` of the ASGI call itself: a disconnect, a
    cancellation or a server shutdown cannot skip it (an ``await`` in a generator's ``finally`` can be).
    """

    def __init__(self, content: AsyncIterator[bytes], *, on_close: Callable[[], None], **kw: Any) -> None:
        super().__init__(content, **kw)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


def _cursor(request: Request, after_id: int | None) -> int | None:
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        try:
            value = int(header.strip())
        except ValueError:
            raise ApiError(400, "BadRequest", "Last-Event-ID must be an integer change-log id") from None
        if not 0 <= value <= INT64_MAX:
            raise ApiError(400, "BadRequest", "Last-Event-ID must be a change-log id (0 to 2**63-1)")
        return value
    return after_id


async def _events(
    request: Request, state: AppState, sub: Subscription, first: bytes | None
) -> AsyncIterator[bytes]:
    keepalive = state.settings.sse_keepalive_seconds
    limit = state.settings.sse_max_seconds
    started = time.monotonic()
    try:
        yield sse.retry(1000) + (first or b"")
        idle = 0.0
        while True:
            if limit and time.monotonic() - started >= limit:
                return  # the client resumes from its Last-Event-ID
            item = await sub.next(timeout=min(1.0, limit) if limit else 1.0)
            if item is None:
                if await request.is_disconnected():
                    return
                idle += 1.0
                if idle >= keepalive:
                    idle = 0.0
                    yield sse.comment("keepalive")
                continue
            idle = 0.0
            if isinstance(item, Reset):
                yield sse.event(
                    {"cursor": item.cursor, "reason": item.reason}, event_type="reset", event_id=item.cursor
                )
                continue
            if item:
                yield b"".join(ev.sse_frame for ev in item)
    finally:
        sub.close()


def add_stream_routes(app: FastAPI) -> None:
    """Mount the SSE and WebSocket routes."""
    router = APIRouter(tags=["codex"], dependencies=[Depends(bearer_scheme)])

    @router.get(
        "/api/codex/subscribe/{topic:path}",
        summary="Stream the tenant's changes on a topic pattern as Server-Sent Events.",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "An event stream."},
            429: {"description": "Too many open streams for this token or tenant (see Retry-After)."},
        },
    )
    async def subscribe(
        request: Request,
        topic: str,
        after_id: int | None = QueryParam(
            None, ge=0, le=INT64_MAX, description="Resume after this change id."
        ),
        query: str | None = QueryParam(None, description="Send this named query's snapshot first."),
        who: Principal = Depends(require("subscribe")),
    ) -> StreamingResponse:
        state: AppState = request.app.state.codex
        pattern = TopicPattern.parse(topic)
        cursor = _cursor(request, after_id)
        first: bytes | None = None
        if query is not None:
            named = state.registry.queries.get(query)
            if named is None:
                raise ApiError(404, "NotFound", f"unknown query {query!r}")
            if not who.allows(named.scope):
                raise ApiError(403, "Forbidden", f"this token lacks the {named.scope!r} scope")
            extra = {k: v for k, v in request.query_params.items() if k not in ("after_id", "query")}
            params = parse_params(named, extra)
            snap: QueryResponse = await anyio.to_thread.run_sync(run_query, state, who, named, params)
            if cursor is None:
                cursor = snap.cursor
            first = sse.event(snap.model_dump(), event_type="snapshot", event_id=snap.cursor)
        entry = state.book.open_stream("sse", who.tenant, who.token_id, pattern)
        try:
            sub = state.hub.subscribe(who.tenant, [pattern], cursor or 0)
        except BaseException:
            state.book.close_stream(entry)
            raise

        def closed() -> None:
            sub.close()
            state.book.close_stream(entry)

        return _Stream(
            _events(request, state, sub, first),
            on_close=closed,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.websocket("/api/codex/ws")
    async def websocket(ws: WebSocket) -> None:
        await _WebSocketSession(ws).run()

    app.include_router(router)


class _Refusal(Exception):
    """A message the session answers with an error frame (the socket stays open)."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message, self.extra = message, extra


class _WebSocketSession:
    """One WebSocket connection: its principal, its subscriptions (ids local to it) and its writer."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.state: AppState = ws.app.state.codex
        self.subs: dict[str, tuple[StreamEntry, Subscription, asyncio.Task[None]]] = {}
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=self.state.settings.client_buffer)

    def _error(self, message: str, **extra: Any) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "error", "message": redact(message), **extra}
        request_id = current_request_id()
        if request_id is not None:
            frame["request_id"] = request_id
        return frame

    async def run(self) -> None:
        await self.ws.accept()
        writer = asyncio.create_task(self._writer())
        try:
            who = await self._auth()
            if who is None:
                return
            while True:
                raw = await self._receive()
                if raw is None:
                    return
                try:
                    reply = self._handle(who, raw)
                except _Refusal as refusal:
                    reply = self._error(refusal.message, **refusal.extra)
                except CodexError as exc:
                    body = {k: v for k, v in exc.to_dict().items() if k != "message"}
                    reply = self._error(exc.message, status=status_for(exc), **body)
                except Exception:  # a bug: say so, keep the socket
                    log.exception("websocket message failed")
                    reply = self._error("internal error; see the server log")
                await self.outbox.put(reply)
        except WebSocketDisconnect:
            pass
        finally:
            writer.cancel()
            for entry, sub, pump in self.subs.values():
                pump.cancel()
                sub.close()
                self.state.book.close_stream(entry)
            self.subs.clear()

    async def _receive(self) -> str | bytes | None:
        """The next text or binary message; None when the client left or the message was too big."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        data: str | bytes | None = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
        cap = self.state.settings.ws_max_message_bytes
        if size > cap:
            with contextlib.suppress(Exception):
                await self.ws.send_json(self._error(f"message larger than {cap} bytes", status=413))
                await self.ws.close(code=1009)
            return None
        return data

    def _handle(self, who: Principal, raw: str | bytes) -> dict[str, Any]:
        try:
            msg = parse_json(raw)
        except JsonProblem as problem:
            if problem.kind == "json_invalid":
                raise _Refusal("messages are JSON objects") from None
            raise _Refusal(str(problem), field=problem.loc, status=422) from None
        if not isinstance(msg, dict):
            raise _Refusal("messages are JSON objects")
        kind = msg.get("type")
        if kind == "subscribe":
            return self._subscribe(who, msg)
        if kind == "unsubscribe":
            sub_id = _client_id(msg.get("id"), required=True)
            found = self.subs.pop(sub_id, None)
            if found is None:
                raise _Refusal(f"no subscription {sub_id!r}", field=["id"])
            entry, sub, pump = found
            pump.cancel()
            sub.close()
            self.state.book.close_stream(entry)
            return {"type": "unsubscribed", "id": sub_id}
        raise _Refusal("type must be subscribe or unsubscribe", field=["type"])

    def _subscribe(self, who: Principal, msg: dict[str, Any]) -> dict[str, Any]:
        sub_id = _client_id(msg.get("id"), required=False)
        topic = msg.get("topic")
        if not isinstance(topic, str):
            raise _Refusal("topic must be a string (a topic pattern)", field=["topic"], status=422)
        try:
            pattern = TopicPattern.parse(topic)
        except CodexError as exc:
            raise _Refusal(exc.message, field=["topic"], status=422) from None
        after = msg.get("after_id", 0)
        if after is None:
            after = 0
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= INT64_MAX:
            raise _Refusal("after_id must be an integer change-log id >= 0", field=["after_id"], status=422)
        if sub_id in self.subs:
            raise _Refusal(f"subscription {sub_id!r} exists; unsubscribe first", field=["id"])
        entry = self.state.book.open_stream("websocket", who.tenant, who.token_id, pattern, sub_id)
        sub = self.state.hub.subscribe(who.tenant, [pattern], after, transport="websocket")
        self.subs[sub_id] = (entry, sub, asyncio.create_task(self._pump(sub_id, sub)))
        return {"type": "subscribed", "id": sub_id, "topic": pattern.text, "after_id": after}

    async def _pump(self, sub_id: str, sub: Subscription) -> None:
        while True:
            item = await sub.next(timeout=1.0)
            if item is None:
                continue
            if isinstance(item, Reset):
                await self.outbox.put(
                    {"type": "reset", "subscription": sub_id, "cursor": item.cursor, "reason": item.reason}
                )
                continue
            for ev in item:
                await self.outbox.put({"type": "change", "subscription": sub_id, "change": ev.as_dict()})

    async def _writer(self) -> None:
        with contextlib.suppress(Exception):  # the client is gone: the receive loop notices
            while True:
                frame = await self.outbox.get()
                await self.ws.send_text(sse.json_text(frame))

    async def _auth(self) -> Principal | None:
        ws, state = self.ws, self.state
        header = ws.headers.get("authorization", "")
        secret = header.partition(" ")[2].strip() if header.lower().startswith("bearer ") else None
        if secret is None:
            lookup = getattr(ws.app.state, "session_secret", None)
            secret = lookup(ws) if callable(lookup) else None
        if secret is None:
            try:
                first = await asyncio.wait_for(self._receive(), timeout=10)
                parsed = parse_json(first) if first is not None else None
                secret = (
                    str(parsed.get("token", ""))
                    if isinstance(parsed, dict) and parsed.get("type") == "auth"
                    else None
                )
            except (TimeoutError, JsonProblem):
                secret = None
        try:
            who = await anyio.to_thread.run_sync(authenticate_secret, state.store, secret)
        except ApiError as exc:
            await ws.send_json(self._error(exc.message, status=401))
            await ws.close(code=4401)
            return None
        if not who.allows("subscribe"):
            await ws.send_json(self._error("this token lacks the 'subscribe' scope", status=403))
            await ws.close(code=4403)
            return None
        state.book.token_used(who.token_id)
        await ws.send_json({"type": "ready", "tenant": who.tenant})
        return who


def _client_id(value: Any, *, required: bool) -> str:
    """A subscription id chosen by the client: 1-128 printable characters (or an integer)."""
    if value in (None, "") and not required:
        return uuid.uuid4().hex
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Refusal("id must be a string of 1-128 printable characters", field=["id"], status=422)
    text = str(value)
    if not 0 < len(text) <= 128 or not text.isprintable():
        raise _Refusal("id must be a string of 1-128 printable characters", field=["id"], status=422)
    return text
