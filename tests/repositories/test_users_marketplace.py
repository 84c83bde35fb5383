"""users_marketplace repositories: users, preferences, behaviour, learned patterns, marketplace, agents."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.users_marketplace import (
    ARTIFACT_LIST_MAX,
    ARTIFACT_SEARCH_MAX,
    AgentRepository,
    BehaviourRepository,
    CommandFrequencyRow,
    LearnedPatternRepository,
    MarketplaceRepository,
    UserRepository,
)
from codex.store import Store


class Boom(Exception):
    pass


def test_users_upsert_and_get(store: Store) -> None:
    with store.begin() as conn:
        users = UserRepository(conn)
        first = users.upsert("u1", "Ada", email="ada@example.org")
        assert (first.role, first.email, first.avatar_url) == ("user", "ada@example.org", None)
        second = users.upsert("u1", "Ada L.", avatar_url="https://x/a.png", role="admin")
    assert (second.display_name, second.email, second.avatar_url, second.role) == (
        "Ada L.",
        None,
        "https://x/a.png",
        "admin",
    )
    assert second.created_at == first.created_at
    with store.connect() as conn:
        users = UserRepository(conn)
        assert users.get("u1") == second
        with pytest.raises(NotFound):
            users.get("u2")


def test_user_required_fields_conflict(store: Store) -> None:
    with store.begin() as conn, pytest.raises(Conflict) as err:
        UserRepository(conn).upsert("u1", None)  # type: ignore[arg-type]
    assert err.value.details.get("constraint") == "not_null"


def test_preferences(store: Store) -> None:
    with store.begin() as conn:
        users = UserRepository(conn)
        users.set_preference("u1", "theme", "dark")
        users.set_preference("u1", "editor", "vim")
        row = users.set_preference("u1", "theme", "light")
        users.set_preference("u2", "theme", "solarized")
    assert (row.user_id, row.key, row.value) == ("u1", "theme", "light") and row.updated_at
    with store.connect() as conn:
        users = UserRepository(conn)
        assert users.get_preference("u1", "theme") == "light"
        assert users.get_preference("u1", "font") is None
        assert users.get_preference("u3", "theme") is None
        assert [(p.key, p.value) for p in users.list_preferences("u1")] == [
            ("editor", "vim"),
            ("theme", "light"),
        ]
        assert users.list_preferences("u3") == []
    with store.begin() as conn:
        conn.execute(sa.text("UPDATE user_preferences SET updated_at = '2000-01-01 00:00:00'"))
        refreshed = UserRepository(conn).set_preference("u1", "theme", "sepia")
    assert refreshed.value == "sepia" and refreshed.updated_at > "2000-01-01 00:00:00"


def test_behaviour_events_summary_and_listing(store: Store) -> None:
    with store.begin() as conn:
        be = BehaviourRepository(conn)
        e1 = be.record_event("u1", "page_view", context="/home")
        e2 = be.record_event("u1", "cli_command", context="build", metadata={"success": True})
        e3 = be.record_event("u1", "page_view", context="/docs", metadata={"ms": 3})
        be.record_event("u2", "page_view")
    with store.connect() as conn:
        be = BehaviourRepository(conn)
        assert be.summary("u1") == {"cli_command": 1, "page_view": 2}
        assert be.summary("nobody") == {}
        events = be.events("u1")
        assert [e.id for e in events] == [e3, e2, e1]  # newest first
        assert events[0].metadata == {"ms": 3} and events[0].context == "/docs"
        assert events[2].metadata is None
        assert [e.id for e in be.events("u1", event_type="page_view")] == [e3, e1]
        assert [e.id for e in be.events("u1", limit=1)] == [e3]
        assert be.events("u1", event_type="nothing") == []


def test_command_frequency(store: Store) -> None:
    with store.begin() as conn:
        be = BehaviourRepository(conn)
        for meta in (
            {"success": True, "duration_ms": 100},
            {"success": False, "duration_ms": 300},
            {"success": True},
            {"success": "true", "duration_ms": "slow"},  # a string is neither success nor a duration
        ):
            be.record_event("u1", "cli_command", context="build", metadata=meta)
        be.record_event("u1", "cli_command", context="test", metadata={"success": True, "duration_ms": 5.5})
        be.record_event("u1", "cli_command", context="test", metadata={"success": 1, "duration_ms": 4.5})
        be.record_event("u1", "cli_command", context="lint")
        be.record_event("u1", "page_view", context="build", metadata={"success": True})  # not a command
        be.record_event("u2", "cli_command", context="build", metadata={"success": True})  # other user
        # an importer's non-JSON metadata must not break the aggregate
        conn.execute(
            sa.text(
                "INSERT INTO behavior_events (user_id, event_type, context, metadata) "
                "VALUES ('u1', 'cli_command', 'lint', 'not json')"
            )
        )
    with store.connect() as conn:
        be = BehaviourRepository(conn)
        assert be.command_frequency("u1") == [
            CommandFrequencyRow("build", 4, 2, 200.0),
            CommandFrequencyRow("lint", 2, 0, None),
            CommandFrequencyRow("test", 2, 1, 5.0),
        ]
        assert [r.command for r in be.command_frequency("u1", limit=1)] == ["build"]
        assert be.command_frequency("nobody") == []


def test_learned_patterns(store: Store) -> None:
    with store.begin() as conn:
        lp = LearnedPatternRepository(conn)
        p1 = lp.add("u1", "habit", "editor", "prefers vim", 0.5, vcs_snapshot_id="snap-1")
        p2 = lp.add("u1", "habit", "shell", "uses zsh", 0.9)
        p3 = lp.add("u1", "habit", "editor", "tabs", 0.5)
        p4 = lp.add("u2", "habit", "editor", "emacs", 1.0)
        for bad in (-0.1, 1.01, math.nan):
            with pytest.raises(InvalidInput):
                lp.add("u1", "habit", "editor", "bad", bad)
    with store.connect() as conn:
        lp = LearnedPatternRepository(conn)
        row = lp.get(p1)
        assert (row.user_id, row.category, row.description, row.confidence) == (
            "u1",
            "editor",
            "prefers vim",
            0.5,
        )
        assert row.vcs_snapshot_id == "snap-1"
        with pytest.raises(NotFound):
            lp.get(999)
        assert [p.id for p in lp.list("u1")] == [p2, p3, p1]  # confidence desc, then id desc
        assert [p.id for p in lp.list("u1", limit=2)] == [p2, p3]
        assert [p.id for p in lp.list_by_category("u1", "editor")] == [p3, p1]
        assert [p.id for p in lp.list_by_category("u2", "editor")] == [p4]
    with store.begin() as conn:
        lp = LearnedPatternRepository(conn)
        updated = lp.update_confidence(p1, 1.0)
        assert updated.id == p1 and updated.confidence == 1.0
        with pytest.raises(NotFound):
            lp.update_confidence(999, 0.5)
        with pytest.raises(InvalidInput):
            lp.update_confidence(p1, 2.0)
    with store.connect() as conn:
        lp = LearnedPatternRepository(conn)
        assert lp.get(p1).confidence == 1.0
        assert [p.id for p in lp.list("u1")] == [p1, p2, p3]


def test_artifacts_publish_search_list(store: Store) -> None:
    with store.begin() as conn:
        mk = MarketplaceRepository(conn)
        a = mk.publish_artifact("a", "skill", "sql_helper", "ada", "h1", "1.0", description="100% SQL")
        mk.publish_artifact("b", "skill", "sqlXhelper", "bob", "h2", "1.0")
        mk.publish_artifact(
            "c", "agent", "Reviewer", "ada", "h3", "0.1", description="reviews sql", tags="x,y"
        )
    assert (a.status, a.downloads, a.avg_rating, a.tags) == ("public", 0, 0.0, None)
    with store.connect() as conn:
        mk = MarketplaceRepository(conn)
        # newest first (same-second ties broken by insertion order)
        assert [r.id for r in mk.search_artifacts("sql")] == ["c", "b", "a"]  # name or description
        assert [r.id for r in mk.search_artifacts("l_h")] == ["a"]  # '_' is literal
        assert [r.id for r in mk.search_artifacts("%")] == ["a"]  # '%' is literal
        assert [r.id for r in mk.search_artifacts("sql", limit=1)] == ["c"]
        assert [r.id for r in mk.list_artifacts("skill")] == ["b", "a"]
        assert mk.list_artifacts("nothing") == []
        assert mk.get_artifact("c").tags == "x,y"
        with pytest.raises(NotFound):
            mk.get_artifact("zzz")


def test_artifact_listing_caps(store: Store) -> None:
    with store.begin() as conn:
        mk = MarketplaceRepository(conn)
        for i in range(ARTIFACT_LIST_MAX + 3):
            mk.publish_artifact(f"a{i:04d}", "skill", f"thing {i}", "ada", "h", "1")
    with store.connect() as conn:
        mk = MarketplaceRepository(conn)
        assert len(mk.list_artifacts("skill", limit=10_000)) == ARTIFACT_LIST_MAX
        assert len(mk.search_artifacts("thing", limit=10_000)) == ARTIFACT_SEARCH_MAX


def test_reviews_maintain_avg_rating_and_downloads(store: Store) -> None:
    with store.begin() as conn:
        mk = MarketplaceRepository(conn)
        mk.publish_artifact("a", "skill", "n", "ada", "h", "1.0")
        r1 = mk.submit_review("a", "bob", "approved", rating=5, comment="great")
        r2 = mk.submit_review("a", "cy", "approved", rating=2)
        r3 = mk.submit_review("a", "dan", "commented", comment="no rating")
        for bad in (0, 6, True):
            with pytest.raises(InvalidInput):
                mk.submit_review("a", "eve", "approved", rating=bad)
        with pytest.raises(NotFound):
            mk.submit_review("missing", "eve", "approved", rating=3)
        assert mk.increment_downloads("a") == 1
        assert mk.increment_downloads("a") == 2
        with pytest.raises(NotFound):
            mk.increment_downloads("missing")
    with store.connect() as conn:
        mk = MarketplaceRepository(conn)
        art = mk.get_artifact("a")
        assert (art.avg_rating, art.downloads) == (3.5, 2)
        reviews = mk.list_reviews("a")
        assert [r.id for r in reviews] == [r3, r2, r1]  # newest first
        assert (reviews[2].reviewer_id, reviews[2].rating, reviews[2].comment) == ("bob", 5, "great")
        assert reviews[0].rating is None
        assert mk.list_reviews("missing") == []  # the refused review wrote nothing
    with store.begin() as conn:
        conn.execute(sa.text("UPDATE artifacts SET created_at = '2000-01-01 00:00:00'"))
        mk = MarketplaceRepository(conn)
        republished = mk.publish_artifact("a", "skill", "renamed", "ada", "h2", "2.0", status="hidden")
    assert (republished.name, republished.version, republished.status) == ("renamed", "2.0", "hidden")
    # kept across a republish
    assert (republished.avg_rating, republished.downloads) == (3.5, 2)
    assert republished.created_at == "2000-01-01 00:00:00"


def test_agents(store: Store) -> None:
    with store.begin() as conn:
        ag = AgentRepository(conn)
        first = ag.register("a2", "zeta", "1.0", tools=["search", "read"], model_config={"t": 0.2})
        ag.register("a1", "alpha", "1.0", is_public=True, system_prompt="be brief", owner_id="ada")
        again = ag.register("a2", "beta", "1.1", description="second")
    assert first.tools == ["search", "read"] and first.model_config == {"t": 0.2} and first.is_public is False
    assert (again.name, again.version, again.description, again.tools) == ("beta", "1.1", "second", None)
    assert again.created_at == first.created_at
    with store.connect() as conn:
        ag = AgentRepository(conn)
        one = ag.get("a1")
        assert one.is_public is True and one.system_prompt == "be brief" and one.owner_id == "ada"
        with pytest.raises(NotFound):
            ag.get("a3")
        assert [(a.id, a.name) for a in ag.list()] == [("a1", "alpha"), ("a2", "beta")]


def test_not_live_no_change_log_rows(store: Store) -> None:
    with store.begin() as conn:
        UserRepository(conn).upsert("u", "U")
        UserRepository(conn).set_preference("u", "k", "v")
        BehaviourRepository(conn).record_event("u", "e")
        pid = LearnedPatternRepository(conn).add("u", "t", "c", "d", 0.1)
        LearnedPatternRepository(conn).update_confidence(pid, 0.2)
        mk = MarketplaceRepository(conn)
        mk.publish_artifact("a", "t", "n", "u", "h", "1")
        mk.submit_review("a", "u", "ok", rating=4)
        mk.increment_downloads("a")
        AgentRepository(conn).register("g", "G", "1")
    with store.connect() as conn:
        assert ChangeLogRepository(conn).head() == 0


def test_rollback_leaves_nothing(store: Store) -> None:
    with store.begin() as conn:
        MarketplaceRepository(conn).publish_artifact("a", "t", "n", "u", "h", "1")
    with pytest.raises(Boom), store.begin() as conn:
        UserRepository(conn).upsert("u", "U")
        UserRepository(conn).set_preference("u", "k", "v")
        BehaviourRepository(conn).record_event("u", "e")
        LearnedPatternRepository(conn).add("u", "t", "c", "d", 0.1)
        mk = MarketplaceRepository(conn)
        mk.submit_review("a", "u", "ok", rating=4)
        mk.increment_downloads("a")
        AgentRepository(conn).register("g", "G", "1")
        raise Boom
    with store.connect() as conn:
        with pytest.raises(NotFound):
            UserRepository(conn).get("u")
        assert UserRepository(conn).list_preferences("u") == []
        assert BehaviourRepository(conn).summary("u") == {}
        assert LearnedPatternRepository(conn).list("u") == []
        art = MarketplaceRepository(conn).get_artifact("a")
        assert (art.avg_rating, art.downloads) == (0.0, 0)
        assert MarketplaceRepository(conn).list_reviews("a") == []
        assert AgentRepository(conn).list() == []
        assert ChangeLogRepository(conn).head() == 0


def test_writes_refuse_read_connections_and_bad_json(store: Store) -> None:
    with store.connect() as conn:
        for write in (
            lambda: UserRepository(conn).upsert("u", "U"),
            lambda: UserRepository(conn).set_preference("u", "k", "v"),
            lambda: BehaviourRepository(conn).record_event("u", "e"),
            lambda: LearnedPatternRepository(conn).add("u", "t", "c", "d", 0.1),
            lambda: LearnedPatternRepository(conn).update_confidence(1, 0.1),
            lambda: MarketplaceRepository(conn).publish_artifact("a", "t", "n", "u", "h", "1"),
            lambda: MarketplaceRepository(conn).submit_review("a", "u", "ok"),
            lambda: MarketplaceRepository(conn).increment_downloads("a"),
            lambda: AgentRepository(conn).register("g", "G", "1"),
        ):
            with pytest.raises(InvalidInput):
                write()
    with store.begin() as conn:
        with pytest.raises(InvalidInput):
            BehaviourRepository(conn).record_event("u", "e", metadata={1, 2})
        with pytest.raises(InvalidInput):
            AgentRepository(conn).register("g", "G", "1", tools=object())
