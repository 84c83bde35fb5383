"""The search write API on a real server: one document, NDJSON batches, delete; tenant scope; bad input."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from codex.config import LocalDb
from codex.search import SearchRepository
from codex.store import Store
from tests.api.conftest import Server, start_server

TEXT = "Sourdough bread needs a lively starter, strong flour and a long, cool proof before baking. " * 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server (uvicorn subprocess) over a local file for the module; tests use distinct URIs."""
    tmp = tmp_path_factory.mktemp("search-api")
    srv = start_server(LocalDb(path=str(tmp / "codex.db")), tmp)
    try:
        yield srv
    finally:
        srv.stop()
        srv.store.dispose()


@pytest.fixture
def client(server: Server) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    names = {"a": "a_all", "b": "b_all", "a_read": "a_read"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http, {name: f"Bearer {server.tokens[token]}" for name, token in names.items()}


@pytest.fixture
def store(server: Server) -> Store:
    return server.store


def _auth(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": tokens[name]}


def test_a_tenant_adds_documents_that_only_its_searches_find(
    client: tuple[httpx.Client, dict[str, str]], store: Store
) -> None:
    http, tokens = client
    added = http.post(
        "/api/search/documents",
        json={"source_uri": "notes/bread", "content": TEXT, "title": "Bread"},
        headers=_auth(tokens, "a"),
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["source_uri"] == "notes/bread" and body["outcome"] == "inserted" and body["chunks"] >= 1
    with store.connect() as conn:
        assert SearchRepository(conn).exists("tenant-a/notes/bread")  # stored under the tenant's prefix
    for mode in ("fts", "vector", "hybrid"):
        mine = http.get(
            "/api/search", params={"q": "sourdough starter", "mode": mode}, headers=_auth(tokens, "a")
        )
        assert [h["source_uri"] for h in mine.json()["hits"]][:1] == ["tenant-a/notes/bread"], mode
        theirs = http.get(
            "/api/search", params={"q": "sourdough starter", "mode": mode}, headers=_auth(tokens, "b")
        )
        assert theirs.json()["hits"] == [], mode
    again = http.post(
        "/api/search/documents",
        json={"source_uri": "notes/bread", "content": TEXT, "title": "Bread"},
        headers=_auth(tokens, "a"),
    )
    assert again.json()["outcome"] == "unchanged"
    assert (
        http.post(
            "/api/search/documents",
            json={"source_uri": "x", "content": TEXT},
            headers=_auth(tokens, "a_read"),
        ).status_code
        == 403
    )
    assert http.post("/api/search/documents", json={"source_uri": "x", "content": TEXT}).status_code == 401
    gone = http.post(
        "/api/search/documents/delete", json={"source_uri": "notes/bread"}, headers=_auth(tokens, "b")
    )
    assert gone.status_code == 404  # tenant b cannot reach tenant a's document
    gone = http.post(
        "/api/search/documents/delete", json={"source_uri": "notes/bread"}, headers=_auth(tokens, "a")
    )
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    mine = http.get("/api/search", params={"q": "sourdough", "mode": "vector"}, headers=_auth(tokens, "a"))
    assert mine.json()["hits"] == []


def test_an_ndjson_batch_is_all_or_nothing(client: tuple[httpx.Client, dict[str, str]], store: Store) -> None:
    http, tokens = client
    lines = [
        json.dumps({"source_uri": f"bulk/{i}", "content": f"Document {i} about tomato gardens and sun. " * 6})
        for i in range(40)
    ]
    ndjson = {"Content-Type": "application/x-ndjson", **_auth(tokens, "b")}
    done = http.post("/api/search/documents/batch", content="\n".join(lines) + "\n", headers=ndjson)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["inserted"], body["updated"], body["unchanged"]) == (40, 0, 0)
    assert body["chunks"] == sum(d["chunks"] for d in body["documents"]) >= 40
    bad = [*lines[:5], json.dumps({"source_uri": "bulk/new", "content": "   "}), lines[6]]
    refused = http.post("/api/search/documents/batch", content="\n".join(bad), headers=ndjson)
    assert refused.status_code == 422 and refused.json()["line"] == 6, refused.text
    assert "line 6 (bulk/new): the document is empty" in refused.json()["message"]
    broken = http.post(
        "/api/search/documents/batch", content="\n".join([lines[0], "{not json"]), headers=ndjson
    )
    assert broken.status_code == 422 and broken.json()["line"] == 2 and "line 2" in broken.json()["message"]
    with store.connect() as conn:
        assert not SearchRepository(conn).exists("tenant-b/bulk/new")
        assert SearchRepository(conn).count(uri_prefix="tenant-b/") == 40
    empty = http.post("/api/search/documents/batch", content="\n\n", headers=ndjson)
    assert empty.status_code == 422 and "empty" in empty.json()["message"]


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ({"content": ""}, "empty"),
        ({"content": "   \n "}, "empty"),
        ({"content_base64": base64.b64encode(b"\xff\xfe\xfa bytes").decode()}, "not valid utf-8"),
        (
            {"content_base64": base64.b64encode(b"caf\xe9 au lait").decode(), "charset": "klingon-8"},
            "unknown charset",
        ),
        ({"content_base64": "***"}, "base64"),
        ({"content": "x", "content_base64": "eA=="}, "exactly one"),
        ({"content": TEXT, "mime_type": "application/pdf"}, "MIME"),
    ],
)
def test_bad_documents_are_clear_4xx(
    client: tuple[httpx.Client, dict[str, str]], document: dict[str, str], needle: str
) -> None:
    http, tokens = client
    response = http.post(
        "/api/search/documents", json={"source_uri": "bad", **document}, headers=_auth(tokens, "a")
    )
    assert response.status_code == 422, response.text
    assert needle in response.json()["message"]


def test_other_encodings_huge_bodies_long_queries_and_k(client: tuple[httpx.Client, dict[str, str]]) -> None:
    http, tokens = client
    latin = base64.b64encode(("Café au lait and crème brûlée. " * 10).encode("latin-1")).decode()
    ok = http.post(
        "/api/search/documents",
        json={"source_uri": "latin", "content_base64": latin, "charset": "latin-1"},
        headers=_auth(tokens, "a"),
    )
    assert ok.status_code == 201, ok.text
    hits = http.get("/api/search", params={"q": "crème brûlée", "mode": "fts"}, headers=_auth(tokens, "a"))
    assert hits.json()["hits"][0]["source_uri"] == "tenant-a/latin"
    huge = http.post(
        "/api/search/documents",
        json={"source_uri": "huge", "content": "word " * 400_000},
        headers=_auth(tokens, "a"),
    )
    assert huge.status_code == 413 and huge.json()["error"] == "PayloadTooLarge"
    long_query = http.get("/api/search", params={"q": ("bread " * 400)[:2000]}, headers=_auth(tokens, "a"))
    assert long_query.status_code == 200  # 2,000 characters: answered
    too_long = http.get("/api/search", params={"q": "b" * 2001}, headers=_auth(tokens, "a"))
    assert too_long.status_code == 422 and too_long.json()["fields"][0]["loc"][-1] == "q"
    for k in (0, 101, -3):
        bad_k = http.get("/api/search", params={"q": "bread", "k": k}, headers=_auth(tokens, "a"))
        assert bad_k.status_code == 422 and bad_k.json()["fields"][0]["loc"][-1] == "k"


def test_text_without_uri_is_keyed_by_content_and_deleted_by_id(
    client: tuple[httpx.Client, dict[str, str]], store: Store
) -> None:
    http, tokens = client
    text = "Rye loaves want a wetter dough and a longer rest than wheat. " * 3
    body = {"title": "Rye", "text": text, "metadata": {"lang": "en", "tags": ["bread"]}}
    first = http.post("/api/search/documents", json=body, headers=_auth(tokens, "a"))
    assert first.status_code == 201, first.text
    doc = first.json()
    assert doc["source_uri"].startswith("sha256:") and doc["outcome"] == "inserted"
    again = http.post("/api/search/documents", json=body, headers=_auth(tokens, "a"))
    assert again.status_code == 200 and again.json()["document_id"] == doc["document_id"]
    assert again.json()["outcome"] == "unchanged"
    with store.connect() as conn:
        row = SearchRepository(conn).get(doc["document_id"])
    assert json.loads(row.metadata_json or "null") == {"lang": "en", "tags": ["bread"]}
    retagged = http.post(
        "/api/search/documents", json={**body, "metadata": {"lang": "de"}}, headers=_auth(tokens, "a")
    )
    assert retagged.status_code == 200 and retagged.json()["outcome"] == "updated"
    with store.connect() as conn:
        assert json.loads(SearchRepository(conn).get(doc["document_id"]).metadata_json or "null") == {
            "lang": "de"
        }
    nan = http.post(
        "/api/search/documents",
        content=b'{"text": "x y z", "metadata": {"v": NaN}}',
        headers=_auth(tokens, "a"),
    )
    assert nan.status_code == 422
    # Another tenant's id is not there for b: the same 404 as a missing one, and nothing is removed.
    path = f"/api/search/documents/{doc['document_id']}"
    assert http.delete(path, headers=_auth(tokens, "b")).status_code == 404
    assert http.delete("/api/search/documents/999999", headers=_auth(tokens, "b")).status_code == 404
    gone = http.delete(path, headers=_auth(tokens, "a"))
    assert gone.status_code == 200 and gone.json()["source_uri"] == doc["source_uri"]
    assert http.delete(path, headers=_auth(tokens, "a")).status_code == 404
