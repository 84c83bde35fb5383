"""Named legacy sources (upstream's planned enum): the old code store, file memory, skill bundles.

Mappings (documented here and in the CLI help):

``vox_pm_turso`` (the old CodeStore database, e.g. ``.vox/store.db``)
    Exported and imported by the same JSONL route as ``codex legacy export`` / ``import``, streamed
    directly (no intermediate file): every :data:`LEGACY_EXPORT_TABLES` table the old file has (usually
    objects, names, metadata, packages, package_deps, execution_log, scheduled, components) is copied
    with ``INSERT OR REPLACE``, foreign keys off, in batches. Columns the target does not have are
    dropped and reported.

``orchestrator_file_memory`` (``MEMORY.md`` and ``memory/*.md``, upstream's orchestrator memory files)
    Files: ``<DIR>/MEMORY.md``, ``<DIR>/memory/**/*.md`` (when ``<DIR>`` has no ``memory/`` folder,
    ``<DIR>/**/*.md``). Each file is split into sections at ``## `` headings (upstream's MEMORY.md
    keys); a leading ``# `` title line is not content. Each non-empty section becomes one ``memories``
    row:

    * ``agent_id``: the first folder under the memory root (``memory/<agent>/…``); else, for a file
      directly in the root, its stem (``memory/<agent>.md``), except ``MEMORY.md`` and daily logs
      (``YYYY-MM-DD.md``), which belong to ``global`` (as upstream's memory manager writes them);
    * ``memory_type``: the section heading, lower-cased, non-alphanumerics as ``_`` (``## Decisions``
      → ``decisions``); text before the first heading is ``daily_log`` in a daily log, else ``note``;
    * ``content``: the section's text, trimmed; ``importance`` 1.0;
    * ``session_id``: ``file:<path relative to DIR>`` (the import key: importing the same file again
      replaces its earlier rows instead of adding duplicates);
    * ``created_at``: a daily log's date, else the file's modification time (UTC);
    * ``metadata``: ``{"source": "orchestrator_file_memory", "path", "heading", "section", "title"}``.

``skill_bundles`` (a directory per skill, or one skill directory)
    A bundle is a directory holding ``SKILL.md``. Its manifest is the SKILL.md front matter (``---``
    delimited; YAML as OpenClaw writes it, or TOML as upstream's v1 parser reads it), updated by the
    first manifest file present: ``skill.json``, ``manifest.json``, ``skill.yaml``, ``skill.yml``,
    ``manifest.yaml``, ``manifest.yml``, ``skill.toml``. One ``skill_manifests`` row per bundle through
    :meth:`SkillRepository.publish` (``INSERT OR REPLACE``): ``id`` = manifest ``id``, else ``name``,
    else the directory name; ``version`` = manifest ``version``, else ``0.0.0``; ``manifest_json`` =
    the merged manifest (with ``id`` and ``version`` filled in); ``skill_md`` = the whole SKILL.md text.
    Directories without SKILL.md are skipped and reported; a malformed manifest stops the import
    (nothing is written).
"""

from __future__ import annotations

import enum
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from codex.config import LocalDb
from codex.legacy._format import LegacyImportError
from codex.legacy.export import ExportReport, iter_export_lines, open_legacy_engine, read_snapshot
from codex.legacy.import_ import DEFAULT_BATCH_SIZE, ImportReport, database_identity, import_lines
from codex.repositories._base import dump_json
from codex.repositories.skills import SkillRepository
from codex.store import Store
from domains.context_memory import memories

__all__ = [
    "FILE_MEMORY_SOURCE",
    "LegacySource",
    "MemoryImportReport",
    "MemorySection",
    "SkillBundle",
    "SkillImportReport",
    "import_code_store",
    "import_file_memory",
    "import_skill_bundles",
    "parse_memory_file",
    "parse_skill_bundle",
]

FILE_MEMORY_SOURCE = "orchestrator_file_memory"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_MANIFEST_FILES = (
    "skill.json",
    "manifest.json",
    "skill.yaml",
    "skill.yml",
    "manifest.yaml",
    "manifest.yml",
    "skill.toml",
)


class LegacySource(enum.StrEnum):
    """Upstream's named import sources."""

    VOX_PM_TURSO = "vox_pm_turso"
    ORCHESTRATOR_FILE_MEMORY = "orchestrator_file_memory"
    SKILL_BUNDLES = "skill_bundles"


# -- the old code store ---------------------------------------------------------------------------
def import_code_store(
    store: Store,
    path: str | Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_commit: Callable[[ImportReport, int], None] | None = None,
) -> tuple[ExportReport, ImportReport]:
    """Copy an old code-store database (``vox_pm_turso``) into ``store`` through the JSONL route.

    The old file is read without migrating (it must exist); its rows are encoded as legacy JSONL and
    imported as ``codex legacy import`` would, without writing an intermediate file.

    Returns:
        What was read (per table, and the tables the old file lacks) and what was imported.

    Raises:
        ConfigError: No such file.
        LegacyImportError: The old file is the store's own file, or the database refused a row.
    """
    source = LocalDb(path=str(path), source=LegacySource.VOX_PM_TURSO.value)
    if str(Path(path).expanduser().resolve()) == database_identity(store):
        raise LegacyImportError("the old code store is the target database itself", path=str(path))
    engine = open_legacy_engine(source)
    exported = ExportReport()
    try:
        with read_snapshot(engine) as conn:
            lines = (
                (n, line.encode("utf-8"))
                for n, (_table, line) in enumerate(iter_export_lines(conn, report=exported), start=1)
            )
            imported = import_lines(
                store, lines, batch_size=batch_size, source=f"{path} (vox_pm_turso)", on_commit=on_commit
            )
    finally:
        engine.dispose()
    return exported, imported


# -- orchestrator file memory -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MemorySection:
    """One ``memories`` row parsed from a memory file."""

    agent_id: str
    session_id: str
    memory_type: str
    content: str
    created_at: str
    metadata: dict[str, Any]


@dataclass
class MemoryImportReport:
    """What a file-memory import wrote."""

    files: int = 0
    rows: int = 0
    replaced: int = 0
    by_agent: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)


def _slug(heading: str) -> str:
    return _NON_ALNUM.sub("_", heading.lower()).strip("_")[:64]


def _split_sections(text: str) -> Iterator[tuple[str | None, str]]:
    heading: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("## "):
            yield heading, "\n".join(body)
            heading, body = line[3:].strip(), []
        else:
            body.append(line)
    yield heading, "\n".join(body)


def parse_memory_file(path: Path, *, root: Path, base: Path) -> list[MemorySection]:
    """Parse one memory file into sections (see the module doc for the mapping).

    Args:
        path: The ``.md`` file.
        root: The memory root (``<DIR>/memory``, or ``<DIR>`` itself): decides the agent.
        base: ``<DIR>``: paths in ``session_id`` and ``metadata`` are relative to it.
    """
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(base).as_posix()
    inside = path.relative_to(root).parts if path.is_relative_to(root) else (path.name,)
    daily = bool(_DATE.match(path.stem))
    if len(inside) > 1:
        agent = inside[0]
    elif path.name == "MEMORY.md" or daily:
        agent = "global"
    else:
        agent = path.stem
    if daily:
        created_at = f"{path.stem} 00:00:00"
    else:
        created_at = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S")
    title: str | None = None
    out: list[MemorySection] = []
    for index, (heading, body) in enumerate(_split_sections(text)):
        lines = body.splitlines()
        if heading is None and lines and lines[0].startswith("# "):
            title = lines[0][2:].strip()
            lines = lines[1:]
        content = "\n".join(lines).strip()
        if not content:
            continue
        memory_type = (_slug(heading) if heading else "") or ("daily_log" if daily else "note")
        meta = {
            "source": FILE_MEMORY_SOURCE,
            "path": rel,
            "heading": heading,
            "section": index,
            "title": title,
        }
        out.append(MemorySection(agent, f"file:{rel}", memory_type, content, created_at, meta))
    return out


def _memory_files(directory: Path) -> tuple[Path, list[Path]]:
    nested = directory / "memory"
    root = nested if nested.is_dir() else directory
    files = sorted(p for p in root.rglob("*.md") if p.is_file())
    top = directory / "MEMORY.md"
    if root != directory and top.is_file():
        files.insert(0, top)
    return root, files


def import_file_memory(store: Store, directory: str | Path) -> MemoryImportReport:
    """Import orchestrator memory files (``MEMORY.md``, ``memory/*.md``) as ``memories`` rows.

    One transaction: all files or none. Importing a file again replaces the rows it produced before.

    Raises:
        LegacyImportError: ``directory`` is not a directory, or holds no memory files, or a file is
            not UTF-8.
    """
    base = Path(directory)
    if not base.is_dir():
        raise LegacyImportError(f"no such directory: {base}", path=str(base))
    root, files = _memory_files(base)
    if not files:
        raise LegacyImportError(f"no MEMORY.md or memory/*.md under {base}", path=str(base))
    report = MemoryImportReport()
    parsed: list[tuple[str, list[MemorySection]]] = []
    for path in files:
        try:
            parsed.append(
                (f"file:{path.relative_to(base).as_posix()}", parse_memory_file(path, root=root, base=base))
            )
        except (OSError, UnicodeDecodeError) as exc:
            raise LegacyImportError(f"cannot read memory file {path}: {exc}", path=str(path)) from exc
    m = memories
    replace = sa.delete(m).where(
        m.c.session_id == sa.bindparam("session"),
        sa.func.json_extract(m.c["metadata"], "$.source") == FILE_MEMORY_SOURCE,
    )
    with store.begin() as conn:
        for session, sections in parsed:
            report.files += 1
            report.replaced += int(conn.execute(replace, {"session": session}).rowcount or 0)
            if not sections:
                continue
            conn.execute(
                sa.insert(m),
                [
                    {
                        "agent_id": s.agent_id,
                        "session_id": s.session_id,
                        "memory_type": s.memory_type,
                        "content": s.content,
                        "metadata": dump_json(s.metadata),
                        "importance": 1.0,
                        "created_at": s.created_at,
                    }
                    for s in sections
                ],
            )
            for s in sections:
                report.rows += 1
                report.by_agent[s.agent_id] = report.by_agent.get(s.agent_id, 0) + 1
                report.by_type[s.memory_type] = report.by_type.get(s.memory_type, 0) + 1
    return report


# -- skill bundles ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SkillBundle:
    """One parsed skill bundle."""

    skill_id: str
    version: str
    manifest: dict[str, Any]
    skill_md: str
    path: str


@dataclass
class SkillImportReport:
    """What a skill-bundle import published (``(id, version)`` pairs) and what it skipped."""

    published: list[tuple[str, str]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _front_matter(text: str, path: Path) -> dict[str, Any]:
    stripped = text.lstrip("\ufeff").lstrip()
    if not stripped.startswith("---"):
        return {}
    end = stripped.find("\n---", 3)
    if end < 0:
        raise LegacyImportError(f"{path}: front matter is not closed with ---", path=str(path))
    block = stripped[3:end]
    try:
        doc = yaml.safe_load(block)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, dict):
        return doc
    try:
        return tomllib.loads(block)
    except tomllib.TOMLDecodeError as exc:
        raise LegacyImportError(
            f"{path}: front matter is neither YAML nor TOML: {exc}", path=str(path)
        ) from exc


def _manifest_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            doc = json.loads(text)
        elif path.suffix == ".toml":
            doc = tomllib.loads(text)
        else:
            doc = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise LegacyImportError(f"{path}: not a valid manifest: {exc}", path=str(path)) from exc
    if not isinstance(doc, dict):
        raise LegacyImportError(f"{path}: a manifest must be a mapping", path=str(path))
    return doc


def parse_skill_bundle(directory: Path) -> SkillBundle:
    """Parse one skill bundle directory (see the module doc for the mapping).

    Raises:
        LegacyImportError: No SKILL.md, or a malformed front matter or manifest file.
    """
    skill_path = directory / "SKILL.md"
    if not skill_path.is_file():
        raise LegacyImportError(f"{directory}: no SKILL.md", path=str(directory))
    try:
        skill_md = skill_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LegacyImportError(f"cannot read {skill_path}: {exc}", path=str(skill_path)) from exc
    manifest: dict[str, Any] = dict(_front_matter(skill_md, skill_path))
    for name in _MANIFEST_FILES:
        candidate = directory / name
        if candidate.is_file():
            manifest.update(_manifest_file(candidate))
            break
    skill_id = str(manifest.get("id") or manifest.get("name") or directory.name)
    version = str(manifest.get("version") or "0.0.0")
    manifest = {**manifest, "id": skill_id, "version": version}
    # front matter may hold dates and other YAML types: keep the manifest JSON-clean
    manifest = json.loads(json.dumps(manifest, default=str))
    return SkillBundle(skill_id, version, manifest, skill_md, str(directory))


def import_skill_bundles(store: Store, directory: str | Path) -> SkillImportReport:
    """Publish every skill bundle under ``directory`` (or ``directory`` itself when it holds SKILL.md).

    One transaction: every bundle or none.

    Raises:
        LegacyImportError: Not a directory, no bundle found, or a malformed bundle.
    """
    base = Path(directory)
    if not base.is_dir():
        raise LegacyImportError(f"no such directory: {base}", path=str(base))
    report = SkillImportReport()
    if (base / "SKILL.md").is_file():
        candidates = [base]
    else:
        candidates = []
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            if (sub / "SKILL.md").is_file():
                candidates.append(sub)
            else:
                report.skipped[sub.name] = "no SKILL.md"
    if not candidates:
        raise LegacyImportError(f"no skill bundle (a directory with SKILL.md) under {base}", path=str(base))
    bundles = [parse_skill_bundle(d) for d in candidates]
    with store.begin() as conn:
        repo = SkillRepository(conn)
        for bundle in bundles:
            repo.publish(bundle.skill_id, bundle.version, bundle.manifest, bundle.skill_md)
            report.published.append((bundle.skill_id, bundle.version))
    return report
