"""``codex ci …``: the repository guards CI runs (``path:line: message`` per finding, exit 1 on any)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from codex.cli._common import cli_errors
from codex.guards import (
    REPO_ROOT,
    Finding,
    check_allowlist_parity,
    check_driver_imports,
    check_schema_coverage,
    load_policy,
)

__all__ = ["app"]

app = typer.Typer(
    help="Repository guards: schema coverage, allowlist parity, driver imports.", no_args_is_help=True
)

_ROOT_HELP = "Repository (or fixture tree) to check; default: this checkout."


def _root(root: Path | None) -> Path:
    return (root or REPO_ROOT).resolve()


def _report(findings: Sequence[Finding], ok: str) -> None:
    """Print warnings on stderr and errors on stdout; exit 1 when there is any error."""
    errors = [f for f in findings if f.severity == "error"]
    for finding in findings:
        if finding.severity == "warning":
            typer.echo(str(finding), err=True)
    for finding in errors:
        typer.echo(str(finding))
    if errors:
        typer.echo(f"{len(errors)} finding(s)", err=True)
        raise typer.Exit(1)
    typer.echo(ok)


@app.command("db-schema-coverage")
@cli_errors
def db_schema_coverage(
    root: Path | None = typer.Option(None, "--root", help=_ROOT_HELP, file_okay=False, exists=True),
) -> None:
    """Fail when a table is created (SQL) or defined (SQLAlchemy Table) outside the policy's schema owners."""
    base = _root(root)
    policy = load_policy(base)
    findings = check_schema_coverage(base, policy=policy)
    owners = ", ".join(s.entry for s in policy.schema_scopes)
    _report(findings, f"db-schema-coverage: OK, every table lives in a schema owner ({owners})")


@app.command("policy-allowlist-parity")
@cli_errors
def policy_allowlist_parity(
    root: Path | None = typer.Option(None, "--root", help=_ROOT_HELP, file_okay=False, exists=True),
) -> None:
    """Fail when the storage policy is invalid or the driver-import allowlist is stale or redundant."""
    findings = check_allowlist_parity(_root(root))
    warnings = sum(f.severity == "warning" for f in findings)
    _report(findings, f"policy-allowlist-parity: OK ({warnings} warning(s))")


@app.command("import-guard")
@cli_errors
def import_guard(
    root: Path | None = typer.Option(None, "--root", help=_ROOT_HELP, file_okay=False, exists=True),
) -> None:
    """Fail when a module outside the allowed ones imports a database driver or calls create_engine()."""
    findings = check_driver_imports(_root(root))
    _report(findings, "import-guard: OK, no driver import or create_engine() outside the allowed modules")
