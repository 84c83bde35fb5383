"""Live delivery: ``GET /api/codex/subscribe/{topic}`` (Server-Sent Events) and ``WS /api/codex/ws``.

SSE: each change is one event whose ``id:`` is its change-log id (the cursor) and whose data is the
change as JSON. Resume with the ``Last-Event-ID`` header (it wins) or ``?after_id=``; without either
the stream starts at the beginning of the tenant's log (``after_id=0``, as upstream), or at the
query's cursor with ``?query=NAME``, which first sends an ``event: snapshot`` holding the named
query's result and the cursor it is consistent with (no gap, no duplicate after it). Other named
events: ``reset`` (``{cursor, reason}``: the client fell behind; the server resumes from ``cursor``
by reading the log, nothing is lost). Keep-alive comments every ``sse_keepalive_seconds``; the stream
ends when the client disconnects.

WebSocket: authenticate with the ``Authorization`` header or a first message
``{"type": "auth", "token": …}``; then ``{"type": "subscribe", "id": …, "topic": …, "after_id": …}`` /
``{"type": "unsubscribe", "id": …}``; the server sends ``{"type": "change", "subscription": id,
"change": {...}}``, ``{"type": "reset", …}``, ``{"type": "subscribed"|"unsubscribed", …}`` and
``{"type": "error", "message": …}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi import Query as QueryParam
from fastapi.responses import StreamingResponse

from codex.api.auth import Principal, authenticate_secret, bearer_scheme, require
from codex.api.errors import ApiError
from codex.api.routes_codex import QueryResponse, parse_params, run_query
from codex.api.state import AppState
from codex.errors import CodexError
from codex.reactive import sse
from codex.reactive.hub import Reset, Subscription
from codex.reactive.patterns import TopicPattern
from codex.repositories.reactivity import SubscriptionRepository

__all__ = ["add_stream_routes"]


def _record(state: AppState, sub_id: str, pattern: TopicPattern, tenant: str, hint: str) -> None:
    fixed: list[str] = []
    for (
        segment
    ) in pattern.segments:  # the concrete part of the pattern; the pattern itself goes in the filter
        if segment == "+":
            break
        fixed.append(segment)
    with state.store.begin(tenant=tenant) as conn:
        SubscriptionRepository(conn).upsert(
            sub_id, "/".join(fixed) or "all", {"pattern": pattern.text, "tenant": tenant}, hint
        )


def _forget(state: AppState, sub_id: str) -> None:
    with contextlib.suppress(Exception), state.store.begin() as conn:
        SubscriptionRepository(conn).delete(sub_id)


def _cursor(request: Request, after_id: int | None) -> int | None:
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        try:
            value = int(header.strip())
        except ValueError:
            raise ApiError(400, "BadRequest", "Last-Event-ID must be an integer change-log id") from None
        if value < 0:
            raise ApiError(400, "BadRequest", "Last-Event-ID must be >= 0")
        return value
    return after_id


async def _events(
    request: Request, state: AppState, sub: Subscription, first: bytes | None, sub_id: str
) -> AsyncIterator[bytes]:
    keepalive = state.settings.sse_keepalive_seconds
    try:
        yield sse.retry(1000) + (first or b"")
        idle = 0.0
        while True:
            item = await sub.next(timeout=1.0)
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
        await anyio.to_thread.run_sync(_forget, state, sub_id)


def add_stream_routes(app: FastAPI) -> None:
    """Mount the SSE and WebSocket routes."""
    router = APIRouter(tags=["codex"], dependencies=[Depends(bearer_scheme)])

    @router.get(
        "/api/codex/subscribe/{topic:path}",
        summary="Stream the tenant's changes on a topic pattern as Server-Sent Events.",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "An event stream."}},
    )
    async def subscribe(
        request: Request,
        topic: str,
        after_id: int | None = QueryParam(None, ge=0, description="Resume after this change id."),
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
        sub_id = uuid.uuid4().hex
        await anyio.to_thread.run_sync(_record, state, sub_id, pattern, who.tenant, "sse")
        sub = state.hub.subscribe(who.tenant, [pattern], cursor or 0)
        return StreamingResponse(
            _events(request, state, sub, first, sub_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.websocket("/api/codex/ws")
    async def websocket(ws: WebSocket) -> None:
        await _websocket(ws)

    app.include_router(router)


async def _websocket(ws: WebSocket) -> None:
    state: AppState = ws.app.state.codex
    await ws.accept()
    subs: dict[str, Subscription] = {}
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=state.settings.client_buffer)
    pumps: dict[str, asyncio.Task[None]] = {}

    async def send_error(message: str) -> None:
        await ws.send_json({"type": "error", "message": message})

    async def pump(sub_id: str, sub: Subscription) -> None:
        while True:
            item = await sub.next(timeout=1.0)
            if item is None:
                continue
            if isinstance(item, Reset):
                await outbox.put(
                    {"type": "reset", "subscription": sub_id, "cursor": item.cursor, "reason": item.reason}
                )
                continue
            for ev in item:
                await outbox.put({"type": "change", "subscription": sub_id, "change": ev.as_dict()})

    async def writer() -> None:
        while True:
            await ws.send_json(await outbox.get())

    writer_task = asyncio.create_task(writer())
    try:
        who = await _ws_auth(ws, state)
        if who is None:
            return
        while True:
            raw = await ws.receive_text()
            try:
                msg = json.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError("not an object")
            except ValueError:
                await send_error("messages are JSON objects")
                continue
            kind = msg.get("type")
            sub_id = str(msg.get("id") or uuid.uuid4().hex)[:128]
            if kind == "subscribe":
                try:
                    pattern = TopicPattern.parse(str(msg.get("topic", "")))
                    after = int(msg.get("after_id") or 0)
                    if after < 0:
                        raise ValueError("after_id must be >= 0")
                except (CodexError, ValueError, TypeError) as exc:
                    await send_error(str(getattr(exc, "message", exc)))
                    continue
                if sub_id in subs:
                    await send_error(f"subscription {sub_id!r} exists; unsubscribe first")
                    continue
                subs[sub_id] = state.hub.subscribe(who.tenant, [pattern], after)
                pumps[sub_id] = asyncio.create_task(pump(sub_id, subs[sub_id]))
                await anyio.to_thread.run_sync(_record, state, sub_id, pattern, who.tenant, "websocket")
                await outbox.put(
                    {"type": "subscribed", "id": sub_id, "topic": pattern.text, "after_id": after}
                )
            elif kind == "unsubscribe":
                sub = subs.pop(sub_id, None)
                if sub is None:
                    await send_error(f"no subscription {sub_id!r}")
                    continue
                pumps.pop(sub_id).cancel()
                sub.close()
                await anyio.to_thread.run_sync(_forget, state, sub_id)
                await outbox.put({"type": "unsubscribed", "id": sub_id})
            else:
                await send_error("type must be subscribe or unsubscribe")
    except WebSocketDisconnect:
        pass
    finally:
        writer_task.cancel()
        for task in pumps.values():
            task.cancel()
        for sub_id, sub in subs.items():
            sub.close()
            await anyio.to_thread.run_sync(_forget, state, sub_id)


async def _ws_auth(ws: WebSocket, state: AppState) -> Principal | None:
    header = ws.headers.get("authorization", "")
    secret = header.partition(" ")[2].strip() if header.lower().startswith("bearer ") else None
    if secret is None:
        lookup = getattr(ws.app.state, "session_secret", None)
        secret = lookup(ws) if callable(lookup) else None
    if secret is None:
        try:
            first = json.loads(await asyncio.wait_for(ws.receive_text(), timeout=10))
            secret = str(first.get("token", "")) if first.get("type") == "auth" else None
        except (TimeoutError, ValueError, AttributeError):
            secret = None
    try:
        who = await anyio.to_thread.run_sync(authenticate_secret, state.store, secret)
    except ApiError as exc:
        await ws.send_json({"type": "error", "status": 401, "message": exc.message})
        await ws.close(code=4401)
        return None
    if not who.allows("subscribe"):
        await ws.send_json(
            {"type": "error", "status": 403, "message": "this token lacks the 'subscribe' scope"}
        )
        await ws.close(code=4403)
        return None
    await ws.send_json({"type": "ready", "tenant": who.tenant})
    return who
