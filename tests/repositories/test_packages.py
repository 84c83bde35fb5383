"""PackageRepository: publish/deps/versions/search/yank/delete, version ordering and the change log."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.core_cas import CasRepository, cas_hash
from codex.repositories.packages import PackageRepository, version_key
from codex.store import Store


class Boom(Exception):
    pass


def _blob(conn: sa.Connection, text: str) -> str:
    return CasRepository(conn).store("package", text.encode())


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.9.0", "1.10.0"),
        ("1.2.3", "1.2.10"),
        ("0.9", "1.0.0"),
        ("2.0.0-rc.1", "2.0.0"),
        ("2.0.0-alpha", "2.0.0-alpha.1"),
        ("2.0.0-alpha.1", "2.0.0-alpha.beta"),
        ("2.0.0-beta.2", "2.0.0-beta.11"),
        ("2.0.0-rc.1", "2.0.1-alpha"),
        ("1.0.0", "v1.0.1"),
        ("9.99.99", "10.0.0"),
    ],
)
def test_version_key_orders_versions_not_strings(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_version_key_equivalences() -> None:
    assert version_key("1.0")[:3] == version_key("1.0.0")[:3]
    assert version_key("1.0.0+build.5")[:3] == version_key("1.0.0")[:3]
    # Unparsable text still sorts deterministically.
    assert sorted(["zzz", "1.0", "", "abc"], key=version_key) == sorted(
        ["abc", "zzz", "", "1.0"], key=version_key
    )


def test_publish_get_and_upsert(store: Store) -> None:
    with store.begin() as conn:
        h1, h2 = _blob(conn, "v1"), _blob(conn, "v1 again")
        repo = PackageRepository(conn)
        row = repo.publish("http", "1.0.0", h1, description="HTTP client", author="ann", license="MIT")
        assert (row.name, row.version, row.hash, row.yanked, row.is_yanked) == ("http", "1.0.0", h1, 0, False)
        assert (row.description, row.author, row.license) == ("HTTP client", "ann", "MIT")
        assert len(row.published_at) == 19
        assert repo.yank("http", "1.0.0") == 1
        assert repo.get("http", "1.0.0").is_yanked
        again = repo.publish("http", "1.0.0", h2, description="HTTP client v2")  # upsert un-yanks
    assert (again.hash, again.yanked, again.description, again.author) == (h2, 0, "HTTP client v2", None)
    with store.connect() as conn:
        repo = PackageRepository(conn)
        assert repo.get("http", "1.0.0") == again
        assert repo.get_one_or_none("http", "9.9.9") is None
        assert repo.exists("http") and repo.exists("http", "1.0.0")
        assert not repo.exists("http", "2.0.0") and not repo.exists("nope")
        assert repo.count() == 1
        with pytest.raises(NotFound):
            repo.get("http", "9.9.9")


def test_publish_with_deps_replaces_the_dep_set(store: Store) -> None:
    with store.begin() as conn:
        h = _blob(conn, "x")
        repo = PackageRepository(conn)
        repo.publish("app", "1.0.0", h, deps={"zlib": "^1", "json": ">=2", "base": "*"})
        assert [(d.dep_name, d.dep_version_req) for d in repo.deps("app", "1.0.0")] == [
            ("base", "*"),
            ("json", ">=2"),
            ("zlib", "^1"),
        ]
        repo.publish("app", "1.0.0", h)  # deps=None keeps the stored set
        assert len(repo.deps("app", "1.0.0")) == 3
        repo.publish("app", "1.0.0", h, deps={"json": ">=3"})  # a given set replaces it
    with store.connect() as conn:
        deps = PackageRepository(conn).deps("app", "1.0.0")
        assert [(d.package_name, d.package_version, d.dep_name, d.dep_version_req) for d in deps] == [
            ("app", "1.0.0", "json", ">=3")
        ]
        assert PackageRepository(conn).deps("app", "2.0.0") == []


def test_add_dep_upserts_and_needs_a_published_version(store: Store) -> None:
    with store.begin() as conn:
        repo = PackageRepository(conn)
        repo.publish("app", "1.0.0", _blob(conn, "x"))
        repo.add_dep("app", "1.0.0", "json", "^1")
        repo.add_dep("app", "1.0.0", "json", "^2")
        repo.add_dep("app", "1.0.0", "base", "*")
        with pytest.raises(Conflict) as info:
            repo.add_dep("app", "9.9.9", "json", "^1")
        assert info.value.details["constraint"] == "foreign_key"
        with pytest.raises(InvalidInput):
            repo.add_dep("app", "1.0.0", "", "^1")
    with store.connect() as conn:
        deps = PackageRepository(conn).deps("app", "1.0.0")
        assert [(d.dep_name, d.dep_version_req) for d in deps] == [("base", "*"), ("json", "^2")]


def test_publish_refuses_bad_input(store: Store) -> None:
    with store.begin() as conn:
        repo = PackageRepository(conn)
        h = _blob(conn, "x")
        with pytest.raises(Conflict):
            repo.publish("app", "1.0.0", cas_hash(b"never stored"))
        for name, version in (("", "1.0.0"), ("app", ""), ("bad name", "1.0.0")):
            with pytest.raises(InvalidInput):
                repo.publish(name, version, h)
        with pytest.raises(InvalidInput):
            repo.publish("app", "1.0.0", h, deps={"": "^1"})
    with store.connect() as conn:
        assert PackageRepository(conn).count(include_yanked=True) == 0
        with pytest.raises(InvalidInput):
            PackageRepository(conn).yank("app", "1.0.0")  # read connection


def test_versions_newest_first_by_version(store: Store) -> None:
    published = ["1.9.0", "1.10.0", "1.2.0", "2.0.0-rc.1", "2.0.0", "0.1.0", "1.10.0-beta"]
    with store.begin() as conn:
        repo = PackageRepository(conn)
        hashes = {v: _blob(conn, v) for v in published}
        for v in published:
            repo.publish("lib", v, hashes[v])
        repo.publish("other", "5.0.0", _blob(conn, "other"))
        repo.yank("lib", "2.0.0")
    with store.connect() as conn:
        repo = PackageRepository(conn)
        versions = repo.versions("lib")
        assert [v.version for v in versions] == [
            "2.0.0-rc.1",
            "1.10.0",
            "1.10.0-beta",
            "1.9.0",
            "1.2.0",
            "0.1.0",
        ]
        assert all(v.hash == hashes[v.version] for v in versions)
        assert repo.latest("lib").version == "2.0.0-rc.1"
        assert repo.versions("missing") == []
        assert repo.count() == 7 and repo.count(include_yanked=True) == 8
        with pytest.raises(NotFound):
            repo.latest("missing")


def test_search_like_escaping_yanked_and_limit(store: Store) -> None:
    with store.begin() as conn:
        repo = PackageRepository(conn)
        h = _blob(conn, "x")
        repo.publish("json-fast", "1.0.0", h, description="A JSON parser")
        repo.publish("yaml", "1.0.0", h, description="reads json_like and YAML")
        repo.publish("toml", "1.0.0", h, description="100% TOML")
        repo.publish("jsonx", "1.0.0", h, description="old")
        repo.publish("jsonx", "2.0.0", h, description="new")
        repo.yank("jsonx", "1.0.0")
    with store.connect() as conn:
        repo = PackageRepository(conn)
        found = repo.search("json")
        # Newest first: same published_at second, so the most recently published comes first.
        assert [(r.name, r.version) for r in found] == [
            ("jsonx", "2.0.0"),
            ("yaml", "1.0.0"),
            ("json-fast", "1.0.0"),
        ]
        assert [r.name for r in repo.search("JSON_")] == ["yaml"]  # '_' is literal, not a wildcard
        assert [r.name for r in repo.search("0%")] == ["toml"]  # '%' is literal
        assert repo.search("json%x") == []
        assert len(repo.search("", limit=2)) == 2
        assert len(repo.search("json", limit=0)) == 1  # clamped to >= 1
        assert repo.search("nothing-matches") == []


def test_yank_and_delete_return_counts(store: Store) -> None:
    with store.begin() as conn:
        repo = PackageRepository(conn)
        repo.publish("app", "1.0.0", _blob(conn, "x"), deps={"json": "^1", "base": "*"})
        repo.publish("app", "1.1.0", _blob(conn, "y"), deps={"json": "^1"})
        assert repo.yank("app", "9.9.9") == 0
        assert repo.yank("app", "1.0.0") == 1
        assert repo.delete("app", "1.0.0") == 1  # deps first, then the row (no FK failure)
        assert repo.delete("app", "1.0.0") == 0
    with store.connect() as conn:
        repo = PackageRepository(conn)
        assert repo.get_one_or_none("app", "1.0.0") is None
        assert repo.deps("app", "1.0.0") == []
        assert [d.dep_name for d in repo.deps("app", "1.1.0")] == ["json"]
        assert [v.version for v in repo.versions("app")] == ["1.1.0"]


def test_change_log_rows(store: Store) -> None:
    with store.begin() as conn:
        repo = PackageRepository(conn)
        h = _blob(conn, "x")
        repo.publish("app", "1.0.0", h, deps={"json": "^1"})
        repo.add_dep("app", "1.0.0", "base", "*")
        repo.yank("app", "1.0.0")
        repo.yank("app", "7.7.7")  # nothing changed: no row
        repo.delete("app", "1.0.0")
        repo.delete("app", "1.0.0")  # nothing changed: no row
        repo.publish("@scope/pkg", "0.1.0", h)
    with store.connect() as conn:
        log = ChangeLogRepository(conn)
        rows = log.since(0, topic="packages/app")
        assert [(r.change_kind, r.entity_kind, r.entity_id) for r in rows] == [
            ("insert", "package", "app@1.0.0"),
            ("update", "package", "app@1.0.0"),
            ("update", "package", "app@1.0.0"),
            ("delete", "package", "app@1.0.0"),
        ]
        assert rows[0].payload == {"name": "app", "version": "1.0.0", "hash": h, "deps": {"json": "^1"}}
        assert rows[1].payload == {
            "name": "app",
            "version": "1.0.0",
            "dep_name": "base",
            "dep_version_req": "*",
        }
        assert rows[2].payload == {"name": "app", "version": "1.0.0", "yanked": True}
        assert rows[3].payload == {"name": "app", "version": "1.0.0"}
        scoped = log.since(0, topic="packages/@scope/pkg")
        assert [(r.change_kind, r.entity_id) for r in scoped] == [("insert", "@scope/pkg@0.1.0")]
        assert log.count() == 5


def test_rollback_leaves_neither_row_nor_change(store: Store) -> None:
    with store.begin() as conn:
        PackageRepository(conn).publish("keep", "1.0.0", _blob(conn, "keep"))
    with pytest.raises(Boom), store.begin() as conn:
        repo = PackageRepository(conn)
        repo.publish("app", "1.0.0", _blob(conn, "x"), deps={"json": "^1"})
        repo.yank("keep", "1.0.0")
        repo.delete("keep", "1.0.0")
        raise Boom
    with store.connect() as conn:
        repo = PackageRepository(conn)
        assert repo.get_one_or_none("app", "1.0.0") is None and repo.deps("app", "1.0.0") == []
        assert not repo.get("keep", "1.0.0").is_yanked
        log = ChangeLogRepository(conn)
        assert log.since(0, topic="packages/app") == []
        assert [r.change_kind for r in log.since(0, topic="packages/keep")] == ["insert"]
