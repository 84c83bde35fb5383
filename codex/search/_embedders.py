"""Embedders: the protocol, the built-in feature-hashing embedder, and the optional model embedders.

The corpus records its embedder in ``search_embedder`` (name, dimension, whether its vectors are
L2-normalised) and stores one vector per chunk **at that embedder's own dimension**, in the vector table
of that dimension (``domains.search_ingest.VECTOR_TABLES``: 256 and 384). Every vector of a corpus comes
from the same embedder (see :class:`EmbedderMismatch`); switching is a re-embed of the whole corpus.

The built-in :class:`HashingEmbedder` needs no download and no model: signed feature hashing (blake2b)
over word unigrams, word bigrams and character 3–5-grams of each word, log term frequency,
L2-normalised, 256 dimensions, deterministic across processes and machines (``docs/reference/libsql-runtime.md`` §13).
It matches exact words and bigrams like a bag of words, and the character n-grams make misspelt and
inflected words land near each other (``indexing`` ~ ``indexes`` ~ ``indxing``). A batch is embedded with
one numpy ``bincount`` over the cached per-word feature slots (≈10k chunks/s on one core).

The model embedders are optional extras and never download anything at run time (see
:mod:`codex.search._models`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import struct
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from codex.errors import Conflict, InvalidInput

__all__ = [
    "Embedder",
    "EmbedderMismatch",
    "HashingEmbedder",
    "default_embedder",
    "embed_matrix",
    "is_normalised",
    "pack_vector",
    "tokenize",
    "unpack_vector",
]

_WORD = re.compile(r"\w+", re.UNICODE)
_WORD_CACHE_MAX = 1 << 18

Matrix = npt.NDArray[np.float32]


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
        dim: The vector length; the corpus stores vectors in the table of this dimension.

    An embedder may also have ``normalised`` (bool, default True: its vectors are L2-normalised) and
    ``embed_array(texts) -> float32 ndarray`` (a faster batch form; see :func:`embed_matrix`).
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


def is_normalised(embedder: Embedder) -> bool:
    """Whether the embedder's vectors are L2-normalised (its ``normalised`` attribute, default True)."""
    return bool(getattr(embedder, "normalised", True))


def embed_matrix(embedder: Embedder, texts: Sequence[str]) -> Matrix:
    """The vectors of ``texts`` as a C-contiguous ``(len(texts), dim)`` float32 array.

    Uses the embedder's ``embed_array`` when it has one, else its ``embed``.

    Raises:
        InvalidInput: The embedder returned vectors of another length than its ``dim``.
    """
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    batch = getattr(embedder, "embed_array", None)
    out = np.asarray(batch(texts) if callable(batch) else embedder.embed(texts), dtype=np.float32)
    if out.ndim != 2 or out.shape != (len(texts), embedder.dim):
        raise InvalidInput(
            f"embedder {embedder.name!r} returned vectors of shape {out.shape}, expected "
            f"({len(texts)}, {embedder.dim})",
            field="embedder",
        )
    return np.ascontiguousarray(out)


def tokenize(text: str) -> list[str]:
    """Lower-cased Unicode word tokens (``\\w+``), the unit every embedder feature starts from."""
    return _WORD.findall(text.lower())


def pack_vector(vector: Sequence[float] | npt.NDArray[np.floating]) -> bytes:
    """Little-endian float32 bytes: the ``F32_BLOB`` storage format (and a valid query parameter)."""
    if isinstance(vector, np.ndarray):
        return np.ascontiguousarray(vector, dtype="<f4").tobytes()
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack_vector(blob: bytes) -> list[float]:
    """The floats of an ``F32_BLOB`` value."""
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def normalise_rows(matrix: npt.NDArray[np.floating]) -> Matrix:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.putmask(norms, norms == 0.0, 1.0)
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


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
        dim: Vector length (256 for the built-in corpus table).
    """

    UNIGRAM_WEIGHT = 1.0
    BIGRAM_WEIGHT = 0.7
    CHAR_WEIGHT = 0.35
    normalised = True

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise InvalidInput("dim must be at least 8", field="dim")
        self.dim = int(dim)
        self.name = f"hashing-blake2b-v1-{self.dim}"
        self._lock = threading.Lock()
        self._reset_words()

    def _reset_words(self) -> None:
        # The per-word features in CSR form: word id -> slots/weights[start : start + length].
        self._word_ids: dict[str, int] = {}
        self._gram_codes: dict[str, int] = {}
        self._starts = np.zeros(0, dtype=np.int64)
        self._lengths = np.zeros(0, dtype=np.int64)
        self._slots = np.zeros(0, dtype=np.int64)
        self._weights = np.zeros(0, dtype=np.float64)

    def _add_words(self, words: list[str]) -> None:
        """Append the unigram and character n-gram features of new words (ids already given, in order)."""
        keys: list[str] = []
        lengths: list[int] = []
        for word in words:
            padded = f"<{word}>"
            grams = [padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)] or [padded]
            keys.append("w:" + word)
            keys.extend(["c:" + gram for gram in grams])
            lengths.append(1 + len(grams))
        # Character n-grams repeat across words: their hashes are cached (slot * 2 + sign bit).
        cache = self._gram_codes
        codes = np.fromiter((cache.get(k, -1) for k in keys), np.int64, len(keys))
        missing = np.flatnonzero(codes < 0)
        if len(missing):
            todo = [keys[i] for i in missing.tolist()]
            slots, signs = self._hash(todo)
            fresh = slots * 2 + (signs > 0)
            codes[missing] = fresh
            if len(cache) < _WORD_CACHE_MAX:
                cache.update(zip(todo, fresh.tolist(), strict=True))
        slots, signs = codes // 2, np.where(codes % 2 == 1, 1.0, -1.0)
        counts = np.asarray(lengths, dtype=np.int64)
        ends = np.cumsum(counts)
        scale = np.full(len(keys), self.CHAR_WEIGHT)
        scale[ends - counts] = self.UNIGRAM_WEIGHT  # each word's first feature is its unigram
        self._starts = np.concatenate([self._starts, len(self._slots) + ends - counts])
        self._lengths = np.concatenate([self._lengths, counts])
        self._slots = np.concatenate([self._slots, slots])
        self._weights = np.concatenate([self._weights, signs * scale])

    def _hash(self, keys: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Slots and signs of features (``kind:feature``): one blake2b each, the rest in numpy."""
        blake = hashlib.blake2b
        digests = np.frombuffer(
            b"".join([blake(k.encode("utf-8"), digest_size=9).digest() for k in keys]), dtype=np.uint8
        ).reshape(-1, 9)
        slots = (np.ascontiguousarray(digests[:, :8]).view("<u8").ravel() % np.uint64(self.dim)).astype(
            np.int64
        )
        signs = np.where(digests[:, 8] & 1, 1.0, -1.0)
        return slots, signs

    def embed_array(self, texts: Sequence[str]) -> Matrix:
        """The vectors of a batch as one ``(n, dim)`` float32 array (one ``bincount`` for the batch)."""
        with self._lock:  # the word table grows during a batch
            return self._embed_array(texts)

    def _embed_array(self, texts: Sequence[str]) -> Matrix:
        n, dim = len(texts), self.dim
        if n == 0:
            return np.zeros((0, dim), dtype=np.float32)
        if len(self._word_ids) > _WORD_CACHE_MAX:
            self._reset_words()
        word_ids = self._word_ids
        fresh: list[str] = []
        ids: list[int] = []
        tfs: list[int] = []
        rows: list[int] = []
        bigram_keys: list[str] = []
        bigram_tfs: list[int] = []
        bigram_rows: list[int] = []
        for row, text in enumerate(texts):
            words = tokenize(text)
            if not words:
                continue
            counts = Counter(words)
            missing = [w for w in counts if w not in word_ids]
            for word in missing:
                word_ids[word] = len(word_ids)
            fresh.extend(missing)
            ids.extend([word_ids[w] for w in counts])
            tfs.extend(counts.values())
            rows.extend([row] * len(counts))
            if len(words) > 1:
                pairs = Counter([f"b:{a} {b}" for a, b in itertools.pairwise(words)])
                bigram_keys.extend(pairs)
                bigram_tfs.extend(pairs.values())
                bigram_rows.extend([row] * len(pairs))
        if fresh:  # words first seen in this batch join the tables, hashed in one go
            self._add_words(fresh)
        acc = np.zeros(n * dim, dtype=np.float64)
        if ids:
            id_array = np.asarray(ids, dtype=np.int64)
            lengths = self._lengths[id_array]
            starts = self._starts[id_array]
            ends = np.cumsum(lengths)
            positions = np.repeat(starts - (ends - lengths), lengths) + np.arange(int(ends[-1]))
            scales = 1.0 + np.log(np.asarray(tfs, dtype=np.float64))
            flat = self._slots[positions] + np.repeat(np.asarray(rows, dtype=np.int64) * dim, lengths)
            acc += np.bincount(flat, self._weights[positions] * np.repeat(scales, lengths), minlength=n * dim)
        if bigram_keys:
            slots, signs = self._hash(bigram_keys)
            values = signs * self.BIGRAM_WEIGHT * (1.0 + np.log(np.asarray(bigram_tfs, dtype=np.float64)))
            flat = slots + np.asarray(bigram_rows, dtype=np.int64) * dim
            acc += np.bincount(flat, values, minlength=n * dim)
        return normalise_rows(acc.reshape(n, dim))

    def embed_one(self, text: str) -> list[float]:
        """The vector of one text."""
        return [float(x) for x in self.embed_array([text])[0]]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text."""
        return [[float(x) for x in row] for row in self.embed_array(texts)]

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self.dim})"


@functools.cache
def default_embedder() -> HashingEmbedder:
    """The built-in :class:`HashingEmbedder` (256 dimensions), shared per process."""
    return HashingEmbedder()
