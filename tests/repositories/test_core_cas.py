"""CasRepository: hashing, objects, names, text bindings, metadata and causal links, on every backend."""

from __future__ import annotations

import base64

import pytest

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.core_cas import BINDING_KIND, HASH_LENGTH, CasRepository, cas_hash
from codex.store import Store

# semantics.md §12: the hash of the empty input.
EMPTY_HASH = (
    "KQFN7J527ADCBI5LCVE1GMJLDQBSJ0GM9VH5GMF0Q7EC2HQSG2J1BCGI7BOVBUAC27HUIG1C7B2LHT8036EPBDMJSC0NB1C650ESQ9G"
)
# SHA3-512("abc"): the NIST FIPS 202 example digest, and its base32hex form computed for this test.
ABC_HEX = (
    "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e"
    "10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"
)
ABC_HASH = (
    "MT8OA2OQASB8KLKJPM94MQO9DO4FC8C2EH2FE3C89TEG4G6IE4N11O8MT4CILSU939VCATI7SE9K0LPK1D6F826LKLIP5U179RM57S0"
)
ALPHABET = set("0123456789ABCDEFGHIJKLMNOPQRSTUV")


class Boom(Exception):
    pass


def test_hash_vectors() -> None:
    assert cas_hash(b"") == EMPTY_HASH
    assert cas_hash(b"abc") == ABC_HASH
    # The base32hex text decodes back to the NIST digest (padding restored: 103 chars -> 104).
    assert base64.b32hexdecode(ABC_HASH + "=").hex() == ABC_HEX
    for digest in (EMPTY_HASH, ABC_HASH, cas_hash(b"x" * 1000)):
        assert len(digest) == HASH_LENGTH and set(digest) <= ALPHABET


def test_store_get_and_object_rows(store: Store) -> None:
    with store.begin() as conn:
        cas = CasRepository(conn)
        digest = cas.store("source", b"abc")
        assert digest == ABC_HASH
        # INSERT OR IGNORE: same bytes, another kind -> same hash, first kind wins.
        assert cas.store("other", bytearray(b"abc")) == ABC_HASH
        empty = cas.store("blob", memoryview(b""))
        assert empty == EMPTY_HASH
    with store.connect() as conn:
        cas = CasRepository(conn)
        assert cas.get(ABC_HASH) == b"abc"
        assert cas.get(EMPTY_HASH) == b""
        obj = cas.get_object(ABC_HASH)
        assert (obj.hash, obj.kind, obj.data) == (ABC_HASH, "source", b"abc")
        assert len(obj.created_at) == 19  # 'YYYY-MM-DD HH:MM:SS'
        info = cas.get_info(ABC_HASH)
        assert (info.kind, info.size) == ("source", 3)
        assert cas.get_info(EMPTY_HASH).size == 0
        assert cas.exists(ABC_HASH) and not cas.exists(cas_hash(b"nope"))
        assert cas.get_one_or_none(cas_hash(b"nope")) is None
        assert cas.count() == 2 and cas.count(kind="source") == 1 and cas.count(kind="other") == 0


def test_store_many_is_one_batch_with_duplicates(store: Store) -> None:
    blobs: list[bytes | bytearray] = [b"one", b"two", b"one", bytearray(b"three")]
    with store.begin() as conn:
        hashes = CasRepository(conn).store_many("chunk", blobs)
        assert CasRepository(conn).store_many("chunk", []) == []
    assert hashes == [cas_hash(bytes(b)) for b in blobs]
    with store.connect() as conn:
        cas = CasRepository(conn)
        assert cas.count(kind="chunk") == 3
        assert [cas.get(h) for h in hashes] == [b"one", b"two", b"one", b"three"]


def test_missing_objects_raise_not_found(store: Store) -> None:
    missing = cas_hash(b"missing")
    with store.connect() as conn:
        cas = CasRepository(conn)
        for call in (cas.get, cas.get_object, cas.get_info):
            with pytest.raises(NotFound):
                call(missing)


def test_invalid_inputs(store: Store) -> None:
    with store.begin() as conn:
        cas = CasRepository(conn)
        with pytest.raises(InvalidInput):
            cas.store("", b"x")
        with pytest.raises(InvalidInput):
            cas.store("k", "text")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            cas.set_binding("ns", "n", b"bytes")  # type: ignore[arg-type]
        digest = cas.store("k", b"x")
        with pytest.raises(InvalidInput):
            cas.bind_name("", "n", digest)
        with pytest.raises(InvalidInput):
            cas.set_object_metadata(digest, "", "v")


def test_writes_refuse_a_read_connection(store: Store) -> None:
    with store.connect() as conn, pytest.raises(InvalidInput):
        CasRepository(conn).store("k", b"x")


def test_names_bind_lookup_list_and_upsert(store: Store) -> None:
    with store.begin() as conn:
        cas = CasRepository(conn)
        a, b = cas.store("k", b"a"), cas.store("k", b"b")
        cas.bind_name("app", "zeta", a)
        cas.bind_name("app", "alpha", a)
        cas.bind_name("other", "alpha", b)
        cas.bind_name("app", "alpha", b)  # upsert: rebinding overwrites
    with store.connect() as conn:
        cas = CasRepository(conn)
        assert cas.lookup_name("app", "alpha") == b
        assert cas.lookup_name("app", "zeta") == a
        assert [(r.name, r.hash) for r in cas.list_names("app")] == [("alpha", b), ("zeta", a)]
        assert [r.namespace for r in cas.list_names("other")] == ["other"]
        assert cas.list_names("empty") == []
        row = cas.get_name("app", "zeta")
        assert (row.namespace, row.name, row.hash) == ("app", "zeta", a)
        with pytest.raises(NotFound) as info:
            cas.lookup_name("app", "missing")
        assert info.value.message == "app.missing"
        with pytest.raises(NotFound):
            cas.get_name("nope", "alpha")


def test_bind_to_a_missing_object_is_a_conflict(store: Store) -> None:
    with store.begin() as conn:
        with pytest.raises(Conflict) as info:
            CasRepository(conn).bind_name("app", "x", cas_hash(b"never stored"))
        assert info.value.details["constraint"] == "foreign_key"


def test_rename_moves_and_overwrites(store: Store) -> None:
    with store.begin() as conn:
        cas = CasRepository(conn)
        a, b = cas.store("k", b"a"), cas.store("k", b"b")
        cas.bind_name("ns", "old", a)
        cas.bind_name("ns", "taken", b)
        cas.rename("ns", "old", "taken")  # overwrites the target
        cas.bind_name("ns", "self", b)
        cas.rename("ns", "self", "self")  # renaming to itself keeps the binding
        with pytest.raises(NotFound):
            cas.rename("ns", "old", "again")  # old is gone
        with pytest.raises(NotFound):
            cas.rename("other", "taken", "x")  # namespaces are separate
    with store.connect() as conn:
        cas = CasRepository(conn)
        assert [(r.name, r.hash) for r in cas.list_names("ns")] == [("self", b), ("taken", a)]


def test_unbind_name(store: Store) -> None:
    with store.begin() as conn:
        cas = CasRepository(conn)
        digest = cas.store("k", b"a")
        cas.bind_name("ns", "n", digest)
        assert cas.unbind_name("ns", "n") == 1
        assert cas.unbind_name("ns", "n") == 0
        assert cas.exists(digest)  # the object stays
        with pytest.raises(NotFound):
            cas.lookup_name("ns", "n")


def test_text_bindings(store: Store) -> None:
    with store.begin() as conn:
        cas = CasRepository(conn)
        first = cas.set_binding("cfg", "greeting", "grüß dich")
        second = cas.set_binding("cfg", "greeting", "hello")
        raw = cas.store("blob", b"\xff\xfe")
        cas.bind_name("cfg", "binary", raw)
    assert first == cas_hash("grüß dich".encode())
    assert second == cas_hash(b"hello")
    with store.connect() as conn:
        cas = CasRepository(conn)
        assert cas.get_binding("cfg", "greeting") == "hello"
        assert cas.get_object(first).kind == BINDING_KIND
        assert cas.get(first).decode("utf-8") == "grüß dich"  # the old text stays stored
        with pytest.raises(NotFound):
            cas.get_binding("cfg", "missing")
        with pytest.raises(InvalidInput):
            cas.get_binding("cfg", "binary")


def test_object_metadata(store: Store) -> None:
    with store.begin() as conn:
        cas = CasRepository(conn)
        digest = cas.store("k", b"a")
        other = cas.store("k", b"b")
        cas.set_object_metadata(digest, "mime", "text/plain")
        cas.set_object_metadata(digest, "author", "ann")
        cas.set_object_metadata(digest, "mime", "text/x-rust")  # upsert
        cas.set_object_metadata(other, "mime", "application/octet-stream")
        with pytest.raises(Conflict):
            cas.set_object_metadata(cas_hash(b"missing"), "k", "v")
    with store.connect() as conn:
        cas = CasRepository(conn)
        assert cas.get_object_metadata(digest, "mime") == "text/x-rust"
        rows = cas.get_all_object_metadata(digest)
        assert [(r.key, r.value) for r in rows] == [("author", "ann"), ("mime", "text/x-rust")]
        assert {r.hash for r in rows} == {digest}
        assert cas.get_all_object_metadata(cas_hash(b"missing")) == []
        with pytest.raises(NotFound):
            cas.get_object_metadata(digest, "license")


def test_causal_dependencies(store: Store) -> None:
    with store.begin() as conn:
        cas = CasRepository(conn)
        child, p1, p2 = cas.store("k", b"child"), cas.store("k", b"p1"), cas.store("k", b"p2")
        assert cas.add_dependency(child, p2) is True
        assert cas.add_dependency(child, p1) is True
        assert cas.add_dependency(child, p1) is False  # insert or ignore
        assert cas.add_dependency(p1, p2) is True
        with pytest.raises(Conflict):
            cas.add_dependency(child, cas_hash(b"missing"))
    with store.connect() as conn:
        cas = CasRepository(conn)
        assert cas.get_dependencies(child) == sorted([p1, p2])
        assert cas.get_dependencies(p2) == []
        assert cas.get_dependents(p2) == sorted([child, p1])


def test_rollback_leaves_nothing_and_no_change_rows(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        cas = CasRepository(conn)
        digest = cas.set_binding("ns", "n", "text")
        cas.set_object_metadata(digest, "k", "v")
        raise Boom
    with store.connect() as conn:
        cas = CasRepository(conn)
        assert cas.count() == 0 and cas.list_names("ns") == []
        # core_cas is not a live domain: it never writes change-log rows.
        assert ChangeLogRepository(conn).head() == 0
    with store.begin() as conn:
        CasRepository(conn).set_binding("ns", "n", "text")
    with store.connect() as conn:
        assert ChangeLogRepository(conn).head() == 0
