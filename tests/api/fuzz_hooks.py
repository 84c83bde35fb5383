"""schemathesis hooks for the fuzz test (loaded through ``SCHEMATHESIS_HOOKS``).

The contract declares one body schemathesis cannot encode by itself: NDJSON (the search bulk load).
Generated values go out as they are (text, including lone surrogates as their raw UTF-8 bytes, so the
server sees invalid UTF-8 too), or as one JSON document per line.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """Encode a generated NDJSON body."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list):
        return "\n".join(json.dumps(item) for item in value).encode()
    return json.dumps(value).encode()
