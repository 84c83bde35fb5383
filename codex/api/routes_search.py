"""Search corpus writes over HTTP: ``POST /api/search/documents`` (one), ``…/batch`` (NDJSON), ``DELETE``.

Behind the one auth boundary (:func:`codex.api.auth.require`, scope ``write``) and the caller's tenant:
a document's ``source_uri`` is stored under ``<tenant>/`` (the default tenant's as given), which is the
prefix ``GET /api/search`` scopes every query to, so the documents a tenant adds are found by that
tenant's searches only. Responses show the URI as the caller sent it.

* ``POST /api/search/documents``: one JSON document, ingested in one write transaction.
* ``POST /api/search/documents/batch``: a bulk load, ``application/x-ndjson``, one JSON document per
  line (the same fields), all or nothing: every line is checked first (a bad line is a 422 naming it), then
  the whole batch is ingested with :func:`codex.search.ingest_many` in one transaction.
* ``DELETE /api/search/documents?source_uri=…``: remove one of the tenant's documents (404 if it has none).

Content is ``content`` (text) or ``content_base64`` (bytes, decoded with ``charset``, UTF-8 by default). An
unknown charset, bytes that do not decode, an empty document, a document longer than
:data:`codex.search.MAX_DOCUMENT_CHARS` or an unsupported MIME type is a 422 with a clear body; a body
larger than the server's ``max_body_bytes`` is a 413 before anything is read.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
from typing import Any, Literal

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Query as QueryParam
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codex.api.auth import Principal, bearer_scheme, require
from codex.api.state import AppState
from codex.errors import InvalidInput, NotFound
from codex.repositories.tenancy import DEFAULT_TENANT
from codex.search import MAX_DOCUMENT_CHARS, DocumentInput, IngestResult, delete_document, ingest_many

__all__ = ["MAX_BATCH_LINES", "BatchResponse", "DocumentBody", "DocumentResponse", "add_search_routes"]

MAX_BATCH_LINES = 10_000
"""The most documents one NDJSON batch may carry."""


class DocumentBody(BaseModel):
    """One document to add to (or replace in) the tenant's search corpus."""

    model_config = ConfigDict(extra="forbid")

    source_uri: str = Field(
        min_length=1, max_length=2048, description="The document's key within the tenant."
    )
    content: str | None = Field(None, description="The text. Give this or `content_base64`.")
    content_base64: str | None = Field(None, description="The raw bytes, base64; decoded with `charset`.")
    charset: str = Field("utf-8", min_length=1, max_length=40, description="Encoding of `content_base64`.")
    mime_type: str = Field(
        "text/plain", max_length=100, description="text/plain, text/markdown, text/html (or another text/*)."
    )
    title: str = Field("", max_length=1000, description="Display title (default: from the content).")


class DocumentResponse(BaseModel):
    """What ingesting one document did."""

    source_uri: str
    document_id: int
    outcome: Literal["inserted", "updated", "unchanged"]
    chunks: int
    content_hash: str


class BatchResponse(BaseModel):
    """What ingesting a batch did."""

    documents: list[DocumentResponse]
    inserted: int
    updated: int
    unchanged: int
    chunks: int = Field(description="Chunks written (unchanged documents write none).")


def _decode(body: DocumentBody, where: str) -> str:
    if (body.content is None) == (body.content_base64 is None):
        raise InvalidInput(f"{where}give exactly one of content and content_base64", field="content")
    if body.content is not None:
        text = body.content
    else:
        try:
            codec = codecs.lookup(body.charset)
        except LookupError:
            raise InvalidInput(f"{where}unknown charset {body.charset!r}", field="charset") from None
        try:
            raw = base64.b64decode(body.content_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{where}content_base64 is not valid base64", field="content_base64") from None
        try:
            text = raw.decode(codec.name)
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{where}the content is not valid {codec.name} (byte {exc.start}): send the right charset",
                field="charset",
            ) from None
    if not text.strip():
        raise InvalidInput(f"{where}the document is empty", field="content")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InvalidInput(
            f"{where}the document has {len(text):,} characters; at most {MAX_DOCUMENT_CHARS:,} are accepted",
            field="content",
        )
    return text


def _scoped(tenant: str, source_uri: str) -> str:
    return source_uri if tenant == DEFAULT_TENANT else f"{tenant}/{source_uri}"


def _response(result: IngestResult, source_uri: str) -> DocumentResponse:
    return DocumentResponse(
        source_uri=source_uri,
        document_id=result.document_id,
        outcome=result.outcome,
        chunks=result.chunks,
        content_hash=result.content_hash,
    )


def _ingest(
    state: AppState, who: Principal, bodies: list[DocumentBody], texts: list[str]
) -> list[IngestResult]:
    docs = [
        DocumentInput(_scoped(who.tenant, b.source_uri), text, b.mime_type, b.title)
        for b, text in zip(bodies, texts, strict=True)
    ]

    def work(conn: sa.Connection) -> list[IngestResult]:
        return ingest_many(conn, docs)

    return state.store.run_write(work, tenant=who.tenant)


def _parse_ndjson(raw: bytes) -> list[tuple[int, DocumentBody]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the NDJSON body is not UTF-8", field="body") from None
    bodies: list[tuple[int, DocumentBody]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(bodies) >= MAX_BATCH_LINES:
            raise InvalidInput(f"a batch carries at most {MAX_BATCH_LINES} documents", field="body")
        try:
            data: Any = json.loads(line)
            bodies.append((number, DocumentBody.model_validate(data)))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"line {number}: not JSON ({exc.msg})", field="body", line=number) from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidInput(f"line {number}: {problems}", field="body", line=number) from None
    if not bodies:
        raise InvalidInput("the batch is empty: send one JSON document per line", field="body")
    return bodies


def add_search_routes(app: FastAPI) -> None:
    """Mount ``POST /api/search/documents``, ``POST /api/search/documents/batch`` and ``DELETE``."""
    router = APIRouter(tags=["search"], dependencies=[Depends(bearer_scheme)])

    @router.post(
        "/api/search/documents",
        response_model=DocumentResponse,
        summary="Add or replace one document of the tenant's search corpus.",
        responses={413: {"description": "The body is larger than the server accepts."}},
    )
    async def add_document(
        body: DocumentBody, request: Request, who: Principal = Depends(require("write"))
    ) -> DocumentResponse:
        state: AppState = request.app.state.codex
        text = _decode(body, "")
        [result] = await anyio.to_thread.run_sync(_ingest, state, who, [body], [text])
        return _response(result, body.source_uri)

    @router.post(
        "/api/search/documents/batch",
        response_model=BatchResponse,
        summary="Bulk load: NDJSON, one document per line, ingested all or nothing.",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-ndjson": {
                        "schema": {"type": "string", "description": "One DocumentBody JSON object per line."}
                    }
                },
            }
        },
        responses={413: {"description": "The body is larger than the server accepts."}},
    )
    async def add_batch(request: Request, who: Principal = Depends(require("write"))) -> BatchResponse:
        state: AppState = request.app.state.codex
        lines = _parse_ndjson(await request.body())
        bodies = [body for _, body in lines]
        texts = []
        for number, body in lines:
            try:
                texts.append(_decode(body, f"line {number} ({body.source_uri}): "))
            except InvalidInput as exc:
                raise InvalidInput(exc.message, **{**exc.details, "line": number}) from None
        results = await anyio.to_thread.run_sync(_ingest, state, who, bodies, texts)
        documents = [_response(r, b.source_uri) for r, b in zip(results, bodies, strict=True)]
        return BatchResponse(
            documents=documents,
            inserted=sum(d.outcome == "inserted" for d in documents),
            updated=sum(d.outcome == "updated" for d in documents),
            unchanged=sum(d.outcome == "unchanged" for d in documents),
            chunks=sum(d.chunks for d in documents if d.outcome != "unchanged"),
        )

    @router.delete(
        "/api/search/documents",
        summary="Remove one of the tenant's documents (with its chunks and vectors).",
        responses={404: {"description": "The tenant has no document with this URI."}},
    )
    def remove_document(
        request: Request,
        source_uri: str = QueryParam(min_length=1, max_length=2048),
        who: Principal = Depends(require("write")),
    ) -> dict[str, Any]:
        state: AppState = request.app.state.codex
        scoped = _scoped(who.tenant, source_uri)

        def work(conn: sa.Connection) -> int:
            return delete_document(conn, scoped)

        try:
            document_id = state.store.run_write(work, tenant=who.tenant)
        except NotFound:
            raise NotFound(f"no search document {source_uri!r}", source_uri=source_uri) from None
        return {"source_uri": source_uri, "document_id": document_id, "deleted": True}

    app.include_router(router)
