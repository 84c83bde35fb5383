"""Column types: how a type renders, when a type change narrows, and whether a stored value still fits.

:func:`narrowing` is the static rule (the destructive analyzer): a change to a lower-ranked storage
family (blob → text → temporal → real → integer) or to a smaller capacity in the same family.
:func:`fits` is the dynamic one (the will-fail analyzer): whether one value the inspected database holds
converts to the new type without loss. Both only judge types they know (``None`` / True otherwise).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

__all__ = ["fits", "max_text_length", "narrowing", "render_type"]

_INF = math.inf
# Rank of each storage family: a change to a lower rank loses values that do not convert.
_RANK = {"integer": 1, "real": 2, "temporal": 3, "text": 4, "blob": 5}
_INT_BYTES = {0.125: 1, 2.0: 16, 4.0: 32, 8.0: 64}  # capacity → bits (booleans are 0 / 1)


def render_type(type_: Any) -> str:
    """The SQLite spelling of a type (``repr`` for a type the dialect cannot render)."""
    try:
        return str(type_.compile(dialect=sqlite.dialect()))
    except Exception:  # a reflected NullType, a custom type
        return repr(type_)


def _shape(t: Any) -> tuple[str, tuple[float, ...]] | None:
    """(family, capacity) of a type, or None when it is not a type the rules know."""
    if isinstance(t, sa.LargeBinary):
        return "blob", (_INF,)
    if isinstance(t, sa.JSON):
        return "text", (_INF,)
    if isinstance(t, sa.String):
        return "text", (float(t.length) if t.length else _INF,)
    if isinstance(t, sa.DateTime):
        return "temporal", (2.0,)
    if isinstance(t, (sa.Date, sa.Time)):
        return "temporal", (1.0,)
    if isinstance(t, sa.Float):
        return "real", (_INF, _INF)
    if isinstance(t, sa.Numeric):
        return "real", (float(t.precision or _INF), float(t.scale if t.scale is not None else _INF))
    if isinstance(t, sa.Boolean):
        return "integer", (0.125,)
    if isinstance(t, sa.BigInteger):
        return "integer", (8.0,)
    if isinstance(t, sa.SmallInteger):
        return "integer", (2.0,)
    if isinstance(t, sa.Integer):
        return "integer", (4.0,)
    return None


def narrowing(old: Any, new: Any) -> str | None:
    """Why changing a column from ``old`` to ``new`` can lose data, or None when it cannot (or is unknown).

    Example:
        >>> narrowing(sa.Text(), sa.String(40))
        'TEXT → VARCHAR(40): the new type holds less than the old one'
    """
    before, after = _shape(old), _shape(new)
    if before is None or after is None:
        return None
    if _RANK[after[0]] < _RANK[before[0]]:
        return (
            f"{render_type(old)} → {render_type(new)}: {before[0]} values that do not convert to "
            f"{after[0]} are lost"
        )
    if after[0] == before[0] and any(a < b for a, b in zip(after[1], before[1], strict=True)):
        return f"{render_type(old)} → {render_type(new)}: the new type holds less than the old one"
    return None


def max_text_length(new: Any) -> int | None:
    """The bound of a bounded text type (``VARCHAR(n)``), else None: a misfit is then ``length(v) > n``."""
    shape = _shape(new)
    if shape is None or shape[0] != "text" or shape[1][0] == _INF:
        return None
    return int(shape[1][0])


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and not math.isfinite(value) else Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _fits_integer(value: Any, capacity: float) -> bool:
    number = _as_number(value)
    if number is None or number != number.to_integral_value():
        return False
    if capacity == 0.125:
        return bool(number in (0, 1))
    bits = _INT_BYTES.get(capacity, 64)
    limit = 1 << (bits - 1)
    return -limit <= int(number) < limit


def _fits_real(value: Any, capacity: tuple[float, ...]) -> bool:
    number = _as_number(value)
    if number is None:
        return False
    precision, scale = capacity
    exponent = number.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if scale != _INF and decimals > scale:
        return False
    if precision != _INF:
        whole = len(str(abs(int(number)))) if abs(number) >= 1 else 0
        return whole <= precision - (0 if scale == _INF else scale)
    return True


def _fits_temporal(value: Any, new: Any) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    try:
        if isinstance(new, sa.Time):
            time.fromisoformat(text)
            return True
        if isinstance(new, sa.DateTime):
            datetime.fromisoformat(text)
            return True
        try:
            date.fromisoformat(text)
            return True
        except ValueError:
            return datetime.fromisoformat(text).time() == time(0)
    except ValueError:
        return False


def _fits_text(value: Any, capacity: float) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return False
    else:
        text = str(value)
    return len(text) <= capacity


def fits(value: Any, new: Any) -> bool:
    """Whether a stored value converts to type ``new`` without loss (True for an unknown type or NULL).

    Example:
        >>> fits("12", sa.Integer()), fits("12a", sa.Integer()), fits("abcdef", sa.String(3))
        (True, False, False)
    """
    shape = _shape(new)
    if value is None or shape is None:
        return True
    family, capacity = shape
    if family == "blob":
        return True
    if isinstance(value, (bytes, bytearray, memoryview)) and family != "text":
        return False
    if family == "text":
        return _fits_text(value, capacity[0])
    if family == "temporal":
        return _fits_temporal(value, new)
    if family == "real":
        return _fits_real(value, capacity)
    return _fits_integer(value, capacity[0])
