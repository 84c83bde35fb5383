"""``codex tokens …``: create, list and revoke API tokens (stored hashed)."""

from __future__ import annotations

import typer

from codex.cli._common import cli_errors, echo_json, open_store_cli
from codex.repositories.tenancy import TokenRepository

__all__ = ["app"]

app = typer.Typer(help="API tokens: each bound to one tenant and a set of scopes.", no_args_is_help=True)


@app.command("create")
@cli_errors
def create(
    tenant: str = typer.Option(..., help="The tenant the token acts for."),
    scopes: str = typer.Option(
        "read,write,subscribe", help="Comma-separated: read, write, subscribe, admin."
    ),
    label: str = typer.Option("", help="A note to recognise the token by."),
    expires_days: int | None = typer.Option(None, help="Expire after this many days."),
) -> None:
    """Create a token; the secret is printed once, alone on the last line of stdout."""
    with open_store_cli() as store, store.begin() as conn:
        new = TokenRepository(conn).create(tenant, scopes.split(","), label=label, expires_days=expires_days)
    typer.echo(f"created token {new.token.id} for tenant {new.token.tenant} with scopes {new.token.scopes}")
    typer.echo("store it now: it is not shown again")
    typer.echo(new.secret)


@app.command("list")
@cli_errors
def list_tokens(tenant: str | None = typer.Option(None, help="Only this tenant's tokens.")) -> None:
    """List tokens (never their secrets) as JSON."""
    with open_store_cli() as store, store.connect() as conn:
        rows = TokenRepository(conn).list(tenant=tenant)
    echo_json(
        [
            {
                "id": t.id,
                "prefix": t.token_prefix,
                "tenant": t.tenant,
                "scopes": t.scopes,
                "label": t.label,
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "revoked_at": t.revoked_at,
                "last_used_at": t.last_used_at,
                "active": t.active,
            }
            for t in rows
        ]
    )


@app.command("revoke")
@cli_errors
def revoke(token_id: int = typer.Argument(..., help="The token id (see `codex tokens list`).")) -> None:
    """Revoke a token: every request with it gets 401 from then on."""
    with open_store_cli() as store, store.begin() as conn:
        token = TokenRepository(conn).revoke(token_id)
    typer.echo(f"revoked token {token.id} (tenant {token.tenant})")
