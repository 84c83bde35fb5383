// Schema explorer: the 18 domains (and bookkeeping) → tables → columns, keys, foreign keys with ON
// DELETE, indexes, the fragment or revision that created each table, row counts; a filter box; and a
// diagram per domain generated from the models.
import { api } from "../api.js";
import { diagram } from "../diagram.js";
import { add, h, table } from "../dom.js";

function tableBlock(domain, t, counts) {
  const columns = table(
    null,
    ["Column", "Type", "Null", "Default", "Key"],
    t.columns.map((c) => [
      h("code", {}, c.name),
      c.type,
      c.nullable ? "null" : "not null",
      c.default === null ? "—" : h("code", {}, c.default),
      [c.primary_key ? "PK" : "", t.foreign_keys.some((fk) => fk.columns.includes(c.name)) ? "FK" : ""].filter(Boolean).join(" ") || "—",
    ]),
    "grid columns",
  );
  const fks = t.foreign_keys.length
    ? h("ul", { class: "fks" }, t.foreign_keys.map((fk) => h("li", {}, h("code", {}, `(${fk.columns.join(", ")}) → ${fk.ref_table}(${fk.ref_columns.join(", ")})`), ` ON DELETE ${fk.ondelete ?? "NO ACTION"}`, fk.ref_domain && fk.ref_domain !== domain.name ? h("span", { class: "muted" }, ` (${fk.ref_domain})`) : null)))
    : h("p", { class: "muted" }, "No foreign keys.");
  const indexes = t.indexes.length
    ? h("ul", { class: "indexes" }, t.indexes.map((ix) => h("li", {}, h("code", {}, `${ix.name} (${ix.columns.join(", ")})`), ix.unique ? " UNIQUE" : "")))
    : h("p", { class: "muted" }, "No secondary indexes.");
  const uniques = t.unique.length ? h("p", {}, "Unique: ", t.unique.map((u, i) => [i ? "; " : "", h("code", {}, `(${u.join(", ")})`)])) : null;
  const rows = t.row_count === null ? (counts === "shown" ? "—" : "row count needs the operator scope") : `${t.row_count} row(s)`;
  const search = [domain.name, t.name, ...t.columns.map((c) => c.name)].join(" ").toLowerCase();
  return h(
    "article",
    { class: "table-card", id: `table-${t.name}`, "data-search": search, "data-table": t.name },
    h("h3", {}, t.name),
    h("p", { class: "muted" }, `Created by ${t.created_by} · primary key (${t.primary_key.join(", ")}) · ${rows}`),
    columns,
    h("h4", {}, "Foreign keys"),
    fks,
    h("h4", {}, "Indexes"),
    indexes,
    uniques,
  );
}

export async function render(root) {
  const schema = await api("/api/admin/schema");
  const total = schema.domains.reduce((n, d) => n + d.tables.length, 0);
  const filter = h("input", { id: "schema-filter", name: "filter", type: "search", placeholder: "table or column name", autocomplete: "off", spellcheck: "false" });
  const count = h("p", { id: "schema-count", role: "status", class: "muted" }, `Showing ${total} of ${total} tables in ${schema.domains.length} groups.`);
  const toc = h(
    "nav",
    { class: "toc", "aria-label": "Domains" },
    h("ul", {}, schema.domains.map((d) => h("li", {}, h("a", { href: `#domain-${d.name}` }, d.name, h("span", { class: "muted" }, ` (${d.tables.length})`))))),
  );
  const sections = schema.domains.map((d) => {
    const fkCount = d.tables.reduce((n, t) => n + t.foreign_keys.length, 0);
    return h(
      "section",
      { class: "domain", id: `domain-${d.name}`, "data-domain": d.name, "aria-labelledby": `domain-h-${d.name}` },
      h("h2", { id: `domain-h-${d.name}` }, d.name, d.schema_domain ? "" : h("span", { class: "muted" }, " (bookkeeping)")),
      h("p", { class: "muted" }, `${d.tables.length} table(s) · ${fkCount} foreign key(s)`),
      h("figure", { class: "diagram-wrap" }, diagram(d), h("figcaption", { class: "muted" }, `Tables and foreign keys of ${d.name}; arrows point at the referenced table.`)),
      d.tables.map((t) => tableBlock(d, t, schema.row_counts)),
    );
  });
  filter.addEventListener("input", () => {
    const needle = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const section of sections) {
      let visible = 0;
      for (const card of section.querySelectorAll("article.table-card")) {
        const match = !needle || card.dataset.search.includes(needle);
        card.hidden = !match;
        if (match) visible += 1;
      }
      section.hidden = visible === 0;
      const figure = section.querySelector("figure");
      if (figure) figure.hidden = Boolean(needle);
      shown += visible;
    }
    count.textContent = `Showing ${shown} of ${total} tables${needle ? ` matching “${filter.value.trim()}”` : ""}.`;
  });
  add(
    root,
    h("div", { class: "toolbar" }, h("label", { for: "schema-filter" }, "Filter tables and columns"), filter),
    count,
    schema.row_counts === "shown" ? null : h("p", { class: "muted" }, "Row counts span every tenant, so they are shown to admin tokens only."),
    toc,
    sections,
  );
}
