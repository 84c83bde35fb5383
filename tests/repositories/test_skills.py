"""SkillRepository: publish (upsert per version), latest manifest, listings, unpublish.

The skills domain is not live: no change-log rows are written.
"""

from __future__ import annotations

import pytest

from codex.errors import InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.skills import SkillRepository, version_key
from codex.store import Store


class Boom(Exception):
    pass


def set_published(store: Store, skill_id: str, version: str, published_at: str) -> None:
    with store.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE skill_manifests SET published_at = ? WHERE id = ? AND version = ?",
            (published_at, skill_id, version),
        )


def test_publish_get_and_republish(store: Store) -> None:
    with store.begin() as conn:
        skills = SkillRepository(conn)
        row = skills.publish("fmt", "1.0.0", {"name": "fmt", "tools": ["ruff"]}, "# fmt\n")
        assert (row.id, row.version, row.skill_md) == ("fmt", "1.0.0", "# fmt\n")
        assert row.manifest == {"name": "fmt", "tools": ["ruff"]}
        assert row.manifest_json == '{"name":"fmt","tools":["ruff"]}' and row.published_at
    set_published(store, "fmt", "1.0.0", "2026-01-01 00:00:00")
    with store.begin() as conn:
        skills = SkillRepository(conn)
        again = skills.publish("fmt", "1.0.0", {"name": "fmt", "tools": []}, "# fmt v2\n")
        assert again.manifest == {"name": "fmt", "tools": []} and again.skill_md == "# fmt v2\n"
        assert again.published_at > "2026-01-01 00:00:00"  # re-publishing restarts published_at
        assert skills.count() == 1 and skills.get("fmt", "1.0.0") == again
        assert skills.get_one_or_none("fmt", "9.9.9") is None
        with pytest.raises(NotFound):
            skills.get("fmt", "9.9.9")
    with store.connect() as conn:
        assert ChangeLogRepository(conn).head() == 0


def test_get_manifest_is_latest_by_published_at_then_version(store: Store) -> None:
    with store.begin() as conn:
        skills = SkillRepository(conn)
        assert skills.get_manifest("lint") is None
        skills.publish("lint", "2.0.0", {"v": 2}, "two")
        skills.publish("lint", "1.0.0", {"v": 1}, "one")
    set_published(store, "lint", "2.0.0", "2026-01-01 00:00:00")
    set_published(store, "lint", "1.0.0", "2026-02-01 00:00:00")
    with store.connect() as conn:
        latest = SkillRepository(conn).get_manifest("lint")
        assert latest is not None and latest.version == "1.0.0"  # the later publish wins over 2.0.0
    with store.begin() as conn:
        skills = SkillRepository(conn)
        for version in ("1.9.0", "1.10.0", "1.10.0-rc.1"):
            skills.publish("lint", version, {"v": version}, version)
    for version in ("1.9.0", "1.10.0", "1.10.0-rc.1"):
        set_published(store, "lint", version, "2026-03-01 00:00:00")
    with store.connect() as conn:
        latest = SkillRepository(conn).get_manifest("lint")
        assert latest is not None and latest.version == "1.10.0"  # same second: highest version


def test_version_key_orders_like_semver() -> None:
    ordered = [
        "0.9.0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.0",
        "1.10.0",
    ]
    assert sorted(reversed(ordered), key=version_key) == ordered
    assert version_key("1.0.0+build.5") == version_key("1.0.0")
    assert version_key("2") > version_key("1.99")


def test_list_versions_exists_unpublish_and_delete(store: Store) -> None:
    with store.begin() as conn:
        skills = SkillRepository(conn)
        skills.publish("a", "1", {}, "a1")
        skills.publish("b", "1", {}, "b1")
        skills.publish("a", "2", {}, "a2")
    set_published(store, "a", "1", "2026-01-01 00:00:00")
    with store.begin() as conn:
        skills = SkillRepository(conn)
        # b@1 and a@2 share a second: the later publish (higher rowid) comes first.
        assert [(r.id, r.version) for r in skills.list()] == [("a", "2"), ("b", "1"), ("a", "1")]
        assert [(r.id, r.version) for r in skills.list(limit=1)] == [("a", "2")]
        assert [r.version for r in skills.versions("a")] == ["2", "1"]
        assert skills.exists("a") and not skills.exists("zzz")
        assert skills.count(skill_id="a") == 2
        assert skills.unpublish("a") == 2
        assert skills.unpublish("a") == 0
        assert skills.get_manifest("a") is None and skills.versions("a") == []
        skills.delete("b", "1")
        assert skills.list() == []
        with pytest.raises(NotFound):
            skills.delete("b", "1")


def test_invalid_inputs_and_read_only(store: Store) -> None:
    with store.begin() as conn:
        skills = SkillRepository(conn)
        for skill_id, version in (("", "1"), ("x", "")):
            with pytest.raises(InvalidInput):
                skills.publish(skill_id, version, {}, "md")
        with pytest.raises(InvalidInput):
            skills.publish("x", "1", None, "md")
        with pytest.raises(InvalidInput):
            skills.publish("x", "1", {"bad": {1, 2}}, "md")
    with store.connect() as conn:
        with pytest.raises(InvalidInput):
            SkillRepository(conn).publish("x", "1", {}, "md")
        with pytest.raises(InvalidInput):
            SkillRepository(conn).unpublish("x")
        assert SkillRepository(conn).count() == 0


def test_rollback_leaves_no_row(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        SkillRepository(conn).publish("x", "1", {}, "md")
        raise Boom
    with store.connect() as conn:
        assert SkillRepository(conn).count() == 0
        assert ChangeLogRepository(conn).head() == 0
