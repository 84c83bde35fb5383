"""skills: published skill manifests, one row per (skill id, version).

Change log: skills is not a live domain, so this repository appends no change-log rows.

Store operations (``semantics.md`` §12, skills): ``publish_skill`` → :meth:`SkillRepository.publish`,
``unpublish_skill`` → :meth:`~SkillRepository.unpublish`, ``get_skill_manifest`` →
:meth:`~SkillRepository.get_manifest`, ``list_skill_manifests`` → :meth:`~SkillRepository.list`.

``published_at`` is second-resolution ``datetime('now')`` text. Publishing replaces the row (as
upstream's INSERT OR REPLACE), so a re-published version gets a new ``published_at`` and a new rowid;
listings break ``published_at`` ties by rowid (the later publish first). :meth:`get_manifest` breaks
them by version precedence instead (see :func:`version_key`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property
from codex.repositories.gateway import TableGateway
from domains.skills import skill_manifests

__all__ = ["SkillManifestRow", "SkillRepository", "version_key"]

_NUMERIC = re.compile(r"^[0-9]+$")


def _identifiers(text: str) -> tuple[tuple[int, int, str], ...]:
    # Numeric identifiers compare numerically and before alphanumeric ones (SemVer §11).
    return tuple((0, int(p), "") if _NUMERIC.match(p) else (1, 0, p) for p in text.split("."))


def version_key(version: str) -> tuple[Any, ...]:
    """A sort key giving SemVer-like precedence to version strings.

    Dot-separated parts compare numerically where they are digits (``1.10.0`` > ``1.9.0``), build
    metadata after ``+`` is ignored, and a pre-release (``-rc.1``) sorts before its release. Strings
    that are not SemVer still get a total, deterministic order.
    """
    core, _, pre = version.partition("+")[0].partition("-")
    release = _identifiers(core)
    return (release, (1,) if not pre else (0, *_identifiers(pre)))


@dataclass(frozen=True, slots=True)
class SkillManifestRow:
    """One ``skill_manifests`` row."""

    id: str
    version: str
    manifest_json: str
    skill_md: str
    published_at: str

    manifest = json_property("manifest_json", "The manifest, parsed.")


_S = skill_manifests
_ROWID: sa.ColumnClause[Any] = sa.literal_column("skill_manifests.rowid")
_NEWEST = (_S.c.published_at.desc(), _ROWID.desc())
# publish() replaces the row, as upstream's INSERT OR REPLACE (published_at restarts).
_REPLACE = sa.insert(_S).prefix_with("OR REPLACE")


class SkillRepository(Repository):
    """Skill manifests: publish versions, read the latest, unpublish a skill."""

    @property
    def _manifests(self) -> TableGateway[SkillManifestRow]:
        return self._gateway(_S, SkillManifestRow)

    def publish(self, skill_id: str, version: str, manifest: Any, skill_md: str) -> SkillManifestRow:
        """Publish (or re-publish) one version of a skill.

        Args:
            skill_id: The skill id.
            version: Its version (non-empty).
            manifest: The manifest, any JSON value except None (usually an object).
            skill_md: The SKILL.md text.

        Returns:
            The stored row.

        Raises:
            InvalidInput: An empty id or version, a None or non-JSON manifest, or a read-only connection.
        """
        self._writable()
        for name, value in (("skill_id", skill_id), ("version", version)):
            if not isinstance(value, str) or not value:
                raise InvalidInput(f"{name} must be a non-empty string", field=name)
        if manifest is None:
            raise InvalidInput("a skill needs a manifest", field="manifest")
        self._execute(
            _REPLACE,
            {"id": skill_id, "version": version, "manifest_json": dump_json(manifest), "skill_md": skill_md},
        )
        return self.get(skill_id, version)

    def unpublish(self, skill_id: str) -> int:
        """Delete every version of a skill.

        Returns:
            The number of versions deleted (0 when the skill was not published).

        Raises:
            InvalidInput: A read-only connection.
        """
        self._writable()
        return self._manifests.delete_where(_S.c.id == skill_id)

    def get_manifest(self, skill_id: str) -> SkillManifestRow | None:
        """The latest published version of a skill, or None.

        "Latest" is the newest ``published_at``; among versions published in the same second, the
        highest version by :func:`version_key`.
        """
        latest = sa.select(sa.func.max(_S.c.published_at)).where(_S.c.id == skill_id).scalar_subquery()
        rows = self._all(
            SkillManifestRow, self._manifests.select(_S.c.id == skill_id, _S.c.published_at == latest)
        )
        return max(rows, key=lambda r: version_key(r.version)) if rows else None

    def get(self, skill_id: str, version: str) -> SkillManifestRow:
        """One version of a skill.

        Raises:
            NotFound: That version is not published.
        """
        row = self._manifests.find((skill_id, version))
        if row is None:
            raise NotFound(f"skill {skill_id}@{version}")
        return row

    def get_one_or_none(self, skill_id: str, version: str) -> SkillManifestRow | None:
        """One version of a skill, or None."""
        return self._manifests.find((skill_id, version))

    def versions(self, skill_id: str) -> list[SkillManifestRow]:
        """Every published version of a skill, newest first."""
        return self._all(SkillManifestRow, self._manifests.select(_S.c.id == skill_id).order_by(*_NEWEST))

    def list(self, *, limit: int = 1000) -> list[SkillManifestRow]:
        """Every (skill, version) row, newest first.

        Args:
            limit: Clamped to 1..10000.
        """
        return self._all(
            SkillManifestRow, self._manifests.select().order_by(*_NEWEST).limit(clamp_limit(limit))
        )

    def count(self, *, skill_id: str | None = None) -> int:
        """Number of published rows (optionally the versions of one skill)."""
        return self._manifests.count(*([] if skill_id is None else [_S.c.id == skill_id]))

    def exists(self, skill_id: str) -> bool:
        """Whether any version of the skill is published."""
        return self._execute(self._manifests.select(_S.c.id == skill_id).limit(1)).first() is not None

    def delete(self, skill_id: str, version: str) -> None:
        """Delete one version of a skill.

        Raises:
            NotFound: That version is not published.
            InvalidInput: A read-only connection.
        """
        self._writable()
        if not self._manifests.delete_where(_S.c.id == skill_id, _S.c.version == version):
            raise NotFound(f"skill {skill_id}@{version}")
