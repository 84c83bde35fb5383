"""Keccak-256 (standard vectors), the baseline text and its committed, append-only artefacts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from codex.contracts import REPO_ROOT, check_contracts, render_contracts
from codex.errors import SchemaError
from codex.schema import (
    BASELINE_VERSION,
    SCHEMA_FRAGMENTS,
    Fragment,
    baseline_digest_hex,
    baseline_dir,
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
    assert [f.version for f in SCHEMA_FRAGMENTS][:17] == list(range(1, 18))
    empty = {f.version for f in SCHEMA_FRAGMENTS if not fragment_sql(f)}
    assert empty == {4, 5, 7}


def test_baseline_statements_are_if_not_exists() -> None:
    statements = [
        s for s in "\n\n".join(fragment_sql(f) for f in SCHEMA_FRAGMENTS[:17]).split(";\n") if s.strip()
    ]
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


# Pinned here as well as in the packaged manifest: editing a fragment file AND its manifest digest still
# fails this test. Fragments v1…v17 never change; a rebaseline only appends.
PINNED_FRAGMENT_DIGESTS = {
    "v1": "0x07bc4abeb845d08470d550dc5c18d53f06e47714d79998255f2839fcfce8900c",
    "v2": "0x776324a163a231b050655ff956516869bba3852e7a07b8a5a00664f6287f3d7c",
    "v3": "0x8a24e51625d7364eab5936f0d0133c865c5d22eba8947e4115d61b72fbccca4c",
    "v4": "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    "v5": "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    "v6": "0x98b63a295b2ab4fab8c13128b476a90222b3827fd74b3c21fcb690c024e45b1b",
    "v7": "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    "v8": "0xfc94fce8c14647bc1b1428a218478e95e8e09ae643ed2558955e4193b3786aeb",
    "v9": "0x99952ec2037578e0a278f7d7cc00b9caa30be51622fd07971e1a5665f04b46fa",
    "v10": "0x9d7ad914e9ac92f7bde586a4c81f14b90b6601371a951832f2b2a17559db7332",
    "v11": "0x3a8beeb58a81571c54db11517d3fe09785b7f727cc8f3a7e4de14dfaeafb8c04",
    "v12": "0x51fe8deac7436f089aa10523dff6c333834865fd0e917f6046595264d9015f88",
    "v13": "0x5db49c55a670072f6b2b185c1ef12bde6c33c10aa2e62b7c55d270e87a9a1108",
    "v14": "0x1dbeaa4dd7f11ae4b5f28e08f2a83a544c6532670f2208de3ff62b169be19d3c",
    "v15": "0xa85b5aae655ad57c0a862feee4f17f7bd084da0bac67db1f4ce52cf448079b7a",
    "v16": "0xa42d40ae4527cf59f2993079301d8cadc35ce272c7658636f55645a8706c36d5",
    "v17": "0x32a3e200c94c560800a69a449ed187e95c11538ea52d7d3ef7e1f05af3da3a56",
}
ORIGINAL_BASELINE_DIGEST = "0x0872327893765fba639990991cde6fc79136fec977750126755c661411a55ec0"


def test_existing_fragments_are_append_only() -> None:
    current = fragment_digests()  # reads the packaged files, refusing any whose digest is not pinned
    changed = [label for label, digest in PINNED_FRAGMENT_DIGESTS.items() if current.get(label) != digest]
    assert not changed, (
        f"baseline fragment(s) {changed} changed. Fragments are append-only: never edit an existing "
        "fragment; change domains/ and write a revision (`codex db revision --autogenerate`) instead."
    )
    if len(SCHEMA_FRAGMENTS) == 17:
        assert baseline_digest_hex() == ORIGINAL_BASELINE_DIGEST and BASELINE_VERSION == 1


def test_an_edited_fragment_file_is_refused_with_the_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codex.schema._frozen as frozen

    fragment = SCHEMA_FRAGMENTS[13]  # v14, topics
    original = (baseline_dir() / fragment.file).read_text(encoding="utf-8")
    (tmp_path / fragment.file).write_text(original.replace("slug TEXT", "slug VARCHAR(10)"), encoding="utf-8")
    monkeypatch.setattr(frozen, "baseline_dir", lambda: tmp_path)
    probe = Fragment(fragment.version, fragment.title, file=fragment.file, digest=fragment.digest)
    with pytest.raises(SchemaError, match="append-only") as info:
        frozen.fragment_sql(probe)
    assert "v14" in info.value.message and "codex db revision --autogenerate" in info.value.message


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
