"""The input boundary: what a request may carry before any handler sees it.

JSON is read strictly everywhere it enters (request bodies, query parameters that carry JSON,
WebSocket frames): :func:`parse_json` and :func:`find_problem` refuse, with the location of the
offending value,

* ``NaN``, ``Infinity``, ``-Infinity`` and numbers that overflow to them (``1e400``): JSON has no such
  numbers, and a stored one would break every later read of the row;
* strings that are not valid Unicode: invalid UTF-8 bytes and lone surrogates (``"\\ud800"``), which
  no database driver can bind;
* the NUL character in strings and keys (SQLite's C API would cut the text at it);
* integers outside the signed 64-bit range (no column can hold them; JavaScript clients would round
  them).

:class:`InputBoundary` (ASGI middleware) applies the rules to every request: a path holding a NUL
byte, a control character or a ``.`` / ``..`` segment (also percent-encoded) is 404; a query
parameter that is not valid UTF-8 or holds a NUL is 422 naming it; a JSON body breaking a rule
above is 422 naming the field (``fields[0].loc``, FastAPI's convention, e.g.
``["body", "payload", "x"]``); a body that is not JSON at all is 400. Nothing of a refused request
reaches a handler, so nothing of it is stored.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codex.api.logs import current_request_id, redact

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "InputBoundary",
    "JsonProblem",
    "check_json",
    "error_body",
    "find_problem",
    "parse_json",
    "path_is_hostile",
]

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
Loc = list[str | int]


class JsonProblem(ValueError):
    """A JSON value breaks a boundary rule (see the module docstring).

    Attributes:
        loc: Where: the path of keys and indexes from the document's root.
        kind: A short machine-readable code (``json_non_finite``, ``json_invalid_unicode``,
            ``json_nul``, ``json_int_range``, ``json_invalid``, ``json_too_deep``).
        reason: A sentence naming the rule.
    """

    def __init__(self, loc: Loc, kind: str, reason: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc)) or '(root)'}: {reason}")
        self.loc, self.kind, self.reason = loc, kind, reason

    def field(self) -> dict[str, Any]:
        """The problem as one entry of a 422 body's ``fields`` list."""
        return {"loc": self.loc, "message": self.reason, "type": self.kind}


class _NonFinite:
    """What the parser puts where the text had ``NaN`` / ``Infinity`` (found and refused by the walk)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _HugeInt:
    """An integer literal too long to convert safely (Python refuses > 4300 digits)."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits


def _parse_int(text: str) -> int | _HugeInt:
    return int(text) if len(text) <= 24 else _HugeInt(text)


_MAX_DEPTH = 200


def find_problem(value: Any, loc: Loc | None = None) -> JsonProblem | None:
    """The first value in ``value`` (a parsed JSON document) that breaks a boundary rule, or None.

    Args:
        value: Parsed JSON (dicts, lists, strings, numbers, booleans, None).
        loc: The location of ``value`` itself (prefix of every reported location).
    """
    stack: list[tuple[Any, Loc]] = [(value, list(loc or []))]
    while stack:
        item, where = stack.pop()
        if len(where) > _MAX_DEPTH:
            return JsonProblem(where, "json_too_deep", f"nested deeper than {_MAX_DEPTH} levels")
        if isinstance(item, str):
            problem = _string_problem(item)
            if problem is not None:
                return JsonProblem(where, *problem)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return JsonProblem(where, "json_int_range", "integers must fit in 64 bits (signed)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                return JsonProblem(where, "json_non_finite", "NaN and Infinity are not JSON numbers")
        elif isinstance(item, _NonFinite):
            return JsonProblem(where, "json_non_finite", f"{item.text} is not a JSON number")
        elif isinstance(item, _HugeInt):
            return JsonProblem(where, "json_int_range", "integers must fit in 64 bits (signed)")
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                key_problem = _string_problem(str(key))
                if key_problem is not None:
                    return JsonProblem(
                        [*where, _printable(str(key))], key_problem[0], "key: " + key_problem[1]
                    )
                stack.append((child, [*where, str(key)]))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, [*where, i]) for i, child in reversed(list(enumerate(item))))
    return None


def _string_problem(text: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return "json_nul", "strings must not contain the NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "json_invalid_unicode", "not valid Unicode text (invalid UTF-8 or a lone surrogate)"
    return None


def _printable(text: str) -> str:
    """``text`` with control characters, non-ASCII and lone surrogates escaped (for a location)."""
    return text.encode("unicode_escape").decode("ascii")


def parse_json(data: bytes | str, loc: Loc | None = None) -> Any:
    """Parse a JSON document strictly.

    Args:
        data: The document; bytes must be UTF-8 (a leading byte-order mark is allowed).
        loc: The location prefix for reported problems (e.g. ``["body"]``).

    Returns:
        The parsed value.

    Raises:
        JsonProblem: The document is not JSON (``json_invalid``), or a value breaks a rule.
    """
    where = list(loc or [])
    # invalid UTF-8 bytes become lone surrogates, which the walk then reports with their location
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff") if isinstance(data, bytes) else data
    try:
        value = json.loads(text, parse_constant=_NonFinite, parse_int=_parse_int)
    except RecursionError:
        raise JsonProblem(where, "json_too_deep", f"nested deeper than {_MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise JsonProblem(where, "json_invalid", f"not valid JSON: {exc}") from None
    problem = find_problem(value, where)
    if problem is not None:
        raise problem
    return value


def check_json(value: Any, loc: Loc | None = None) -> None:
    """Raise the first boundary problem of an already parsed value (see :func:`find_problem`).

    Raises:
        JsonProblem: A value breaks a rule.
    """
    problem = find_problem(value, loc)
    if problem is not None:
        raise problem


def error_body(kind: str, message: str, **details: Any) -> dict[str, Any]:
    """An error body of the house shape, with the request id (secrets in the message redacted)."""
    body: dict[str, Any] = {"error": kind, "message": redact(message)}
    body.update({k: v for k, v in details.items() if v is not None})
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    return body


def path_is_hostile(path: str) -> bool:
    """True for a (decoded) path with a NUL byte or control character, or a ``.`` / ``..`` segment."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return True
    return any(segment in (".", "..") for segment in path.split("/"))


def _query_problem(raw: bytes) -> JsonProblem | None:
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name_raw, _, value_raw = pair.partition(b"=")
        name_bytes = unquote_to_bytes(name_raw.replace(b"+", b" "))
        value_bytes = unquote_to_bytes(value_raw.replace(b"+", b" "))
        try:
            name = name_bytes.decode("utf-8")
        except UnicodeDecodeError:
            return JsonProblem(
                ["query", _printable(name_bytes.decode("utf-8", "replace"))],
                "invalid_unicode",
                "the parameter name is not valid UTF-8",
            )
        try:
            value = value_bytes.decode("utf-8")
        except UnicodeDecodeError:
            return JsonProblem(["query", name], "invalid_unicode", "not valid UTF-8")
        if "\x00" in name or "\x00" in value:
            return JsonProblem(["query", _printable(name)], "nul", "must not contain the NUL character")
    return None


def _json_body(headers: dict[bytes, bytes]) -> bool:
    content_type = headers.get(b"content-type")
    if content_type is None:
        return False  # FastAPI (strict content types) reads no JSON from a body without a type
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body, ensure_ascii=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": raw})


class InputBoundary:
    """ASGI middleware enforcing the boundary rules of this module on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if path_is_hostile(str(scope.get("path", ""))):
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "not found"})
            else:
                await _respond(send, 404, error_body("NotFound", "not found"))
            return
        problem = _query_problem(scope.get("query_string") or b"")
        if problem is not None:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "invalid query string"})
            else:
                await _respond(send, 422, _invalid(problem))
            return
        if kind == "websocket" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if not _json_body(headers):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending the body
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip():
            try:
                parse_json(body, ["body"])
            except JsonProblem as exc:
                if exc.kind == "json_invalid":
                    await _respond(
                        send, 400, error_body("MalformedJSON", "the request body is not valid JSON")
                    )
                else:
                    await _respond(send, 422, _invalid(exc))
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _invalid(problem: JsonProblem) -> dict[str, Any]:
    return error_body("ValidationError", f"the request is invalid: {problem}", fields=[problem.field()])
