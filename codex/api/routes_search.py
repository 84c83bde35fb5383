"""Search corpus writes over HTTP: ``POST /api/search/documents`` (one), ``…/batch`` (NDJSON), ``…/delete``.

Behind the one auth boundary (:func:`codex.api.auth.require`, scope ``write``) and the caller's tenant:
a document's ``source_uri`` is stored under ``<tenant>/`` (every tenant's, ``default`` included), which is the
prefix ``GET /api/search`` scopes every query to, so the documents a tenant adds are found by that
tenant's searches only. Responses show the URI as the caller sent it.

* ``POST /api/search/documents``: one JSON document, ingested in one write transaction; 201 for a new
  document, 200 when the tenant's document with that URI was updated or unchanged (idempotent).
* ``POST /api/search/documents/batch``: a bulk load, ``application/x-ndjson``, one JSON document per
  line (the same fields), all or nothing: every line is checked first (a bad line is a 422 naming it), then
  the whole batch is ingested with :func:`codex.search.ingest_many` in one transaction.
* ``POST /api/search/documents/delete`` (``{"source_uri": …}``) and ``DELETE /api/search/documents/{id}``:
  remove one of the tenant's documents (404 if it has none: another tenant's id answers the same).

Content is ``content`` (text) or ``content_base64`` (bytes, decoded with ``charset``, UTF-8 by default). An
unknown charset, bytes that do not decode, an empty document, a document longer than
:data:`codex.search.MAX_DOCUMENT_CHARS` or an unsupported MIME type is a 422 with a clear body; a body
larger than the server's ``max_body_bytes`` is a 413 before anything is read.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, JsonValue, ValidationError

from codex.api.auth import Principal, bearer_scheme, require
from codex.api.state import AppState
from codex.errors import InvalidInput, NotFound
from codex.search import MAX_DOCUMENT_CHARS, DocumentInput, IngestResult, delete_document, ingest_many
from domains.search_ingest import search_documents

__all__ = [
    "MAX_BATCH_LINES",
    "BatchResponse",
    "DeleteBody",
    "DeleteResponse",
    "DocumentBody",
    "DocumentResponse",
    "add_search_routes",
]

T = TypeVar("T")

MAX_BATCH_LINES = 10_000
"""The most documents one NDJSON batch may carry."""


class DocumentBody(BaseModel):
    """One document to add to (or replace in) the tenant's search corpus.

    ``uri`` and ``text`` are accepted for ``source_uri`` and ``content``. Without a URI the document's key is
    ``sha256:<hex of its text>``, so sending the same text twice stores it once.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source_uri: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        validation_alias=AliasChoices("source_uri", "uri"),
        description="The document's key within the tenant (alias `uri`; default: `sha256:` of the text).",
    )
    content: str | None = Field(
        None,
        validation_alias=AliasChoices("content", "text"),
        description="The text (alias `text`). Give this or `content_base64`.",
    )
    content_base64: str | None = Field(None, description="The raw bytes, base64; decoded with `charset`.")
    charset: str = Field("utf-8", min_length=1, max_length=40, description="Encoding of `content_base64`.")
    mime_type: str = Field(
        "text/plain", max_length=100, description="text/plain, text/markdown, text/html (or another text/*)."
    )
    title: str = Field("", max_length=1000, description="Display title (default: from the content).")
    metadata: JsonValue = Field(None, description="Any JSON value kept with the document.")


class DocumentResponse(BaseModel):
    """What ingesting one document did."""

    source_uri: str
    document_id: int
    outcome: Literal["inserted", "updated", "unchanged"]
    chunks: int
    content_hash: str


class DeleteBody(BaseModel):
    """Which of the tenant's documents to remove."""

    model_config = ConfigDict(extra="forbid")

    source_uri: str = Field(
        min_length=1, max_length=2048, description="The document's key within the tenant."
    )


class DeleteResponse(BaseModel):
    """The removed document."""

    source_uri: str
    document_id: int
    deleted: bool = True


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
    if body.source_uri is None:  # keyed by content: idempotent without a URI
        body.source_uri = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InvalidInput(
            f"{where}the document has {len(text):,} characters; at most {MAX_DOCUMENT_CHARS:,} are accepted",
            field="content",
        )
    return text


def _scoped(tenant: str, source_uri: str | None) -> str:
    return f"{tenant}/{source_uri}"


def _response(result: IngestResult, source_uri: str | None) -> DocumentResponse:
    return DocumentResponse(
        source_uri=source_uri or "",
        document_id=result.document_id,
        outcome=result.outcome,
        chunks=result.chunks,
        content_hash=result.content_hash,
    )


async def _write(state: AppState, who: Principal, work: Callable[[sa.Connection], T]) -> T:
    """Run ``work`` in a write transaction of the caller's tenant, on a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(state.store.run_write, work, tenant=who.tenant))


def _ingest(
    state: AppState, who: Principal, bodies: list[DocumentBody], texts: list[str]
) -> list[IngestResult]:
    docs = [
        DocumentInput(_scoped(who.tenant, b.source_uri), text, b.mime_type, b.title, b.metadata)
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
    """Mount ``POST /api/search/documents``, ``…/documents/batch`` and ``…/documents/delete``."""
    router = APIRouter(tags=["search"], dependencies=[Depends(bearer_scheme)])

    @router.post(
        "/api/search/documents",
        response_model=DocumentResponse,
        summary="Add or replace one document of the tenant's search corpus.",
        responses={
            201: {"description": "A new document (its id in `document_id`).", "model": DocumentResponse},
            413: {"description": "The body is larger than the server accepts."},
        },
    )
    async def add_document(
        body: DocumentBody,
        request: Request,
        response: Response,
        who: Principal = Depends(require("write")),
    ) -> DocumentResponse:
        state: AppState = request.app.state.codex
        text = _decode(body, "")
        [result] = await anyio.to_thread.run_sync(_ingest, state, who, [body], [text])
        if result.outcome == "inserted":
            response.status_code = 201  # idempotent on (tenant, source_uri): a repeat answers 200
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

    @router.post(
        "/api/search/documents/delete",
        response_model=DeleteResponse,
        summary="Remove one of the tenant's documents (with its chunks, FTS rows and vectors).",
        responses={404: {"description": "The tenant has no document with this URI."}},
    )
    async def remove_document(
        body: DeleteBody, request: Request, who: Principal = Depends(require("write"))
    ) -> DeleteResponse:
        state: AppState = request.app.state.codex
        scoped = _scoped(who.tenant, body.source_uri)

        def work(conn: sa.Connection) -> int:
            return delete_document(conn, scoped)

        try:
            document_id = await _write(state, who, work)
        except NotFound:
            raise NotFound(f"no search document {body.source_uri!r}", source_uri=body.source_uri) from None
        return DeleteResponse(source_uri=body.source_uri, document_id=document_id)

    @router.delete(
        "/api/search/documents/{document_id}",
        response_model=DeleteResponse,
        summary="Remove one of the tenant's documents by id (with its chunks, FTS rows and vectors).",
        responses={404: {"description": "The tenant has no document with this id."}},
    )
    async def remove_document_by_id(
        document_id: int, request: Request, who: Principal = Depends(require("write"))
    ) -> DeleteResponse:
        state: AppState = request.app.state.codex
        prefix = f"{who.tenant}/"

        def work(conn: sa.Connection) -> str:
            docs = search_documents
            uri = conn.execute(
                sa.select(docs.c.source_uri).where(
                    docs.c.id == document_id, sa.func.substr(docs.c.source_uri, 1, len(prefix)) == prefix
                )
            ).scalar()
            if uri is None:  # missing, or another tenant's: the same answer
                raise NotFound(f"no search document {document_id}", document_id=document_id)
            delete_document(conn, str(uri))
            return str(uri)[len(prefix) :]

        source_uri = await _write(state, who, work)
        return DeleteResponse(source_uri=source_uri, document_id=document_id)

    app.include_router(router)
