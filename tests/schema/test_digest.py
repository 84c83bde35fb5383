"""Keccak-256 (standard vectors), the baseline text and its committed, append-only artefacts."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from codex.contracts import REPO_ROOT, check_contracts, render_contracts
from codex.schema import (
    BASELINE_VERSION,
    SCHEMA_FRAGMENTS,
    baseline_digest_hex,
    baseline_sql,
    fragment_digests,
    fragment_sql,
    keccak256_hex,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        (
            b"The quick brown fox jumps over the lazy dog",
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
        ),
        (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
    ],
)
def test_keccak256_standard_vectors(data: bytes, expected: str) -> None:
    assert keccak256_hex(data) == "0x" + expected


def test_keccak_is_not_nist_sha3() -> None:
    assert keccak256_hex(b"") != "0x" + hashlib.sha3_256(b"").hexdigest()


def test_baseline_digest_is_keccak_of_baseline_text() -> None:
    digest = baseline_digest_hex()
    assert digest == keccak256_hex(baseline_sql().encode("utf-8"))
    assert len(digest) == 66 and digest.startswith("0x") and digest == digest.lower()


def test_baseline_is_fragments_trimmed_nonempty_joined_by_blank_line() -> None:
    parts = [fragment_sql(f) for f in SCHEMA_FRAGMENTS]
    assert baseline_sql() == "\n\n".join(p for p in parts if p)
    assert [f.version for f in SCHEMA_FRAGMENTS] == list(range(1, 18))
    empty = {f.version for f in SCHEMA_FRAGMENTS if not fragment_sql(f)}
    assert empty == {4, 5, 7}


def test_baseline_statements_are_if_not_exists() -> None:
    statements = [s for s in baseline_sql().split(";\n") if s.strip()]
    for stmt in statements:
        first = stmt.strip().splitlines()[0]
        assert first.startswith(
            ("CREATE TABLE IF NOT EXISTS", "CREATE INDEX IF NOT EXISTS", "CREATE UNIQUE INDEX IF NOT EXISTS")
        ), first
    assert "gamify" not in baseline_sql()


def test_v9_index_is_rendered_in_v9_not_with_its_table() -> None:
    v8 = fragment_sql(SCHEMA_FRAGMENTS[7])
    v9 = fragment_sql(SCHEMA_FRAGMENTS[8])
    assert "idx_codex_schema_lineage_baseline" not in v8
    assert (
        v9
        == "CREATE INDEX IF NOT EXISTS idx_codex_schema_lineage_baseline ON codex_schema_lineage (baseline_id);"
    )


def test_committed_contracts_match_the_code() -> None:
    stale = check_contracts()
    assert not stale, (
        f"generated contract files are stale: {stale}. If the change is intended (a NEW fragment or a new "
        "revision), run `python -m codex.contracts` and commit the result."
    )


def test_existing_fragments_are_append_only() -> None:
    committed = yaml.safe_load((REPO_ROOT / "contracts/db/baseline-fragments.yaml").read_text())
    current = fragment_digests()
    changed = [
        f"v{entry['version']}"
        for entry in committed["fragments"]
        if current.get(f"v{entry['version']}") != entry["digest"]
    ]
    assert not changed, (
        f"baseline fragment(s) {changed} changed. Fragments are append-only: never edit an existing "
        "fragment (its tables, columns or indexes); add a new fragment or an Alembic revision instead."
    )
    assert len(current) >= len(committed["fragments"]), "a fragment was removed; fragments are append-only"


def test_policy_yaml_parity_with_code() -> None:
    policy = yaml.safe_load((REPO_ROOT / "contracts/db/baseline-version-policy.yaml").read_text())
    assert policy["policy"]["repository_baseline_integer"] == BASELINE_VERSION
    assert policy["policy"]["repository_baseline_digest_hex"] == baseline_digest_hex()
    assert policy["policy"]["digest_algorithm"]["name"] == "keccak-256"
    assert isinstance(policy["policy"]["repository_baseline_digest_hex"], str)


def test_render_is_deterministic() -> None:
    assert render_contracts() == render_contracts()


def test_openapi_contract_is_committed_and_current() -> None:
    rel = "contracts/codex-api.openapi.yaml"
    committed = (REPO_ROOT / rel).read_text(encoding="utf-8")
    assert committed == render_contracts()[rel], "the API changed: run `python -m codex.contracts` and commit"
    assert "/api/codex/subscribe/{topic}" in committed and "bearer" in committed.lower()
