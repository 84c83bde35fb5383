"""Keccak-256 digests: the baseline's identity and the per-fragment digests that keep it append-only.

The algorithm is the original Keccak (0x01 padding, as Rust ``sha3::Keccak256``), not NIST
SHA3-256 (``hashlib.sha3_256`` gives different values).
"""

from __future__ import annotations

import sqlalchemy as sa
from Crypto.Hash import keccak

from codex.schema._fragments import SCHEMA_FRAGMENTS
from codex.schema._render import Fragments, baseline_sql, fragment_sql
from domains import metadata as _MAIN_METADATA

__all__ = [
    "DIGEST_ALGORITHM",
    "DIGEST_ALGORITHM_VERSION",
    "baseline_digest_hex",
    "fragment_digests",
    "keccak256_hex",
]

DIGEST_ALGORITHM = "keccak-256"
DIGEST_ALGORITHM_VERSION = 1


def keccak256_hex(data: bytes | str) -> str:
    """``"0x"`` + 64 lowercase hex digits of Keccak-256 over ``data`` (str is UTF-8 encoded).

    Example:
        >>> keccak256_hex(b"")
        '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470'
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return "0x" + keccak.new(data=raw, digest_bits=256).hexdigest()


def baseline_digest_hex(
    *, metadata: sa.MetaData = _MAIN_METADATA, fragments: Fragments = SCHEMA_FRAGMENTS
) -> str:
    """Keccak-256 of the UTF-8 bytes of :func:`~codex.schema.baseline_sql`: the schema's identity.

    Args:
        metadata: The store's ``MetaData`` (default: the main store's); a satellite passes its own.
        fragments: The store's fragment manifest (default: :data:`~codex.schema.SCHEMA_FRAGMENTS`).
    """
    return keccak256_hex(baseline_sql(metadata=metadata, fragments=fragments))


def fragment_digests(
    *, metadata: sa.MetaData = _MAIN_METADATA, fragments: Fragments = SCHEMA_FRAGMENTS
) -> dict[str, str]:
    """``{"v1": "0x…", …}``: the digest of each fragment's trimmed SQL (the empty string for v4, v5, v7)."""
    return {
        fragment.label: keccak256_hex(fragment_sql(fragment, metadata=metadata, fragments=fragments))
        for fragment in fragments
    }
