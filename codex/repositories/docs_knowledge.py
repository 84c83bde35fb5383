"""docs_knowledge: the docs/RAG knowledge graph (``knowledge_nodes``, ``knowledge_edges``) and code snippets.

Upstream store operations (semantics §12) and their methods here:

============================  =============================================
upstream                      Codex
============================  =============================================
``upsert_knowledge_node``     :meth:`KnowledgeRepository.upsert_node`
``query_knowledge_nodes``     :meth:`KnowledgeRepository.query_nodes`
``create_knowledge_edge``     :meth:`KnowledgeRepository.create_edge`
``get_knowledge_neighbors``   :meth:`KnowledgeRepository.neighbours`
``save_snippet``              :meth:`SnippetRepository.save`
``search_snippets``           :meth:`SnippetRepository.search`
============================  =============================================

Change log: docs_knowledge is not a live domain, so these repositories append no change-log rows
(no topics are emitted).

Search is a LIKE substring match (case-insensitive for ASCII, as SQLite's LIKE is). Unlike upstream,
``%`` and ``_`` in the query are escaped, so they match themselves rather than acting as wildcards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from codex.repositories._base import Repository, clamp_limit, dump_json, json_property, like_contains, row_as
from codex.repositories.gateway import TableGateway
from domains.docs_knowledge import knowledge_edges, knowledge_nodes, snippets

__all__ = [
    "SNIPPET_SEARCH_MAX",
    "KnowledgeEdgeRow",
    "KnowledgeNodeRow",
    "KnowledgeRepository",
    "NeighbourRow",
    "SnippetRepository",
    "SnippetRow",
]

#: Most rows :meth:`SnippetRepository.search` returns (upstream's fixed LIMIT 500).
SNIPPET_SEARCH_MAX = 500


# -- rows -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KnowledgeNodeRow:
    """One ``knowledge_nodes`` row; ``metadata_json`` is the stored JSON text."""

    id: str
    label: str
    content: str | None
    node_type: str
    metadata_json: str | None
    created_at: str

    metadata = json_property("metadata_json", "The node's metadata, parsed (None when unset).")


@dataclass(frozen=True, slots=True)
class KnowledgeEdgeRow:
    """One directed, typed, weighted ``knowledge_edges`` row (key: src_id, dst_id, relation)."""

    src_id: str
    dst_id: str
    relation: str
    weight: float
    created_at: str


@dataclass(frozen=True, slots=True)
class NeighbourRow:
    """An outgoing edge of a node together with the label of its destination node."""

    src_id: str
    dst_id: str
    relation: str
    weight: float
    dst_label: str


@dataclass(frozen=True, slots=True)
class SnippetRow:
    """One ``snippets`` row. ``tags`` is free text, stored as given (upstream treats it as opaque)."""

    id: int
    language: str
    title: str
    code: str
    description: str | None
    tags: str | None
    author_id: str | None
    source_ref: str | None
    embedding_ref: str | None
    created_at: str


# -- prebuilt statements ----------------------------------------------------------------------------
_n = knowledge_nodes
_e = knowledge_edges
_s = snippets

_NODE_COLUMNS = (
    _n.c.id,
    _n.c.label,
    _n.c.content,
    _n.c.node_type,
    _n.c.metadata.label("metadata_json"),
    _n.c.created_at,
)

_node_ins = sqlite_insert(_n)
# created_at is kept: it records when the node first appeared.
_NODE_UPSERT = _node_ins.on_conflict_do_update(
    index_elements=[_n.c.id],
    set_={
        "label": _node_ins.excluded.label,
        "content": _node_ins.excluded.content,
        "node_type": _node_ins.excluded.node_type,
        "metadata": _node_ins.excluded.metadata,
    },
).returning(*_NODE_COLUMNS)

_edge_ins = sqlite_insert(_e)
_EDGE_UPSERT = _edge_ins.on_conflict_do_update(
    index_elements=[_e.c.src_id, _e.c.dst_id, _e.c.relation],
    set_={"weight": _edge_ins.excluded.weight},
).returning(*_e.c)

_NEIGHBOURS = (
    sa.select(
        _e.c.src_id,
        _e.c.dst_id,
        _e.c.relation,
        _e.c.weight,
        _n.c.label.label("dst_label"),
    )
    .select_from(_e.join(_n, _n.c.id == _e.c.dst_id))
    .where(_e.c.src_id == sa.bindparam("node_id"))
    .order_by(_e.c.relation, _e.c.dst_id)
)

_SNIPPET_INSERT = sa.insert(_s).returning(_s.c.id)


class KnowledgeRepository(Repository):
    """Nodes and edges of the knowledge graph.

    Edges carry no foreign key to nodes (as upstream): an edge may name a node that does not exist
    (yet). :meth:`neighbours` only reports edges whose destination exists, and :meth:`delete_node`
    removes the node's edges with it.

    Example:
        >>> with store.begin() as conn:
        ...     kg = KnowledgeRepository(conn)
        ...     _ = kg.upsert_node("sqlite", "SQLite", content="An embedded SQL engine")
        ...     _ = kg.upsert_node("libsql", "libSQL")
        ...     _ = kg.create_edge("libsql", "sqlite", "fork_of")
        ...     [(n.relation, n.dst_label) for n in kg.neighbours("libsql")]
        [('fork_of', 'SQLite')]
    """

    @property
    def _nodes(self) -> TableGateway[KnowledgeNodeRow]:
        # KnowledgeNodeRow names the ``metadata`` column ``metadata_json``.
        return self._gateway(_n, KnowledgeNodeRow, columns=_NODE_COLUMNS)

    @property
    def _edges(self) -> TableGateway[KnowledgeEdgeRow]:
        return self._gateway(_e, KnowledgeEdgeRow)

    # -- nodes ----------------------------------------------------------------------------------
    def upsert_node(
        self,
        node_id: str,
        label: str,
        *,
        content: str | None = None,
        node_type: str = "concept",
        metadata: Any = None,
    ) -> KnowledgeNodeRow:
        """Insert a node, or overwrite label, content, node_type and metadata of an existing one.

        Args:
            node_id: The node's key.
            label: Its display label.
            content: Free text (searched by :meth:`query_nodes`).
            node_type: Its kind (``concept`` by default).
            metadata: Any JSON value (stored as JSON text; None → NULL).

        Returns:
            The node as stored (``created_at`` is that of the first insert).

        Raises:
            InvalidInput: ``metadata`` is not JSON-serialisable, or the connection is read-only.
        """
        self._writable()
        params = {
            "id": node_id,
            "label": label,
            "content": content,
            "node_type": node_type,
            "metadata": dump_json(metadata),
        }
        row = self._execute(_NODE_UPSERT, params).all()[0]
        return row_as(KnowledgeNodeRow, row)

    def get_node(self, node_id: str) -> KnowledgeNodeRow:
        """The node with this id.

        Args:
            node_id: The node's key.

        Returns:
            The node.

        Raises:
            NotFound: No such node.
        """
        return self._nodes.get(node_id, missing=f"knowledge node {node_id!r} not found")

    def get_node_or_none(self, node_id: str) -> KnowledgeNodeRow | None:
        """The node with this id, or None.

        Args:
            node_id: The node's key.

        Returns:
            The node, or None when it does not exist.
        """
        return self._nodes.find(node_id)

    def query_nodes(self, q: str, *, limit: int = 50) -> list[KnowledgeNodeRow]:
        """Nodes whose label or content contains ``q`` (LIKE, ``%``/``_`` taken literally).

        Args:
            q: The substring to look for; ``""`` matches every node.
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            Matching nodes ordered by label, then id.
        """
        pattern = like_contains(q)
        stmt = (
            self._nodes.select(
                sa.or_(_n.c.label.like(pattern, escape="\\"), _n.c.content.like(pattern, escape="\\"))
            )
            .order_by(_n.c.label, _n.c.id)
            .limit(clamp_limit(limit))
        )
        return self._all(KnowledgeNodeRow, stmt)

    def count_nodes(self) -> int:
        """Number of nodes in the graph."""
        return self._nodes.count()

    def delete_node(self, node_id: str) -> int:
        """Delete a node and every edge that starts or ends at it.

        Args:
            node_id: The node's key.

        Returns:
            How many edges were removed with the node.

        Raises:
            NotFound: No such node (nothing is deleted).
            InvalidInput: The connection is read-only.
        """
        self._writable()
        self._nodes.delete(node_id, missing=f"knowledge node {node_id!r} not found")
        return self._edges.delete_where(sa.or_(_e.c.src_id == node_id, _e.c.dst_id == node_id))

    # -- edges ----------------------------------------------------------------------------------
    def create_edge(
        self, src_id: str, dst_id: str, relation: str, *, weight: float = 1.0
    ) -> KnowledgeEdgeRow:
        """Create the edge ``src_id -[relation]-> dst_id``, or update the weight of an existing one.

        The nodes need not exist (there is no foreign key, as upstream). Upstream's ``metadata``
        argument was ignored and has no column, so it is not offered here.

        Args:
            src_id: Source node id.
            dst_id: Destination node id.
            relation: The edge's type; (src_id, dst_id, relation) is the key.
            weight: Its weight (1.0 by default).

        Returns:
            The edge as stored.

        Raises:
            InvalidInput: The connection is read-only.
        """
        self._writable()
        params = {"src_id": src_id, "dst_id": dst_id, "relation": relation, "weight": float(weight)}
        row = self._execute(_EDGE_UPSERT, params).all()[0]
        return row_as(KnowledgeEdgeRow, row)

    def get_edge(self, src_id: str, dst_id: str, relation: str) -> KnowledgeEdgeRow:
        """The edge with this key.

        Args:
            src_id: Source node id.
            dst_id: Destination node id.
            relation: The edge's type.

        Returns:
            The edge.

        Raises:
            NotFound: No such edge.
        """
        return self._edges.get(
            (src_id, dst_id, relation), missing=f"knowledge edge {src_id}-[{relation}]->{dst_id} not found"
        )

    def delete_edge(self, src_id: str, dst_id: str, relation: str) -> bool:
        """Delete one edge.

        Args:
            src_id: Source node id.
            dst_id: Destination node id.
            relation: The edge's type.

        Returns:
            True when an edge was deleted, False when there was none.

        Raises:
            InvalidInput: The connection is read-only.
        """
        self._writable()
        return bool(
            self._edges.delete_where(_e.c.src_id == src_id, _e.c.dst_id == dst_id, _e.c.relation == relation)
        )

    def neighbours(self, node_id: str) -> list[NeighbourRow]:
        """Outgoing edges of a node with the labels of their destinations.

        As upstream (an inner join), edges whose destination node does not exist are left out.

        Args:
            node_id: The source node's id (it need not exist: the result is then empty).

        Returns:
            The edges, ordered by relation, then destination id.
        """
        return self._all(NeighbourRow, _NEIGHBOURS.params(node_id=node_id))


class SnippetRepository(Repository):
    """Saved code snippets and their substring search."""

    @property
    def _snippets(self) -> TableGateway[SnippetRow]:
        return self._gateway(_s, SnippetRow)

    def save(
        self,
        language: str,
        title: str,
        code: str,
        *,
        description: str | None = None,
        tags: str | None = None,
        author_id: str | None = None,
        source_ref: str | None = None,
        embedding_ref: str | None = None,
    ) -> int:
        """Save a snippet.

        Args:
            language: Its language (e.g. ``python``).
            title: A short title.
            code: The code.
            description: Free text.
            tags: Free-text tags (e.g. ``"sql,sqlite"``), searched as text.
            author_id: Who saved it.
            source_ref: Where it came from.
            embedding_ref: A reference to its embedding (upstream accepted and dropped it; kept here).

        Returns:
            The new snippet id.

        Raises:
            InvalidInput: The connection is read-only.
        """
        self._writable()
        params = {
            "language": language,
            "title": title,
            "code": code,
            "description": description,
            "tags": tags,
            "author_id": author_id,
            "source_ref": source_ref,
            "embedding_ref": embedding_ref,
        }
        return int(self._execute(_SNIPPET_INSERT, params).all()[0].id)

    def get(self, snippet_id: int) -> SnippetRow:
        """The snippet with this id.

        Args:
            snippet_id: The snippet id.

        Returns:
            The snippet.

        Raises:
            NotFound: No such snippet.
        """
        return self._snippets.get(snippet_id)  # NotFound: "snippet <id> not found"

    def search(self, q: str, *, limit: int = SNIPPET_SEARCH_MAX) -> list[SnippetRow]:
        """Snippets whose title, code, description or tags contain ``q`` (LIKE, ``%``/``_`` literal).

        Upstream's ``language`` argument was ignored; filter the result by ``row.language`` if needed.

        Args:
            q: The substring to look for; ``""`` matches every snippet.
            limit: At most this many rows, clamped to 1..500.

        Returns:
            Matching snippets, newest first (highest id first).
        """
        pattern = like_contains(q)
        stmt = (
            sa.select(_s)
            .where(
                sa.or_(
                    _s.c.title.like(pattern, escape="\\"),
                    _s.c.code.like(pattern, escape="\\"),
                    _s.c.description.like(pattern, escape="\\"),
                    _s.c.tags.like(pattern, escape="\\"),
                )
            )
            .order_by(_s.c.id.desc())
            .limit(clamp_limit(limit, maximum=SNIPPET_SEARCH_MAX))
        )
        return self._all(SnippetRow, stmt)

    def count(self) -> int:
        """Number of saved snippets."""
        return self._snippets.count()

    def delete(self, snippet_id: int) -> bool:
        """Delete a snippet.

        Args:
            snippet_id: The snippet id.

        Returns:
            True when a snippet was deleted, False when there was none.

        Raises:
            InvalidInput: The connection is read-only.
        """
        self._writable()
        return bool(self._snippets.delete_where(_s.c.id == snippet_id))
