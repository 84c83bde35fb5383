"""The three outputs of ``codex db review``: Markdown (a PR comment), JSON, GitHub Actions annotations."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from codex.errors import ConfigError
from codex.guards.review._report import MARKER, Finding, ReviewedOperation, SchemaReview, Status

__all__ = ["FORMATS", "render", "render_github", "render_json", "render_markdown"]

_ADVICE: Mapping[Status, str] = {
    "clean": "Nothing: no revision is pending and the models agree with the chain.",
    "safe": (
        "Nothing blocks the deploy. Operations marked *model change* have no revision yet: write one "
        '(`codex db revision --autogenerate -m "…"`), read it, and commit it with the model change.'
    ),
    "warning": (
        "Read each warning: a data-dependent change fails on a database whose rows violate it (backfill or "
        "clean the rows in the same revision), a backward-incompatible one breaks the code still running "
        "during the deploy (expand first, contract in a later release), a large rebuild holds the write lock "
        "while it copies the table."
    ),
    "error": (
        "Each error loses data or fails the deploy. Prefer an additive change (a new column or table, a "
        "copy-and-backfill revision, a server default), fix the rows the counts point at, or get an explicit "
        "sign-off and describe the data migration in the PR. Baseline fragments are append-only."
    ),
}


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _code(name: str | None) -> str:
    return f"`{name}`" if name else "—"


def _where(op: ReviewedOperation) -> str:
    if op.table and op.column:
        return f"{op.table}.{op.column}"
    return op.table or op.column or ""


def _numbers(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}–{numbers[-1]}"


def _grouped(review: SchemaReview) -> list[tuple[list[int], ReviewedOperation, Finding]]:
    """The findings in operation order, one line for a finding every operation of a batch shares (the
    ``table-rebuild`` of a move and copy): (operation numbers, first operation, finding)."""
    groups: dict[tuple[object, ...], tuple[list[int], ReviewedOperation, Finding]] = {}
    for number, op in enumerate(review.operations, start=1):
        for f in op.findings:
            scope = id(op.sql) if op.batch is not None else id(op)
            key = (f.code, f.severity, f.message, f.rows, scope)
            if key in groups:
                groups[key][0].append(number)
            else:
                groups[key] = ([number], op, f)
    return list(groups.values())


def _revision(op: ReviewedOperation) -> str:
    return _code(op.revision) if op.revision else "*model change*"


def _reviewed(review: SchemaReview) -> str:
    revisions = ", ".join(f"`{r}`" for r in review.revisions) or "none"
    models = f"model changes no revision carries (models `{review.source}`, head `{review.head}`)"
    if review.mode == "database":
        return (
            f"Database {_code(review.database)} at revision {_code(review.start or 'base')}: pending revisions "
            f"{revisions}; then {models}."
        )
    if review.mode == "base":
        return f"Revisions after {_code(review.start or 'base')}: {revisions}; then {models}."
    return f"Only {models}."


def render_markdown(review: SchemaReview) -> str:
    """The report for a PR comment (GitHub-flavoured Markdown; the first line is :data:`MARKER`)."""
    counts = review.counts()
    out = [
        MARKER,
        "## Codex schema review",
        "",
        f"**Status: {review.status}** (exit {review.exit_code}): {len(review.operations)} operation(s); "
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info.",
        "",
        _reviewed(review),
        "",
        "### Operations",
        "",
    ]
    if review.operations:
        out += ["| # | Revision | Operation | Table | Detail | Findings |", "|---:|---|---|---|---|---|"]
        for n, op in enumerate(review.operations, start=1):
            found = ", ".join(f"{f.severity} `{f.code}`" for f in op.findings) or "—"
            out.append(
                f"| {n} | {_revision(op)} | {op.op} | {_code(op.table)} | {_cell(op.detail)} | {found} |"
            )
    else:
        out.append("None: nothing is pending and the models agree with the migrations.")
    out += ["", "### Findings", ""]
    if review.findings:
        out += ["| Severity | Code | # | Where | Rows | Message |", "|---|---|---:|---|---:|---|"]
        order = {"error": 0, "warning": 1, "info": 2}
        for numbers, op, f in sorted(_grouped(review), key=lambda g: order[g[2].severity]):
            rows = "—" if f.rows is None else str(f.rows)
            where = _where(op) if len(numbers) == 1 else op.table
            out.append(
                f"| **{f.severity}** | `{f.code}` | {_numbers(numbers)} | {_code(where)} | {rows} | "
                f"{_cell(f.message)} |"
            )
    else:
        out.append("No findings.")
    sql = _sql_block(review)
    if sql:
        out += [
            "",
            "<details><summary>SQL, in the order a deploy runs it</summary>",
            "",
            "```sql",
            *sql,
            "```",
            "",
            "</details>",
        ]
    if review.notes:
        out += ["", "### Notes", "", *[f"- {note}" for note in review.notes]]
    out += ["", "### What to do", "", _ADVICE[review.status], ""]
    return "\n".join(out)


def _sql_block(review: SchemaReview) -> list[str]:
    lines: list[str] = []
    previous: list[str] | None = None
    for n, op in enumerate(review.operations, start=1):
        label = f"-- #{n} {op.revision or 'model change'}: {op.op} {_where(op)}".rstrip()
        if op.sql and op.sql is previous:
            lines.append(f"{label} (same move-and-copy batch as above)")
            continue
        previous = op.sql
        if op.sql:
            lines.append(label)
            lines += [statement.rstrip().rstrip(";") + ";" for statement in op.sql]
    return lines


def render_json(review: SchemaReview) -> str:
    """One JSON object: ``status``, ``exit``, ``operations`` (plus ``reviewed`` and ``notes``)."""
    return json.dumps(review.as_dict(), indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def render_github(review: SchemaReview) -> str:
    """GitHub Actions workflow commands: one ``::error`` / ``::warning`` / ``::notice`` per finding, and
    a closing ``::notice`` with the status."""
    lines = []
    for numbers, op, f in _grouped(review):
        where = (_where(op) if len(numbers) == 1 else op.table) or ""
        title = (
            f"{f.code}"
            + (f" {where}" if where else "")
            + (f" ({op.revision})" if op.revision else " (model change)")
        )
        rows = "" if f.rows is None else f" [rows: {f.rows}]"
        lines.append(
            f"::{_LEVEL[f.severity]} title={_escape_property(title)}::{_escape_data(f.message + rows)}"
        )
    counts = review.counts()
    summary = (
        f"status {review.status} (exit {review.exit_code}): {len(review.operations)} operation(s), "
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
    )
    lines.append(f"::notice title=codex db review::{_escape_data(summary)}")
    return "\n".join(lines) + "\n"


FORMATS: Mapping[str, Callable[[SchemaReview], str]] = {
    "markdown": render_markdown,
    "json": render_json,
    "github": render_github,
}
"""Every ``--format`` and its renderer."""


def render(review: SchemaReview, fmt: str) -> str:
    """Render ``review`` as ``fmt`` (``markdown``, ``json`` or ``github``).

    Raises:
        ConfigError: An unknown format (one line naming the known ones).
    """
    renderer = FORMATS.get(fmt)
    if renderer is None:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})", format=fmt)
    return renderer(review)
