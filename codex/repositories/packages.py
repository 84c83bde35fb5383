"""packages: the package registry (``packages``), its dependency edges (``package_deps``) and yanking.

Versions are compared as versions, not as strings (:func:`version_key`): ``1.10.0`` is newer than
``1.9.0`` and a pre-release (``2.0.0-rc.1``) sorts before its release.

Change log (a live domain): every mutation appends one row on topic ``packages/<name>`` in the
caller's transaction, with entity_kind ``package`` and entity_id ``<name>@<version>``:

* :meth:`PackageRepository.publish` → ``insert`` (payload: name, version, hash, deps);
* :meth:`PackageRepository.add_dep` → ``update`` (payload: name, version, dep_name, dep_version_req);
* :meth:`PackageRepository.yank` → ``update`` (payload: name, version, yanked), when a row changed;
* :meth:`PackageRepository.delete` → ``delete`` (payload: name, version), when a row was removed.

Example:
    >>> from codex.repositories import CasRepository
    >>> with store.begin() as conn:
    ...     digest = CasRepository(conn).store("package", archive)
    ...     packages = PackageRepository(conn)
    ...     _ = packages.publish("http", "1.2.0", digest, deps={"json": "^1"})
    ...     latest = packages.latest("http")
    ...     deps = [(d.dep_name, d.dep_version_req) for d in packages.deps("http", "1.2.0")]
    >>> latest.version, latest.hash == digest, deps
    ('1.2.0', True, [('json', '^1')])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, like_contains, rows_as
from codex.repositories.changelog import validate_topic
from codex.repositories.gateway import TableGateway
from domains.packages import package_deps, packages

__all__ = [
    "PackageDep",
    "PackageRepository",
    "PackageRow",
    "PackageVersion",
    "version_key",
]

_ENTITY = "package"

_publish = sqlite_insert(packages)
_PUBLISH = _publish.on_conflict_do_update(
    index_elements=[packages.c.name, packages.c.version],
    set_={
        **{c: _publish.excluded[c] for c in ("hash", "description", "author", "license")},
        "yanked": 0,
        "published_at": sa.func.datetime("now"),
    },
)
"""Publishing a version again replaces it and un-yanks it."""
_add_dep = sqlite_insert(package_deps)
_ADD_DEP = _add_dep.on_conflict_do_update(
    index_elements=[package_deps.c.package_name, package_deps.c.package_version, package_deps.c.dep_name],
    set_={"dep_version_req": _add_dep.excluded.dep_version_req},
)
_YANK = (
    sa.update(packages)
    .where(packages.c.name == sa.bindparam("n"), packages.c.version == sa.bindparam("v"))
    .values(yanked=1)
)
_VERSIONS = sa.select(packages.c.version, packages.c.hash).where(
    packages.c.name == sa.bindparam("n"), packages.c.yanked == 0
)

_NUMERIC = re.compile(r"^[0-9]+$")
# One identifier of a version: numeric ones sort before alphanumeric ones (semver §11.4.3).
_Ident = tuple[int, int, str]


def _ident(part: str) -> _Ident:
    return (0, int(part), "") if _NUMERIC.match(part) else (1, 0, part)


def version_key(version: str) -> tuple[tuple[_Ident, ...], int, tuple[_Ident, ...], str]:
    """A sort key that orders version strings as versions (semver-like).

    A leading ``v`` and ``+build`` metadata are ignored; the release part is split on ``.`` and
    compared numerically where numeric, with trailing zeros dropped (``1.0`` == ``1.0.0``); a
    pre-release (``-rc.1``) sorts before its release, and pre-release identifiers compare as in
    semver. Anything unparsable still sorts, deterministically (the raw text breaks ties).

    Args:
        version: The version text.

    Returns:
        A tuple key; larger means newer.

    Example:
        >>> sorted(["1.9.0", "1.10.0", "1.10.0-rc.1"], key=version_key)
        ['1.9.0', '1.10.0-rc.1', '1.10.0']
    """
    text = version.strip()
    if text[:1] in ("v", "V") and text[1:2].isdigit():
        text = text[1:]
    text = text.split("+", 1)[0]
    release, sep, pre = text.partition("-")
    core = [_ident(p) for p in release.split(".")] if release else []
    while core and core[-1] == (0, 0, ""):
        core.pop()
    if sep:
        return (tuple(core), 0, tuple(_ident(p) for p in pre.split(".")), version)
    return (tuple(core), 1, (), version)


def _require(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string", field=what)
    return value


def _dep_row(name: str, version: str, dep_name: str, dep_version_req: str) -> dict[str, str]:
    return {
        "package_name": name,
        "package_version": version,
        "dep_name": dep_name,
        "dep_version_req": dep_version_req,
    }


@dataclass(frozen=True, slots=True)
class PackageRow:
    """One published version of a package."""

    name: str
    version: str
    hash: str
    description: str | None
    author: str | None
    license: str | None
    published_at: str
    yanked: int

    @property
    def is_yanked(self) -> bool:
        """Whether this version was yanked."""
        return bool(self.yanked)


@dataclass(frozen=True, slots=True)
class PackageVersion:
    """A non-yanked version of a package and the hash of its content."""

    version: str
    hash: str


@dataclass(frozen=True, slots=True)
class PackageDep:
    """One dependency edge of a package version."""

    package_name: str
    package_version: str
    dep_name: str
    dep_version_req: str


class PackageRepository(Repository):
    """Publish, query, yank and delete packages; every write emits on ``packages/<name>``."""

    topic_root = "packages"

    @property
    def _packages(self) -> TableGateway[PackageRow]:
        return self._gateway(packages, PackageRow)

    @property
    def _deps(self) -> TableGateway[PackageDep]:
        return self._gateway(package_deps, PackageDep)

    @staticmethod
    def _deps_of(name: str, version: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (package_deps.c.package_name == name, package_deps.c.package_version == version)

    def _topic(self, name: str) -> str:
        _require(name, "name")
        return validate_topic(f"{self.topic_root}/{name}")

    # -- writes -------------------------------------------------------------------------------
    def publish(
        self,
        name: str,
        version: str,
        hash: str,
        *,
        description: str | None = None,
        author: str | None = None,
        license: str | None = None,
        deps: Mapping[str, str] | None = None,
    ) -> PackageRow:
        """Publish a version (upsert): a republish overwrites it, un-yanks it and refreshes ``published_at``.

        Args:
            name: The package name (it becomes part of the topic ``packages/<name>``).
            version: The version text.
            hash: The CAS hash of the package content (must be a stored object).
            description: Free text, searched by :meth:`search`.
            author: The author.
            license: The licence identifier.
            deps: ``{dep_name: version_req}``. When given, it replaces the version's stored
                dependency set, in the same transaction; when None, stored deps are kept.

        Returns:
            The stored :class:`PackageRow`.

        Raises:
            InvalidInput: Empty name, version or dep name, or a name unusable in a topic.
            Conflict: ``hash`` names no stored object (foreign key).
        """
        self._writable()
        topic = self._topic(name)
        _require(version, "version")
        dep_rows = [
            _dep_row(name, version, _require(dep, "dep_name"), req) for dep, req in (deps or {}).items()
        ]
        row = {"name": name, "version": version, "hash": hash}
        self._execute(
            _PUBLISH, {**row, "description": description, "author": author, "license": license, "yanked": 0}
        )
        if deps is not None:
            self._deps.delete_where(*self._deps_of(name, version))
            if dep_rows:
                self._execute(_ADD_DEP, dep_rows)
        payload: dict[str, Any] = {"name": name, "version": version, "hash": hash}
        if deps is not None:
            payload["deps"] = dict(deps)
        self._change(topic, "insert", _ENTITY, f"{name}@{version}", payload)
        return self.get(name, version)

    def add_dep(self, name: str, version: str, dep_name: str, dep_version_req: str) -> None:
        """Add or change one dependency of a published version (upsert).

        Args:
            name: The package.
            version: Its version.
            dep_name: The dependency's package name.
            dep_version_req: The version requirement, e.g. ``^1.2``.

        Raises:
            InvalidInput: Empty dep name.
            Conflict: ``name@version`` is not published (foreign key).
        """
        self._writable()
        topic = self._topic(name)
        _require(dep_name, "dep_name")
        self._execute(_ADD_DEP, _dep_row(name, version, dep_name, dep_version_req))
        self._change(
            topic,
            "update",
            _ENTITY,
            f"{name}@{version}",
            {"name": name, "version": version, "dep_name": dep_name, "dep_version_req": dep_version_req},
        )

    def yank(self, name: str, version: str) -> int:
        """Mark a version yanked: it disappears from :meth:`versions` and :meth:`search`.

        Args:
            name: The package.
            version: Its version.

        Returns:
            The number of rows updated (0 when the version does not exist).
        """
        self._writable()
        topic = self._topic(name)
        count = int(self._execute(_YANK, {"n": name, "v": version}).rowcount)
        if count:
            self._change(
                topic,
                "update",
                _ENTITY,
                f"{name}@{version}",
                {"name": name, "version": version, "yanked": True},
            )
        return count

    def delete(self, name: str, version: str) -> int:
        """Delete a version: its dependency edges first, then the row.

        Args:
            name: The package.
            version: Its version.

        Returns:
            The number of package rows removed (0 when the version does not exist).
        """
        self._writable()
        topic = self._topic(name)
        self._deps.delete_where(*self._deps_of(name, version))
        count = self._packages.delete_where(packages.c.name == name, packages.c.version == version)
        if count:
            self._change(topic, "delete", _ENTITY, f"{name}@{version}", {"name": name, "version": version})
        return count

    # -- reads --------------------------------------------------------------------------------
    def get(self, name: str, version: str) -> PackageRow:
        """One version (yanked or not).

        Args:
            name: The package.
            version: Its version.

        Returns:
            The :class:`PackageRow`.

        Raises:
            NotFound: The version is not published.
        """
        row = self.get_one_or_none(name, version)
        if row is None:
            raise NotFound(f"package {name}@{version} not found", name=name, version=version)
        return row

    def get_one_or_none(self, name: str, version: str) -> PackageRow | None:
        """One version, or None when it is not published.

        Args:
            name: The package.
            version: Its version.

        Returns:
            The :class:`PackageRow` or None.
        """
        return self._packages.find((name, version))

    def exists(self, name: str, version: str | None = None) -> bool:
        """Whether a package (any version, yanked included) or one version of it is published.

        Args:
            name: The package.
            version: One version; None for any.

        Returns:
            True when a row exists.
        """
        if version is not None:
            return self._packages.exists((name, version))
        return self._execute(self._packages.select(packages.c.name == name).limit(1)).first() is not None

    def count(self, *, include_yanked: bool = False) -> int:
        """Number of published versions across all packages.

        Args:
            include_yanked: Count yanked versions too.

        Returns:
            The count.
        """
        return self._packages.count(*([] if include_yanked else [packages.c.yanked == 0]))

    def versions(self, name: str) -> list[PackageVersion]:
        """The non-yanked versions of a package, newest version first (compared by :func:`version_key`).

        Args:
            name: The package.

        Returns:
            ``(version, hash)`` rows; empty when the package is unknown or fully yanked.
        """
        rows = rows_as(PackageVersion, self._execute(_VERSIONS, {"n": name}))
        return sorted(rows, key=lambda r: version_key(r.version), reverse=True)

    def latest(self, name: str) -> PackageRow:
        """The newest non-yanked version of a package.

        Args:
            name: The package.

        Returns:
            Its :class:`PackageRow`.

        Raises:
            NotFound: The package has no non-yanked version.
        """
        found = self.versions(name)
        if not found:
            raise NotFound(f"package {name} has no published version", name=name)
        return self.get(name, found[0].version)

    def deps(self, name: str, version: str) -> list[PackageDep]:
        """The dependency edges of a version, sorted by dependency name.

        Args:
            name: The package.
            version: Its version.

        Returns:
            The edges (empty when there are none or the version is unknown).
        """
        stmt = self._deps.select(*self._deps_of(name, version)).order_by(package_deps.c.dep_name)
        return rows_as(PackageDep, self._execute(stmt))

    def search(self, q: str, *, limit: int = 50) -> list[PackageRow]:
        """Non-yanked versions whose name or description contains ``q``, newest first.

        ``q`` is matched literally (``%`` and ``_`` are escaped) and, as SQLite's LIKE is, case
        insensitively for ASCII. Newest means latest ``published_at``; ties (same second) go to the
        most recently inserted row.

        Args:
            q: The text to look for (empty matches everything).
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The matching versions.
        """
        pattern = like_contains(q)
        t = packages
        stmt = (
            sa.select(t)
            .where(
                t.c.yanked == 0,
                sa.or_(t.c.name.like(pattern, escape="\\"), t.c.description.like(pattern, escape="\\")),
            )
            .order_by(t.c.published_at.desc(), sa.literal_column("packages.rowid").desc())
            .limit(clamp_limit(limit))
        )
        return rows_as(PackageRow, self._execute(stmt))
