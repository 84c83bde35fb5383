"""The secrets vault: its own schema, digest, file and engine; encrypted, versioned, audited secrets."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codex.config import DbConfig, LocalDb
from codex.errors import ConfigError, InvalidInput, NotFound, SchemaError
from codex.satellites import SATELLITES
from codex.satellites.vault import (
    VAULT_FRAGMENTS,
    VAULT_TABLES,
    AccessDenied,
    SecretIntegrityError,
    SecretsVault,
    VaultKey,
    VaultRepository,
    associated_data,
    open_vault,
    vault_baseline_digest_hex,
    vault_baseline_sql,
    vault_metadata,
)
from codex.schema import SCHEMA_FRAGMENTS, baseline_digest_hex, baseline_sql, keccak256_hex
from codex.store import open_store
from domains import metadata as main_metadata

KEY = VaultKey(bytes(range(32)))
OTHER_KEY = VaultKey(b"\x07" * 32)
REFERENCE_TABLES = {
    "clavis_account_secrets",
    "clavis_secret_versions",
    "clavis_audit_log",
    "clavis_profile_overrides",
    "clavis_agent_delegations",
}


@pytest.fixture
def vault(db_config: DbConfig) -> Iterator[SecretsVault]:
    """A new vault on the requested backend (a local file, or a real sqld)."""
    v = open_vault(db_config, key=KEY, environ={})
    try:
        yield v
    finally:
        v.dispose()


def rows(vault: SecretsVault, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with vault.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql, params)]


def audit(vault: SecretsVault) -> list[tuple[Any, ...]]:
    return rows(
        vault,
        "SELECT action, outcome, secret_id, profile, version, actor FROM clavis_audit_log "
        "WHERE account_id <> '*' ORDER BY id",
    )


# -- identity: its own schema, digest, file and engine --------------------------------------------------
def test_the_vault_has_its_own_metadata_fragments_baseline_and_digest() -> None:
    assert vault_metadata is not main_metadata
    assert {t.name for t in VAULT_TABLES} == REFERENCE_TABLES | {"clavis_schema_version"}
    assert not {t.name for t in VAULT_TABLES} & set(main_metadata.tables)
    assert all(t.metadata is vault_metadata for t in VAULT_TABLES)
    assert vault_metadata.naming_convention is not main_metadata.naming_convention
    assert [f.version for f in VAULT_FRAGMENTS] == [1] and VAULT_FRAGMENTS != SCHEMA_FRAGMENTS
    assert vault_baseline_digest_hex() == keccak256_hex(vault_baseline_sql())
    assert vault_baseline_digest_hex() != baseline_digest_hex()
    assert (
        "clavis_" not in baseline_sql()
        and "CREATE TABLE IF NOT EXISTS clavis_secret_versions" in vault_baseline_sql()
    )
    committed = Path(__file__).resolve().parents[2] / "contracts" / "db" / "vault" / "baseline.sql"
    assert committed.read_text(encoding="utf-8") == vault_baseline_sql() + "\n"
    assert [s.default_path for s in SATELLITES] == [".vox/clavis_vault.db"]


def test_opening_an_empty_vault_applies_its_baseline_and_records_its_digest(vault: SecretsVault) -> None:
    assert rows(vault, "SELECT version, digest FROM clavis_schema_version") == [
        (1, vault_baseline_digest_hex())
    ]
    tables = {r[0] for r in rows(vault, "SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert tables >= REFERENCE_TABLES and "schema_version" not in tables and "objects" not in tables
    status = vault.status()
    assert status.ok and status.schema_version == 1 and status.recorded_digest == vault_baseline_digest_hex()
    assert status.live_digest == status.expected_live_digest
    assert rows(vault, "SELECT action, outcome FROM clavis_audit_log") == [("init", "ok")]
    again = open_vault(vault.config, key=KEY, environ={})  # reopening changes nothing
    assert again.status() == status and len(rows(again, "SELECT * FROM clavis_audit_log")) == 1
    again.dispose()


def test_the_vault_uses_its_own_file_and_engine_never_the_main_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    main_config = LocalDb(path=str(tmp_path / "vox.db"))
    store = open_store(main_config)
    vault = open_vault(environ={"VOX_SECRETS_VAULT_KEY": KEY.material.hex()}, main=main_config)
    try:
        assert vault.location == str(tmp_path / ".vox" / "clavis_vault.db")
        assert vault.engine is not store.engine and vault.engine is not store.read_engine
        assert vault.engine.url != store.engine.url
        assert vault.key == KEY
        with store.connect() as conn:  # the main store holds no vault table, and the vault no Codex table
            assert not conn.exec_driver_sql("SELECT name FROM sqlite_schema WHERE name LIKE 'clavis%'").all()
        assert not rows(vault, "SELECT name FROM sqlite_schema WHERE name IN ('objects', 'schema_version')")
        mode = stat.S_IMODE(os.stat(tmp_path / ".vox" / "clavis_vault.db").st_mode)
        assert mode == 0o600
        with store.begin() as conn, vault.session(actor="t") as secrets:
            secrets.put("K", "v")  # two transactions at once: two databases, two engines
            conn.exec_driver_sql("INSERT INTO users (id, display_name) VALUES ('u', 'U')")
    finally:
        vault.dispose()
        store.dispose()


def test_a_vault_configured_onto_the_main_stores_file_is_refused(tmp_path: Path) -> None:
    main_config = LocalDb(path=str(tmp_path / "vox.db"))
    with pytest.raises(ConfigError, match="must not share the Codex database file"):
        open_vault(environ={"VOX_SECRETS_VAULT_PATH": str(tmp_path / "vox.db")}, main=main_config)
    assert not (tmp_path / "vox.db").exists()


def test_a_malformed_key_is_refused_at_open(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="decodes to 18 bytes"):
        open_vault(
            environ={"VOX_SECRETS_VAULT_PATH": str(tmp_path / "v.db"), "VOX_SECRETS_VAULT_KEY": "k" * 24}
        )
    assert not (tmp_path / "v.db").exists()


def test_a_foreign_newer_or_drifted_vault_is_refused(tmp_path: Path) -> None:
    config = LocalDb(path=str(tmp_path / "v.db"))
    partial = SecretsVault(config)
    with partial.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE clavis_audit_log (id INTEGER PRIMARY KEY)")
    partial.dispose()
    with pytest.raises(SchemaError, match="not created by Codex"):
        open_vault(config, environ={})
    os.remove(tmp_path / "v.db")
    open_vault(config, environ={}).dispose()
    tampered = SecretsVault(config)
    with tampered.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE clavis_schema_version SET digest = '0xdead'")
    with pytest.raises(SchemaError, match="records baseline digest 0xdead"):
        tampered.bootstrap()
    with tampered.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO clavis_schema_version (version, digest) VALUES (2, 'x')")
    with pytest.raises(SchemaError, match="newer than this code"):
        tampered.bootstrap()
    tampered.dispose()


# -- secrets -------------------------------------------------------------------------------------------
def test_put_creates_versions_and_get_reads_latest_or_a_version(vault: SecretsVault) -> None:
    with vault.session(actor="alice") as secrets:
        first = secrets.put("OPENAI_API_KEY", "sk-one")
        second = secrets.put("OPENAI_API_KEY", "sk-two ✓")
        binary = secrets.put("CERT", b"\x00\xff\xfe")
    assert (first.current_version, second.current_version, binary.current_version) == (1, 2, 1)
    assert second.created_by == "alice" and second.updated_at_ms >= first.updated_at_ms
    with vault.session(actor="alice") as secrets:
        latest = secrets.get("OPENAI_API_KEY")
        assert (latest.version, latest.text, latest.profile) == (2, "sk-two ✓", None)
        assert secrets.get("OPENAI_API_KEY", version=1).text == "sk-one"
        assert secrets.get("CERT").plaintext == b"\x00\xff\xfe"
        assert "sk-two" not in repr(latest)
        versions = secrets.versions("OPENAI_API_KEY")
    assert [(v.version, v.operation, v.cipher, v.key_id) for v in versions] == [
        (2, "put", "AES-256-GCM", KEY.key_id),
        (1, "put", "AES-256-GCM", KEY.key_id),
    ]


def test_values_are_encrypted_at_rest(vault: SecretsVault) -> None:
    with vault.session() as secrets:
        secrets.put("DB_PASSWORD", "correct horse battery staple")
    stored = rows(vault, "SELECT ciphertext, nonce, key_id FROM clavis_secret_versions")
    ciphertext, nonce, key_id = stored[0]
    assert b"correct horse" not in ciphertext and len(nonce) == 12 and key_id == KEY.key_id
    assert len(ciphertext) == len("correct horse battery staple") + 16  # GCM tag
    dump = b"".join(
        bytes(c) if isinstance(c, bytes) else str(c).encode()
        for r in rows(vault, "SELECT * FROM clavis_secret_versions")
        for c in r
    )
    assert b"horse" not in dump


def test_list_returns_names_never_values(vault: SecretsVault) -> None:
    with vault.session() as secrets:
        secrets.put("B_TOKEN", "value-b")
        secrets.put("A_TOKEN", "value-a")
        secrets.put("OTHER", "value-o")
    with vault.session() as secrets:
        listed = secrets.list()
        prefixed = secrets.list(prefix="A_")
    assert [s.secret_id for s in listed] == ["A_TOKEN", "B_TOKEN", "OTHER"]
    assert [s.secret_id for s in prefixed] == ["A_TOKEN"]
    assert "value" not in repr(listed)
    with vault.session(account="team-2") as secrets:
        assert secrets.list() == []  # accounts are separate


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        (
            "UPDATE clavis_secret_versions SET (ciphertext, nonce) = (SELECT ciphertext, nonce FROM "
            "clavis_secret_versions WHERE secret_id = 'A' AND version = 1) WHERE secret_id = 'B' AND version = 1",
            "B",
        ),
        (
            "UPDATE clavis_secret_versions SET (ciphertext, nonce) = (SELECT ciphertext, nonce FROM "
            "clavis_secret_versions WHERE secret_id = 'A' AND version = 1) WHERE secret_id = 'A' AND version = 2",
            "A",
        ),
        (
            "UPDATE clavis_secret_versions SET account_id = 'other' WHERE secret_id = 'A' AND version = 2",
            "A@other",
        ),
        (
            "UPDATE clavis_secret_versions SET ciphertext = zeroblob(length(ciphertext)) "
            "WHERE secret_id = 'B'",
            "B",
        ),
    ],
    ids=["swapped-secret", "swapped-version", "moved-account", "tampered"],
)
def test_a_swapped_or_altered_row_fails_to_decrypt(vault: SecretsVault, sql: str, what: str) -> None:
    with vault.session() as secrets:
        secrets.put("A", "alpha-1")
        secrets.put("A", "alpha-2")
        secrets.put("B", "bravo-1")
    with vault.session(account="other") as secrets:
        secrets.put("A", "other-1")
        secrets.put("A", "other-2")
    with vault.engine.begin() as conn:
        if what == "A@other":
            conn.exec_driver_sql("DELETE FROM clavis_secret_versions WHERE account_id = 'other'")
        conn.exec_driver_sql(sql)
    name, _, account = what.partition("@")
    with (
        pytest.raises(SecretIntegrityError, match="does not authenticate"),
        vault.session(account=account or "default") as secrets,
    ):
        secrets.get(name)
    assert audit(vault)[-1][:3] == ("get", "error", name)


def test_associated_data_binds_account_name_version_and_profile() -> None:
    base = associated_data("secret", "acct", "name", 1)
    variants = {
        associated_data("secret", "acct", "name", 2),
        associated_data("secret", "acct2", "name", 1),
        associated_data("secret", "acct", "name2", 1),
        associated_data("override", "acct", "name", 1, "prod"),
        associated_data("secret", "acctn", "ame", 1),  # no ambiguity between field boundaries
    }
    assert base not in variants and len(variants) == 5


def test_a_different_key_cannot_read_and_is_named(vault: SecretsVault) -> None:
    with vault.session() as secrets:
        secrets.put("K", "v")
    vault.key = OTHER_KEY
    with (
        pytest.raises(SecretIntegrityError, match=f"encrypted under key {KEY.key_id}"),
        vault.session() as secrets,
    ):
        secrets.get("K")


def test_without_a_key_listing_works_but_values_do_not(db_config: DbConfig) -> None:
    keyed = open_vault(db_config, key=KEY, environ={})
    with keyed.session() as secrets:
        secrets.put("K", "v")
    keyed.dispose()
    keyless = open_vault(db_config, environ={})
    try:
        assert keyless.key is None
        with keyless.session() as secrets:
            assert [s.secret_id for s in secrets.list()] == ["K"]
        with (
            pytest.raises(ConfigError, match="VOX_SECRETS_VAULT_KEY is not set"),
            keyless.session() as secrets,
        ):
            secrets.get("K")
        with (
            pytest.raises(ConfigError, match="VOX_SECRETS_VAULT_KEY is not set"),
            keyless.session() as secrets,
        ):
            secrets.put("K2", "v")
    finally:
        keyless.dispose()


def test_delete_removes_versions_overrides_and_delegations(vault: SecretsVault) -> None:
    with vault.session() as secrets:
        secrets.put("K", "v1")
        secrets.put("K", "v2")
        secrets.set_override("K", "prod", "p")
        secrets.delegate("K", "agent-1")
        secrets.put("KEEP", "x")
    with vault.session() as secrets:
        secrets.delete("K")
    for table in ("clavis_secret_versions", "clavis_profile_overrides", "clavis_agent_delegations"):
        assert rows(vault, f"SELECT count(*) FROM {table} WHERE secret_id = 'K'") == [(0,)], table
    assert rows(vault, "SELECT secret_id FROM clavis_account_secrets") == [("KEEP",)]
    with pytest.raises(NotFound), vault.session() as secrets:
        secrets.delete("K")


def test_rotate_writes_a_new_version_and_prunes_old_ones(vault: SecretsVault) -> None:
    with vault.session() as secrets:
        for value in ("v1", "v2", "v3"):
            secrets.put("K", value)
        info = secrets.rotate("K", "v4", keep=2)
    assert (info.current_version, info.rotation_epoch, info.rotated_at_ms is not None) == (4, 1, True)
    assert rows(vault, "SELECT version, operation FROM clavis_secret_versions ORDER BY version") == [
        (3, "put"),
        (4, "rotate"),
    ]
    with vault.session() as secrets:
        assert secrets.get("K").text == "v4"
        with pytest.raises(InvalidInput):
            secrets.rotate("K", "v5", keep=0)
    with pytest.raises(NotFound), vault.session() as secrets:
        secrets.rotate("MISSING", "x")


def test_rekey_reencrypts_every_row_under_the_new_key(vault: SecretsVault) -> None:
    with vault.session() as secrets:
        secrets.put("K", "v1")
        secrets.put("K", "v2")
        secrets.set_override("K", "prod", "p")
    with vault.session(account="other") as secrets:
        secrets.put("K", "o")
    with vault.session() as secrets:
        assert secrets.rekey(OTHER_KEY) == 4
    assert {
        r[0]
        for r in rows(
            vault,
            "SELECT key_id FROM clavis_secret_versions UNION SELECT key_id FROM clavis_profile_overrides",
        )
    } == {OTHER_KEY.key_id}
    with pytest.raises(SecretIntegrityError), vault.session() as secrets:
        secrets.get("K")
    vault.key = OTHER_KEY
    with vault.session() as secrets:
        assert secrets.get("K", version=1).text == "v1" and secrets.get("K", profile="prod").text == "p"
    with vault.session(account="other") as secrets:
        assert secrets.get("K").text == "o"


def test_profile_overrides(vault: SecretsVault) -> None:
    with vault.session() as secrets:
        secrets.put("URL", "https://default")
        assert secrets.set_override("URL", "prod", "https://prod") == 1
        assert secrets.set_override("URL", "prod", "https://prod2") == 2
    with vault.session() as secrets:
        prod = secrets.get("URL", profile="prod")
        assert (prod.text, prod.profile, prod.version) == ("https://prod2", "prod", 1)
        assert secrets.get("URL", profile="staging").text == "https://default"
        secrets.clear_override("URL", "prod")
        assert secrets.get("URL", profile="prod").profile is None
        with pytest.raises(InvalidInput):
            secrets.get("URL", profile="prod", version=1)
    with pytest.raises(NotFound), vault.session() as secrets:
        secrets.clear_override("URL", "prod")
    with pytest.raises(NotFound), vault.session() as secrets:
        secrets.set_override("MISSING", "prod", "x")


def test_agent_delegations(vault: SecretsVault) -> None:
    with vault.session(actor="owner") as secrets:
        secrets.put("K", "v")
        grant = secrets.delegate("K", "agent-1", ttl_ms=60_000)
        forever = secrets.delegate("K", "agent-2")
    assert (
        grant.active()
        and grant.expires_at_ms == grant.issued_at_ms + 60_000
        and forever.expires_at_ms is None
    )
    with vault.session(actor="agent-1") as secrets:
        assert secrets.get("K", agent_id="agent-1").text == "v"
    with pytest.raises(AccessDenied), vault.session(actor="agent-3") as secrets:
        secrets.get("K", agent_id="agent-3")
    with vault.engine.begin() as conn:  # expire agent-2's delegation
        conn.exec_driver_sql(
            "UPDATE clavis_agent_delegations SET expires_at_ms = 1 WHERE agent_id = 'agent-2'"
        )
    with pytest.raises(AccessDenied), vault.session() as secrets:
        secrets.get("K", agent_id="agent-2")
    with vault.session() as secrets:
        secrets.revoke(grant.delegation_id)
        assert [d.active() for d in secrets.delegations("K")] == [False, False]
    with pytest.raises(AccessDenied), vault.session() as secrets:
        secrets.get("K", agent_id="agent-1")
    with pytest.raises(NotFound), vault.session() as secrets:
        secrets.revoke(grant.delegation_id)
    with pytest.raises(InvalidInput), vault.session() as secrets:
        secrets.delegate("K", "agent-4", ttl_ms=0)


def test_every_access_is_audited_including_refusals(vault: SecretsVault) -> None:
    with vault.session(actor="alice") as secrets:
        secrets.put("K", "v")
        secrets.get("K")
        secrets.list()
        secrets.versions("K")
        secrets.set_override("K", "prod", "p")
        secrets.get("K", profile="prod")
        secrets.clear_override("K", "prod")
        grant = secrets.delegate("K", "agent-1")
        secrets.revoke(grant.delegation_id)
        secrets.rotate("K", "v2")
    failing: list[Callable[[VaultRepository], object]] = [
        lambda s: s.get("MISSING"),
        lambda s: s.get("K", version=9),
        lambda s: s.get("K", agent_id="intruder"),
    ]
    for attempt in failing:
        with pytest.raises((NotFound, AccessDenied)), vault.session(actor="mallory") as secrets:
            attempt(secrets)
    with vault.session(actor="alice") as secrets:
        secrets.delete("K")
    assert audit(vault) == [
        ("put", "ok", "K", None, 1, "alice"),
        ("get", "ok", "K", None, 1, "alice"),
        ("list", "ok", None, None, None, "alice"),
        ("history", "ok", "K", None, None, "alice"),
        ("override", "ok", "K", "prod", 1, "alice"),
        ("get", "ok", "K", "prod", 1, "alice"),
        ("clear_override", "ok", "K", "prod", None, "alice"),
        ("delegate", "ok", "K", None, None, "alice"),
        ("revoke", "ok", "K", None, None, "alice"),
        ("rotate", "ok", "K", None, 2, "alice"),
        ("get", "not_found", "MISSING", None, None, "mallory"),
        ("get", "not_found", "K", None, 9, "mallory"),
        ("get", "denied", "K", None, None, "mallory"),
        ("delete", "ok", "K", None, 2, "alice"),
    ]
    with vault.session() as secrets:
        log = secrets.audit_log(name="K", limit=2)
    assert [(r.action, r.outcome) for r in log] == [("delete", "ok"), ("get", "denied")]
    assert all("v2" not in str(r) for r in log)


def test_a_rollback_leaves_no_secret_and_no_audit_row(vault: SecretsVault) -> None:
    with pytest.raises(RuntimeError), vault.session() as secrets:
        secrets.put("K", "v")
        raise RuntimeError("boom")
    assert rows(vault, "SELECT count(*) FROM clavis_account_secrets") == [(0,)]
    assert audit(vault) == []


def test_names_and_actors_are_validated(vault: SecretsVault) -> None:
    with pytest.raises(InvalidInput), vault.session() as secrets:
        secrets.put(" padded ", "v")
    with pytest.raises(InvalidInput), vault.session() as secrets:
        secrets.put("", "v")
    with pytest.raises(InvalidInput), vault.session(actor="") as secrets:
        secrets.list()
    with pytest.raises(InvalidInput), vault.session() as secrets:
        secrets.put("K", 42)  # type: ignore[arg-type]
