"""The counter windows of usage limits, in UTC: which window an instant counts into, and when it ends.

``daily`` → ``'YYYY-MM-DD'``, ``monthly`` → ``'YYYY-MM-01'``, ``none`` → ``''`` (a window that never
ends). :mod:`codex.repositories.usage` counts and enforces in these windows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from codex.repositories._base import Repository

__all__ = ["PERIOD_KINDS", "utc", "window_end", "window_start"]

PERIOD_KINDS = ("daily", "monthly", "none")


def window_start(period_kind: str, at: datetime | None = None) -> str:
    """The counter window (``period_start``) a limit of ``period_kind`` counts into at ``at``.

    Args:
        period_kind: ``daily``, ``monthly`` or ``none``.
        at: The instant (default now); naive values are read as UTC, aware ones converted to UTC.

    Returns:
        ``'YYYY-MM-DD'`` (daily), ``'YYYY-MM-01'`` (monthly) or ``''`` (none).

    Raises:
        InvalidInput: Unknown period kind.

    Example:
        >>> window_start("monthly", datetime(2026, 3, 21, 23, 59))
        '2026-03-01'
    """
    Repository._check_vocab(period_kind, PERIOD_KINDS, "period_kind")
    if period_kind == "none":
        return ""
    when = utc(at)
    return when.strftime("%Y-%m-%d") if period_kind == "daily" else when.strftime("%Y-%m-01")


def window_end(period_kind: str, at: datetime | None = None) -> datetime | None:
    """When the counter window of a ``period_kind`` limit containing ``at`` ends (UTC), or None.

    A ``none`` window never ends. ``QuotaExceeded`` reports this as ``resets_at`` and ``retry_after``.

    Raises:
        InvalidInput: Unknown period kind.

    Example:
        >>> window_end("monthly", datetime(2026, 12, 21, 23, 59))
        datetime.datetime(2027, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    Repository._check_vocab(period_kind, PERIOD_KINDS, "period_kind")
    if period_kind == "none":
        return None
    when = utc(at)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if period_kind == "daily":
        return day + timedelta(days=1)
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def utc(at: datetime | None) -> datetime:
    """``at`` in UTC (naive values read as UTC), or now."""
    if at is None:
        return datetime.now(UTC)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
