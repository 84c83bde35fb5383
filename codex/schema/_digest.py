"""Keccak-256: the hash behind the baseline's identity and the per-fragment digests that keep it append-only.

The algorithm is the original Keccak (0x01 padding, as Rust ``sha3::Keccak256``), not NIST
SHA3-256 (``hashlib.sha3_256`` gives different values).
"""

from __future__ import annotations

from Crypto.Hash import keccak

__all__ = [
    "DIGEST_ALGORITHM",
    "DIGEST_ALGORITHM_VERSION",
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
