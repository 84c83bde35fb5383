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
    log_format: str | None = typer.Option(
        None,
        help="json (one object per line: time, level, request id, tenant, route, status, duration) or text; "
        "default: settings (VOX_CODEX_LOG_FORMAT), auto = json when stdout is not a terminal.",
    ),
    workers: int = typer.Option(
        1,
        min=1,
        help="Worker processes. On a remote primary each process runs its database calls one at a time "
        "(the libSQL driver serialises them), so more workers serve more requests; console sessions live "
        "in one process, so the console needs --workers 1 (or a sticky proxy).",
    ),
) -> None:
    """Serve the Codex HTTP API, live streams and console on HOST:PORT (loopback by default)."""
    import logging
    import logging.config

    import uvicorn

    from codex.api import create_app
    from codex.api.logs import log_config, resolve_log_format
    from codex.config import load_settings

    if log_format not in (None, "json", "text", "auto"):
        raise typer.BadParameter("--log-format must be json, text or auto")
    settings = load_settings(host=host, port=port, log_level=log_level, log_format=log_format)
    fmt = resolve_log_format(settings.log_format)
    logging_config = log_config(settings.log_level, fmt)  # request ids in every line, secrets redacted
    logging.config.dictConfig(logging_config)
    config = db_config()
    app = create_app(settings=settings)
    where = (
        config.path
        if config.mode in ("local", "replica")
        else config.url
        if config.mode == "remote"
        else None
    )
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        f"codex: serving the {config.mode} database {where}",
        f"codex: API      {base}/api/codex/...  (health: {base}/health, ready: {base}/ready)",
        f"codex: console  {base}/console",
        "codex: create a token with: codex tokens create --tenant default --scopes read,write,subscribe",
    ]
    if settings.metrics_port is not None:
        lines.append(f"codex: metrics  http://{settings.host}:{settings.metrics_port}/metrics (no token)")
    if workers > 1:
        lines.append(f"codex: {workers} worker processes")
    say = logging.getLogger("codex.serve")
    for line in lines:  # in JSON mode every stdout line is a JSON object
        if fmt == "json":
            say.info(line)
        else:
            typer.echo(line)
    if workers > 1:  # each worker process builds its own app (and store, hub, write gate)
        uvicorn.run(
            "codex.api:create_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            log_config=logging_config,
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
        log_config=logging_config,
        ws_max_size=settings.ws_max_message_bytes,
        timeout_graceful_shutdown=2,
        lifespan="on",
    )
