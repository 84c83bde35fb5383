"""Search contract fixtures: the repository suite's ``store`` (local file and sqld), plus a small corpus."""

from __future__ import annotations

from tests.repositories.conftest import local_template, sqld_migrated, store

__all__ = ["CORPUS", "local_template", "sqld_migrated", "store"]

# Eight documents on distinct topics, each longer than the 200-character chunk minimum.
CORPUS: tuple[tuple[str, str, str, str], ...] = (
    (
        "kb/libsql",
        "libSQL vectors",
        "text/plain",
        "libSQL stores embeddings in F32_BLOB columns. A DiskANN index built with libsql_vector_idx answers "
        "nearest-neighbour queries through vector_top_k, and the cosine distance ranks the candidates. "
        "On the sqld server a REINDEX fills an index that was created over existing rows.",
    ),
    (
        "kb/queue",
        "Job queue",
        "text/markdown",
        "# Job queue\n\nWorkers lease jobs from the queue for a fixed time. When a worker crashes its lease "
        "expires and the job returns to the queue, where another worker picks it up. Failed jobs are retried "
        "with exponential backoff until the maximum number of attempts, then they are marked dead.",
    ),
    (
        "kb/bread",
        "Baking bread",
        "text/html",
        "<html><head><title>Baking bread</title></head><body><h1>Baking bread</h1><p>Mix flour, water, salt "
        "and yeast into a dough. Knead the dough for ten minutes, then let it rise in a warm place until it "
        "doubles. Shape the loaf, let it prove again and bake it in a hot oven until the crust is golden."
        "</p></body></html>",
    ),
    (
        "kb/garden",
        "Tomato garden",
        "text/plain",
        "Tomatoes need full sun, rich soil and regular watering. Pinch out the side shoots, tie the stems to "
        "canes and feed the plants weekly once the first flowers appear. Harvest the fruit when it is fully "
        "coloured and slightly soft.",
    ),
    (
        "kb/cycling",
        "Bicycle maintenance",
        "text/plain",
        "Keep the bicycle chain clean and lubricated, check the tyre pressure before every ride and adjust "
        "the brakes when the levers travel too far. Replace worn brake pads and a stretched chain before they "
        "damage the rims and the cassette.",
    ),
    (
        "kb/astronomy",
        "Observing planets",
        "text/plain",
        "Jupiter and Saturn are easy targets for a small telescope. Jupiter shows its four large moons and "
        "cloud bands, Saturn its rings. Observe when the planet is high above the horizon and let the "
        "telescope cool down to the outside temperature first.",
    ),
    (
        "other/fts",
        "Full-text search",
        "text/plain",
        "SQLite FTS5 tokenizes text with the porter stemmer and ranks matches with the bm25 function. An "
        "external content table keeps the indexed text in the original table, and the snippet function "
        "highlights the matching terms in the result.",
    ),
    (
        "other/coffee",
        "Brewing coffee",
        "text/plain",
        "Grind the coffee beans just before brewing, use water just off the boil and a ratio of about sixty "
        "grams of coffee per litre. A pour-over takes three to four minutes; a French press steeps for four "
        "minutes before plunging.",
    ),
)
