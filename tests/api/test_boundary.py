"""The JSON boundary: non-finite numbers, invalid Unicode, NUL and huge integers are refused where JSON
enters (bodies, query parameters, WebSocket frames), with the field named, and never emitted.

Units first (:mod:`codex.api.boundary`), then hypothesis against the app on a real libSQL file: every
hostile document is a 4xx naming the field, no response is >= 500, and a refused request stores nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Json

from codex.api import create_app, default_registry
from codex.api.boundary import JsonProblem, parse_json
from codex.api.registry import Query
from codex.config import LocalDb, load_settings
from codex.reactive import sse
from codex.repositories._base import dump_json, load_json
from codex.repositories.changelog import ChangeLogRepository
from codex.store import Store, open_store
from tests.api.conftest import make_tokens
from tests.api.inprocess import serve_in_thread

# -- units ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "loc", "kind"),
    [
        (b'{"a": NaN}', ["a"], "json_non_finite"),
        (b'{"a": [1, {"b": Infinity}]}', ["a", 1, "b"], "json_non_finite"),
        (b'{"a": -Infinity}', ["a"], "json_non_finite"),
        (b'{"a": 1e400}', ["a"], "json_non_finite"),
        (b'{"a": "\\ud800"}', ["a"], "json_invalid_unicode"),
        (b'{"a": ["x\xff"]}', ["a", 0], "json_invalid_unicode"),
        (b'{"a": "\xed\xa0\x80"}', ["a"], "json_invalid_unicode"),  # an encoded surrogate
        (b'{"a": "x\\u0000"}', ["a"], "json_nul"),
        (b'{"a": 9223372036854775808}', ["a"], "json_int_range"),
        (b'{"a": -9223372036854775809}', ["a"], "json_int_range"),
        (b'{"a": ' + b"9" * 5000 + b"}", ["a"], "json_int_range"),
        (b"[" * 300 + b"]" * 300, [], "json_too_deep"),
        (b"{nope", [], "json_invalid"),
    ],
)
def test_parse_json_names_the_offending_value(raw: bytes, loc: list[object], kind: str) -> None:
    with pytest.raises(JsonProblem) as info:
        parse_json(raw)
    assert (info.value.loc[: len(loc)] if kind == "json_too_deep" else info.value.loc) == loc
    assert info.value.kind == kind


def test_parse_json_accepts_what_json_allows() -> None:
    doc = (
        b'\xef\xbb\xbf{"a": [1, -2.5e10, "\\ud83d\\ude00", "\xc3\xa9", null, true], "b": 9223372036854775807}'
    )
    assert parse_json(doc) == {"a": [1, -2.5e10, "\U0001f600", "é", None, True], "b": 2**63 - 1}


def test_nothing_non_finite_is_stored_or_emitted() -> None:
    from codex.errors import InvalidInput

    with pytest.raises(InvalidInput):
        dump_json({"x": math.nan})
    # rows written by earlier versions read back as null, and an SSE frame never carries a bare NaN
    assert load_json('{"x":NaN,"y":[Infinity,1]}') == {"x": None, "y": [None, 1]}
    frame = sse.event({"x": math.inf, "y": [math.nan]}, event_id=1)
    assert b"NaN" not in frame and b"Infinity" not in frame and b'"x":null' in frame
    assert sse.json_text({"a": -math.inf}) == '{"a":null}'


# -- hypothesis over the app on a real libSQL file -----------------------------------------------------

clean_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    clean_text,
)
json_doc = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(clean_text, inner, max_size=3)),
    max_leaves=8,
)
HOSTILE: list[tuple[str, bytes]] = [
    ("json_non_finite", b"NaN"),
    ("json_non_finite", b"Infinity"),
    ("json_non_finite", b"-Infinity"),
    ("json_non_finite", b"-1e999"),
    ("json_invalid_unicode", b'"\\ud800"'),
    ("json_invalid_unicode", b'"ok\\udfff"'),
    ("json_invalid_unicode", b'"bad \xff byte"'),
    ("json_nul", b'"nul\\u0000"'),
    ("json_int_range", b"18446744073709551616"),
]
MARK = "__HOSTILE__"


def _plant(doc: Any, path: list[int]) -> tuple[Any, list[str | int]]:
    """``doc`` with MARK placed somewhere (steered by ``path``), and where it went."""
    if isinstance(doc, dict) and doc and path:
        key = sorted(doc)[path[0] % len(doc)]
        child, where = _plant(doc[key], path[1:])
        return {**doc, key: child}, [key, *where]
    if isinstance(doc, list) and doc and path:
        i = path[0] % len(doc)
        child, where = _plant(doc[i], path[1:])
        return [*doc[:i], child, *doc[i + 1 :]], [i, *where]
    if isinstance(doc, (dict, list)):
        return ({**doc, "zz": MARK}, ["zz"]) if isinstance(doc, dict) else ([*doc, MARK], [len(doc)])
    return MARK, []


@pytest.fixture(scope="module")
def app_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, Store, dict[str, str]]]:
    """The app in process over a real libSQL file, with one extra query whose parameter carries JSON."""

    class FilterParams(json_params_base()):  # type: ignore[misc]
        where: Json[Any] = None

    registry = default_registry()
    registry.query(Query("echo.filter", FilterParams, lambda conn, who, p: p.where, "Echo a JSON filter."))
    store = open_store(LocalDb(path=str(tmp_path_factory.mktemp("boundary") / "codex.db")))
    tokens = make_tokens(store)
    app = create_app(store, settings=load_settings(environ={}), registry=registry)
    try:
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client, store, tokens
    finally:
        store.dispose()


def json_params_base() -> type:
    from codex.api.named._common import Body

    return Body


def _head(store: Store) -> tuple[int, int]:
    with store.connect() as conn:
        counters = conn.exec_driver_sql(
            "SELECT COALESCE(SUM(amount), 0) FROM usage_counter_snapshots"
        ).scalar()
        return ChangeLogRepository(conn).head(), int(counters or 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_doc, path=st.lists(st.integers(0, 9), max_size=4), hostile=st.sampled_from(HOSTILE))
def test_hostile_bodies_are_refused_naming_the_field_and_store_nothing(
    app_client: tuple[httpx.Client, Store, dict[str, str]],
    doc: Any,
    path: list[int],
    hostile: tuple[str, bytes],
) -> None:
    client, store, tokens = app_client
    planted, where = _plant(doc, path)
    text = json.dumps({"topic": "fuzz/1", "change_kind": "insert", "payload": planted})
    body = text.encode().replace(json.dumps(MARK).encode(), hostile[1], 1)
    before = _head(store)
    r = client.post(
        "/api/codex/mutate/change",
        content=body,
        headers={"Authorization": f"Bearer {tokens['a_all']}", "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "ValidationError" and err["request_id"] == r.headers["x-request-id"]
    assert err["fields"][0]["loc"] == ["body", "payload", *where] and err["fields"][0]["type"] == hostile[0]
    assert _head(store) == before  # no change-log row, no usage consumed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_doc)
def test_clean_bodies_round_trip(app_client: tuple[httpx.Client, Store, dict[str, str]], doc: Any) -> None:
    client, _, tokens = app_client
    auth = {"Authorization": f"Bearer {tokens['a_all']}"}
    r = client.post(
        "/api/codex/mutate/change",
        json={"topic": "fuzz/ok", "change_kind": "insert", "payload": doc},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    change_id = r.json()["change_log_id"]
    listed = client.get(
        "/api/codex/query/changes.since", params={"after_id": change_id - 1, "limit": 1}, headers=auth
    )
    assert listed.status_code == 200 and listed.json()["result"][0]["payload"] == doc


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"where": '{"x": NaN}'}, ["query", "where", "x"]),
        ({"where": '["\\ud800"]'}, ["query", "where"]),  # refused by the JSON parser itself
        ({"where": "[99999999999999999999]"}, ["query", "where", 0]),
    ],
)
def test_query_parameters_that_carry_json_are_checked(
    app_client: tuple[httpx.Client, Store, dict[str, str]], params: dict[str, str], loc: list[object]
) -> None:
    client, _, tokens = app_client
    r = client.get(
        "/api/codex/query/echo.filter", params=params, headers={"Authorization": f"Bearer {tokens['a_all']}"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["fields"][0]["loc"] == loc and "request_id" in r.json()
    ok = client.get(
        "/api/codex/query/echo.filter",
        params={"where": '{"x": 1.5}'},
        headers={"Authorization": f"Bearer {tokens['a_all']}"},
    )
    assert ok.status_code == 200 and ok.json()["result"] == {"x": 1.5}


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        (b"after_id=99999999999999999999", ["query", "after_id"]),
        (b"topic=a%00", ["query", "topic"]),
        (b"topic=%ff", ["query", "topic"]),
    ],
)
def test_hostile_query_strings_are_422(
    app_client: tuple[httpx.Client, Store, dict[str, str]], query: bytes, loc: list[object]
) -> None:
    client, _, tokens = app_client
    r = client.get(
        f"/api/codex/query/changes.since?{query.decode()}",
        headers={"Authorization": f"Bearer {tokens['a_all']}"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["fields"][0]["loc"] == loc


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/app.js%00.js",
        "/console/static/%2e%2e/pages.py",
        "/console/static/..%2fpages.py",
        "/api/codex/query/a%0Ab",
    ],
)
def test_null_bytes_and_encoded_traversal_in_paths_are_404(
    app_client: tuple[httpx.Client, Store, dict[str, str]], path: str
) -> None:
    client, _, _ = app_client
    r = client.get(path)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "NotFound" and r.json()["request_id"]


def test_rows_stored_with_nan_by_earlier_versions_still_read(
    app_client: tuple[httpx.Client, Store, dict[str, str]],
) -> None:
    client, store, tokens = app_client
    with store.begin() as conn:  # what the old code stored for {"x": NaN}
        conn.exec_driver_sql(
            "INSERT INTO codex_change_log (topic, change_kind, payload_json) VALUES ('legacy/1', 'insert', '{\"x\":NaN}')"
        )
        head = ChangeLogRepository(conn).head()
    auth = {"Authorization": f"Bearer {tokens['default_all']}"}
    r = client.get("/api/codex/query/changes.since", params={"after_id": head - 1}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["payload"] == {"x": None}
