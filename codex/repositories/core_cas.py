"""core_cas: content-addressed objects, name bindings, object metadata and causal links.

An object's hash is the NIST SHA3-512 digest of its bytes only (the kind is not hashed), encoded as
RFC 4648 base32hex (alphabet ``0-9A-V``, upper case) without padding: 103 characters (see
:func:`cas_hash`). Objects are immutable and stored with ``INSERT OR IGNORE``, so the first kind
stored for given bytes wins.

Change log: core_cas is not a live domain; this repository emits no change-log rows.

Example:
    >>> with store.begin() as conn:
    ...     cas = CasRepository(conn)
    ...     digest = cas.store("source", b"fn main() {}")
    ...     cas.bind_name("app", "main", digest)
    ...     cas.lookup_name("app", "main") == digest
    True
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository
from codex.repositories.gateway import TableGateway
from domains.core_cas import causal, names, object_metadata, objects

__all__ = [
    "BINDING_KIND",
    "HASH_LENGTH",
    "CasRepository",
    "MetadataRow",
    "NameRow",
    "ObjectInfo",
    "ObjectRow",
    "cas_hash",
]

HASH_LENGTH = 103
"""Length of a CAS hash: 64 digest bytes in unpadded base32hex."""

BINDING_KIND = "binding"
"""The object kind :meth:`CasRepository.set_binding` stores text under."""

_STORE = sa.insert(objects).prefix_with("OR IGNORE")
"""An object is stored once: storing the same bytes again changes nothing (``INSERT OR IGNORE``)."""
_bind = sqlite_insert(names)
_BIND = _bind.on_conflict_do_update(
    index_elements=[names.c.namespace, names.c.name],
    set_={"hash": _bind.excluded.hash, "updated_at": sa.func.datetime("now")},
)
_set_meta = sqlite_insert(object_metadata)
_SET_META = _set_meta.on_conflict_do_update(
    index_elements=[object_metadata.c.hash, object_metadata.c.key], set_={"value": _set_meta.excluded.value}
)
_ADD_DEP = sa.insert(causal).prefix_with("OR IGNORE")

_GET_INFO = sa.select(
    objects.c.hash,
    objects.c.kind,
    sa.func.length(objects.c.data).label("size"),
    objects.c.created_at,
).where(objects.c.hash == sa.bindparam("h"))
_PARENTS = (
    sa.select(causal.c.parent_hash).where(causal.c.hash == sa.bindparam("h")).order_by(causal.c.parent_hash)
)
_CHILDREN = sa.select(causal.c.hash).where(causal.c.parent_hash == sa.bindparam("h")).order_by(causal.c.hash)


def cas_hash(data: bytes) -> str:
    """The CAS hash of ``data``: SHA3-512, base32hex (``0-9A-V``), upper case, unpadded.

    Args:
        data: The object's bytes.

    Returns:
        The 103-character hash.

    Example:
        >>> cas_hash(b"")[:16]
        'KQFN7J527ADCBI5L'
    """
    return base64.b32hexencode(hashlib.sha3_512(data).digest()).decode("ascii").rstrip("=")


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise InvalidInput(f"object data must be bytes, not {type(data).__name__}", field="data")


def _require(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string", field=what)
    return value


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One stored object, with its bytes."""

    hash: str
    kind: str
    data: bytes
    created_at: str


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An object's kind and size, without its bytes."""

    hash: str
    kind: str
    size: int
    created_at: str


@dataclass(frozen=True, slots=True)
class NameRow:
    """A name binding: ``namespace.name`` points at an object hash."""

    namespace: str
    name: str
    hash: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class MetadataRow:
    """One metadata entry of an object."""

    hash: str
    key: str
    value: str


class CasRepository(Repository):
    """Content-addressed objects and everything that points at them (names, metadata, causal links)."""

    @property
    def _objects(self) -> TableGateway[ObjectRow]:
        return self._gateway(objects, ObjectRow)

    @property
    def _names(self) -> TableGateway[NameRow]:
        return self._gateway(names, NameRow)

    @property
    def _metadata(self) -> TableGateway[MetadataRow]:
        return self._gateway(object_metadata, MetadataRow)

    # -- objects ------------------------------------------------------------------------------
    def store(self, kind: str, data: bytes | bytearray | memoryview) -> str:
        """Store an object and return its hash (``INSERT OR IGNORE``: the first kind stored wins).

        Args:
            kind: What the bytes are (``source``, ``binding``, …); not part of the hash.
            data: The bytes.

        Returns:
            The object's hash (see :func:`cas_hash`).

        Raises:
            InvalidInput: ``kind`` is empty or ``data`` is not bytes.
        """
        self._writable()
        _require(kind, "kind")
        blob = _as_bytes(data)
        digest = cas_hash(blob)
        self._execute(_STORE, {"hash": digest, "kind": kind, "data": blob})
        return digest

    def store_many(self, kind: str, blobs: Iterable[bytes | bytearray | memoryview]) -> list[str]:
        """Store several objects of one kind in one ``executemany``.

        Args:
            kind: The kind of every object.
            blobs: The objects' bytes.

        Returns:
            The hashes, in input order (duplicates included).

        Raises:
            InvalidInput: ``kind`` is empty or a blob is not bytes.
        """
        self._writable()
        _require(kind, "kind")
        data = [_as_bytes(b) for b in blobs]
        hashes = [cas_hash(b) for b in data]
        if data:
            self._execute(
                _STORE, [{"hash": h, "kind": kind, "data": b} for h, b in zip(hashes, data, strict=True)]
            )
        return hashes

    def get(self, hash: str) -> bytes:
        """The bytes of an object.

        Args:
            hash: The object's hash.

        Returns:
            The stored bytes.

        Raises:
            NotFound: No object has this hash.
        """
        return self.get_object(hash).data

    def get_object(self, hash: str) -> ObjectRow:
        """The whole object row (kind, bytes, creation time).

        Args:
            hash: The object's hash.

        Returns:
            The :class:`ObjectRow`.

        Raises:
            NotFound: No object has this hash.
        """
        row = self.get_one_or_none(hash)
        if row is None:
            raise NotFound(f"object {hash} not found")
        return row

    def get_one_or_none(self, hash: str) -> ObjectRow | None:
        """The object row, or None when no object has this hash.

        Args:
            hash: The object's hash.

        Returns:
            The :class:`ObjectRow` or None.
        """
        row = self._objects.find(hash)
        if row is None or isinstance(row.data, bytes):
            return row
        return dataclasses.replace(row, data=bytes(row.data))

    def get_info(self, hash: str) -> ObjectInfo:
        """An object's kind, size and creation time, without reading its bytes out.

        Args:
            hash: The object's hash.

        Returns:
            The :class:`ObjectInfo`.

        Raises:
            NotFound: No object has this hash.
        """
        row = self._execute(_GET_INFO, {"h": hash}).first()
        if row is None:
            raise NotFound(f"object {hash} not found")
        return ObjectInfo(hash=row.hash, kind=row.kind, size=int(row.size), created_at=row.created_at)

    def exists(self, hash: str) -> bool:
        """Whether an object with this hash is stored.

        Args:
            hash: The object's hash.

        Returns:
            True when it is stored.
        """
        # A count on the primary key: ``find`` would read the object's bytes out just to drop them.
        return self._objects.count(objects.c.hash == hash) > 0

    def count(self, *, kind: str | None = None) -> int:
        """Number of stored objects.

        Args:
            kind: Count only objects of this kind.

        Returns:
            The count.
        """
        if kind is None:
            return self._objects.count()
        return self._objects.count(objects.c.kind == kind)

    # -- names --------------------------------------------------------------------------------
    def bind_name(self, namespace: str, name: str, hash: str) -> None:
        """Point ``namespace.name`` at an object (upsert; ``updated_at`` is refreshed).

        Args:
            namespace: The namespace.
            name: The name inside it.
            hash: The object's hash.

        Raises:
            InvalidInput: Empty namespace or name.
            Conflict: No object has this hash (foreign key).
        """
        self._writable()
        _require(namespace, "namespace")
        _require(name, "name")
        self._execute(_BIND, {"namespace": namespace, "name": name, "hash": hash})

    def lookup_name(self, namespace: str, name: str) -> str:
        """The hash ``namespace.name`` points at.

        Args:
            namespace: The namespace.
            name: The name inside it.

        Returns:
            The object's hash.

        Raises:
            NotFound: The name is not bound (the message is ``namespace.name``).
        """
        return str(self.get_name(namespace, name).hash)

    def get_name(self, namespace: str, name: str) -> NameRow:
        """The binding row of ``namespace.name`` (with its ``updated_at``).

        Args:
            namespace: The namespace.
            name: The name inside it.

        Returns:
            The :class:`NameRow`.

        Raises:
            NotFound: The name is not bound.
        """
        row = self._names.find((namespace, name))
        if row is None:
            raise NotFound(f"{namespace}.{name}", namespace=namespace, name=name)
        return row

    def rename(self, namespace: str, old: str, new: str) -> None:
        """Move a binding to a new name: bind ``new`` (overwriting it), then delete ``old``.

        Renaming a name to itself leaves the binding as it is.

        Args:
            namespace: The namespace of both names.
            old: The bound name.
            new: The new name.

        Raises:
            NotFound: ``old`` is not bound.
            InvalidInput: ``new`` is empty.
        """
        self._writable()
        digest = self.lookup_name(namespace, old)
        if new == old:
            return
        self.bind_name(namespace, new, digest)
        self._names.delete((namespace, old))

    def unbind_name(self, namespace: str, name: str) -> int:
        """Remove a binding (the object stays).

        Args:
            namespace: The namespace.
            name: The name inside it.

        Returns:
            The number of bindings removed (0 or 1).
        """
        self._writable()
        return self._names.delete_where(names.c.namespace == namespace, names.c.name == name)

    def list_names(self, namespace: str) -> list[NameRow]:
        """Every binding of a namespace, sorted by name.

        Args:
            namespace: The namespace.

        Returns:
            The bindings.
        """
        return self._all(NameRow, self._names.select(names.c.namespace == namespace).order_by(names.c.name))

    # -- text bindings ------------------------------------------------------------------------
    def set_binding(self, namespace: str, name: str, text: str) -> str:
        """Store UTF-8 text as an object of kind ``binding`` and bind ``namespace.name`` to it.

        Args:
            namespace: The namespace.
            name: The name inside it.
            text: The text.

        Returns:
            The hash of the stored text.

        Raises:
            InvalidInput: ``text`` is not a string, or an empty namespace or name.
        """
        if not isinstance(text, str):
            raise InvalidInput(f"binding text must be str, not {type(text).__name__}", field="text")
        digest = self.store(BINDING_KIND, text.encode("utf-8"))
        self.bind_name(namespace, name, digest)
        return digest

    def get_binding(self, namespace: str, name: str) -> str:
        """The text ``namespace.name`` is bound to, decoded as UTF-8.

        Args:
            namespace: The namespace.
            name: The name inside it.

        Returns:
            The text.

        Raises:
            NotFound: The name is not bound.
            InvalidInput: The bound object is not UTF-8 text.
        """
        data = self.get(self.lookup_name(namespace, name))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{namespace}.{name} is not bound to UTF-8 text", field="name") from exc

    # -- object metadata ----------------------------------------------------------------------
    def set_object_metadata(self, hash: str, key: str, value: str) -> None:
        """Set one metadata entry of an object (upsert).

        Args:
            hash: The object's hash.
            key: The entry's key.
            value: Its text value.

        Raises:
            InvalidInput: Empty key.
            Conflict: No object has this hash (foreign key).
        """
        self._writable()
        _require(key, "key")
        self._execute(_SET_META, {"hash": hash, "key": key, "value": value})

    def get_object_metadata(self, hash: str, key: str) -> str:
        """One metadata value of an object.

        Args:
            hash: The object's hash.
            key: The entry's key.

        Returns:
            The value.

        Raises:
            NotFound: The object has no entry with this key.
        """
        row = self._metadata.find((hash, key))
        if row is None:
            raise NotFound(f"metadata {key!r} of object {hash} not found", key=key)
        return str(row.value)

    def get_all_object_metadata(self, hash: str) -> list[MetadataRow]:
        """Every metadata entry of an object, sorted by key.

        Args:
            hash: The object's hash.

        Returns:
            The entries (empty when there are none).
        """
        stmt = self._metadata.select(object_metadata.c.hash == hash).order_by(object_metadata.c.key)
        return self._all(MetadataRow, stmt)

    # -- causal links -------------------------------------------------------------------------
    def add_dependency(self, hash: str, parent_hash: str) -> bool:
        """Record that ``hash`` causally depends on ``parent_hash`` (insert or ignore).

        Args:
            hash: The dependent object.
            parent_hash: The object it depends on.

        Returns:
            True when the link is new, False when it was already recorded.

        Raises:
            Conflict: Either hash names no stored object (foreign key).
        """
        self._writable()
        return int(self._execute(_ADD_DEP, {"hash": hash, "parent_hash": parent_hash}).rowcount) > 0

    def get_dependencies(self, hash: str) -> list[str]:
        """The parents of an object (what it depends on), sorted.

        Args:
            hash: The object's hash.

        Returns:
            The parent hashes.
        """
        return [str(h) for h in self._execute(_PARENTS, {"h": hash}).scalars()]

    def get_dependents(self, parent_hash: str) -> list[str]:
        """The objects that depend on ``parent_hash``, sorted.

        Args:
            parent_hash: The parent's hash.

        Returns:
            The dependent hashes.
        """
        return [str(h) for h in self._execute(_CHILDREN, {"h": parent_hash}).scalars()]
