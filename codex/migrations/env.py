"""Alembic environment for Codex (thin on purpose).

``target_metadata`` is ``domains.metadata``; the URL comes from ``codex.config.resolve_db_config``;
``render_as_batch=True``; foreign keys are off during a run (batch rebuilds must not cascade) and
checked before commit; every step is written to the applied-revision ledger. The machinery lives in
``codex.migrate._env``. ``schema_version`` and the ledger are written there after every step.
"""

from __future__ import annotations

import logging.config

from alembic import context

from codex.migrate._env import run_env
from domains import metadata

target_metadata = metadata

if context.config.config_file_name is not None and not context.config.attributes.get("codex_in_process"):
    logging.config.fileConfig(context.config.config_file_name, disable_existing_loggers=False)

run_env()
