"""``codex serve``: run the HTTP service with uvicorn."""

from __future__ import annotations

import typer

from codex.cli._common import cli_errors, db_config

__all__ = ["serve"]


@cli_errors
def serve(
    host: str | None = typer.Option(None, help="Bind address (default: settings, 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default: settings, 8787)."),
    log_level: str | None = typer.Option(None, help="uvicorn log level."),
    workers: int = typer.Option(
        1,
        min=1,
        help="Worker processes. On a remote primary each process runs its database calls one at a time "
        "(the libSQL driver serialises them), so more workers serve more requests; console sessions live "
        "in one process, so the console needs --workers 1 (or a sticky proxy).",
    ),
) -> None:
    """Serve the Codex HTTP API, live streams and console on HOST:PORT (loopback by default)."""
    import uvicorn

    from codex.api import create_app
    from codex.api.logs import log_config
    from codex.config import load_settings

    settings = load_settings(host=host, port=port, log_level=log_level)
    config = db_config()
    app = create_app(settings=settings)
    where = config.path if config.mode in ("local", "replica") else config.url
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(f"codex: serving the {config.mode} database {where}")
    typer.echo(f"codex: API      {base}/api/codex/...  (health: {base}/health, ready: {base}/ready)")
    typer.echo(f"codex: console  {base}/console")
    typer.echo(
        "codex: create a token with: codex tokens create --tenant default --scopes read,write,subscribe"
    )
    if workers > 1:  # each worker process builds its own app (and store, hub, write gate)
        typer.echo(f"codex: {workers} worker processes")
        uvicorn.run(
            "codex.api:create_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            log_config=log_config(settings.log_level),
            ws_max_size=settings.ws_max_message_bytes,
            timeout_graceful_shutdown=2,
            lifespan="on",
        )
        return
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),  # request ids in every line, secrets redacted
        ws_max_size=settings.ws_max_message_bytes,
        timeout_graceful_shutdown=2,
        lifespan="on",
    )
