"""Legacy data: move a pre-baseline (or any) database into a fresh Codex database, and named importers.

The route (reference ``semantics.md`` §11; remedy text :data:`codex.migrate.LEGACY_REMEDY`):

1. ``codex legacy export rows.jsonl`` reads the configured database without migrating it
   (:func:`export_database`);
2. point ``VOX_DB_PATH`` at a new file; 3. ``codex db upgrade`` (or let the import open it);
4. ``codex legacy import rows.jsonl`` loads the rows in batches, resumably (:func:`import_legacy`).

``codex legacy verify`` (:func:`inspect_database`) tells whether a database carries a legacy chain.
Named sources (:mod:`codex.legacy.sources`): the old code store, orchestrator file memory, skill bundles.
"""

from __future__ import annotations

from codex.legacy._format import (
    BLOB_PREFIX,
    LEGACY_EXPORT_TABLES,
    TEXT_COLUMNS_KEY,
    LegacyFormatError,
    LegacyImportError,
    decode_value,
    encode_row,
    parse_line,
)
from codex.legacy.export import (
    ExportReport,
    count_rows,
    export_database,
    export_legacy,
    iter_export_lines,
    open_legacy_engine,
    read_snapshot,
    table_columns,
)
from codex.legacy.import_ import (
    DEFAULT_BATCH_SIZE,
    PROGRESS_SUFFIX,
    ImportReport,
    ProgressMarker,
    database_identity,
    import_legacy,
    import_lines,
    progress_path_for,
)
from codex.legacy.sources import (
    FILE_MEMORY_SOURCE,
    LegacySource,
    MemoryImportReport,
    MemorySection,
    SkillBundle,
    SkillImportReport,
    import_code_store,
    import_file_memory,
    import_skill_bundles,
    parse_memory_file,
    parse_skill_bundle,
)
from codex.legacy.verify import CODEX_REACTIVITY_TABLES, LegacyStatus, inspect_database

__all__ = [
    "BLOB_PREFIX",
    "CODEX_REACTIVITY_TABLES",
    "DEFAULT_BATCH_SIZE",
    "FILE_MEMORY_SOURCE",
    "LEGACY_EXPORT_TABLES",
    "PROGRESS_SUFFIX",
    "TEXT_COLUMNS_KEY",
    "ExportReport",
    "ImportReport",
    "LegacyFormatError",
    "LegacyImportError",
    "LegacySource",
    "LegacyStatus",
    "MemoryImportReport",
    "MemorySection",
    "ProgressMarker",
    "SkillBundle",
    "SkillImportReport",
    "count_rows",
    "database_identity",
    "decode_value",
    "encode_row",
    "export_database",
    "export_legacy",
    "import_code_store",
    "import_file_memory",
    "import_legacy",
    "import_lines",
    "import_skill_bundles",
    "inspect_database",
    "iter_export_lines",
    "open_legacy_engine",
    "parse_line",
    "parse_memory_file",
    "parse_skill_bundle",
    "progress_path_for",
    "read_snapshot",
    "table_columns",
]
