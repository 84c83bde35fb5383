// A per-domain diagram drawn as SVG from the schema API (which describes the models in domains/):
// one box per table (key columns marked), one arrow per foreign key from the referencing column to
// the referenced table, labelled with its ON DELETE action. Tables of other domains are dashed boxes.
// Layout: referenced tables to the left, referencing tables to the right (layered by FK depth).
import { s } from "./dom.js";

const W = 236;
const HEADER = 24;
const ROW = 16;
const PAD = 6;
const GAP_X = 150;
const MAX_H = 620;
const GAP_Y = 22;
const MARGIN = 12;
const MAX_ROWS = 14;

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function shortType(type) {
  return clip(String(type).replace(/\(.*\)/, "").toUpperCase(), 10);
}

export function diagram(domain) {
  const tables = domain.tables;
  const byName = new Map(tables.map((t) => [t.name, t]));
  const external = new Map();
  for (const t of tables) {
    for (const fk of t.foreign_keys) {
      if (!byName.has(fk.ref_table)) external.set(fk.ref_table, fk.ref_domain || "another domain");
    }
  }
  // layers: referenced tables left of the tables that reference them
  const level = new Map();
  for (const name of external.keys()) level.set(name, 0);
  const visiting = new Set();
  const depth = (name) => {
    if (level.has(name)) return level.get(name);
    if (visiting.has(name)) return 0;
    visiting.add(name);
    let d = external.size ? 1 : 0;
    for (const fk of byName.get(name).foreign_keys) {
      if (fk.ref_table === name) continue;
      d = Math.max(d, depth(fk.ref_table) + 1);
    }
    visiting.delete(name);
    level.set(name, d);
    return d;
  };
  for (const t of tables) depth(t.name);
  // a table of another domain sits just left of the first table that references it
  for (const name of external.keys()) {
    const users = tables.filter((t) => t.foreign_keys.some((fk) => fk.ref_table === name)).map((t) => level.get(t.name));
    level.set(name, Math.max(0, Math.min(...users) - 1));
  }
  const layers = [];
  for (const [name, d] of level) (layers[d] ??= []).push(name);

  // place layer by layer; a layer taller than MAX_H wraps into further sub-columns; within a layer,
  // tables sit near the tables they reference (barycentre of their targets) to keep arrows short
  const boxes = new Map();
  let width = 0;
  let height = 0;
  let col = 0;
  for (const names of layers) {
    if (!names || !names.length) continue;
    const centre = (name) => {
      const t = byName.get(name);
      const ys = t ? t.foreign_keys.map((fk) => boxes.get(fk.ref_table)).filter(Boolean).map((b) => b.y) : [];
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : Number.POSITIVE_INFINITY;
    };
    const order = names.map((name, i) => ({ name, i, c: centre(name) }));
    order.sort((a, b) => a.c - b.c || a.i - b.i);
    let y = MARGIN;
    for (const { name } of order) {
      const t = byName.get(name);
      const rows = t ? t.columns.slice(0, MAX_ROWS) : [];
      const more = t ? t.columns.length - rows.length : 0;
      const h = HEADER + (rows.length + (more > 0 ? 1 : 0)) * ROW + (t ? PAD : 0);
      if (y > MARGIN && y + h > MAX_H) {
        col += 1;
        y = MARGIN;
      }
      const x = MARGIN + col * (W + GAP_X);
      boxes.set(name, { name, t, x, y, h, rows, more, col });
      y += h + GAP_Y;
      width = Math.max(width, x + W + MARGIN);
      height = Math.max(height, y - GAP_Y + MARGIN);
    }
    col += 1;
  }
  // room on the right for arrows that loop back into their own column
  width += 60;

  const id = `dg-${domain.name}`;
  const fkCount = tables.reduce((n, t) => n + t.foreign_keys.length, 0);
  const desc = tables
    .flatMap((t) => t.foreign_keys.map((fk) => `${t.name}(${fk.columns.join(", ")}) references ${fk.ref_table}(${fk.ref_columns.join(", ")})${fk.ondelete ? ` on delete ${fk.ondelete}` : ""}`))
    .join("; ");
  const svg = s("svg", {
    class: "diagram",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-labelledby": `${id}-title ${id}-desc`,
    "data-domain": domain.name,
  });
  svg.append(
    s("title", { id: `${id}-title` }, `Diagram of ${domain.name}: ${tables.length} tables, ${fkCount} foreign keys`),
    s("desc", { id: `${id}-desc` }, desc || "No foreign keys."),
    s("defs", {}, s("marker", { id: `${id}-arrow`, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }))),
  );

  const edges = s("g", { class: "edges" });
  const nodes = s("g", { class: "nodes" });
  for (const box of boxes.values()) {
    const g = s("g", { class: box.t ? "table-box" : "table-box external", "data-table": box.name });
    g.append(s("rect", { x: box.x, y: box.y, width: W, height: box.h, rx: 4, class: "box" }));
    g.append(s("rect", { x: box.x, y: box.y, width: W, height: HEADER, rx: 4, class: "box-header" }));
    const label = box.t ? box.name : `${box.name} (${external.get(box.name)})`;
    g.append(s("text", { x: box.x + 8, y: box.y + 16, class: "box-title" }, clip(label, 30)));
    const fkCols = new Set(box.t ? box.t.foreign_keys.flatMap((fk) => fk.columns) : []);
    box.rows.forEach((c, i) => {
      const y = box.y + HEADER + (i + 1) * ROW - 3;
      const mark = `${c.primary_key ? "PK " : ""}${fkCols.has(c.name) ? "FK " : ""}`;
      g.append(s("text", { x: box.x + 8, y, class: c.primary_key ? "col pk" : fkCols.has(c.name) ? "col fk" : "col" }, clip(`${mark}${c.name}`, 22)));
      g.append(s("text", { x: box.x + W - 8, y, class: "col-type", "text-anchor": "end" }, shortType(c.type)));
    });
    if (box.more > 0) {
      g.append(s("text", { x: box.x + 8, y: box.y + HEADER + (box.rows.length + 1) * ROW - 3, class: "col more" }, `… ${box.more} more column(s)`));
    }
    nodes.append(g);
  }
  for (const box of boxes.values()) {
    if (!box.t) continue;
    for (const fk of box.t.foreign_keys) {
      const target = boxes.get(fk.ref_table);
      if (!target) continue;
      const rowIndex = Math.max(0, box.rows.findIndex((c) => c.name === fk.columns[0]));
      const sy = box.y + HEADER + rowIndex * ROW + ROW / 2;
      const ty = target.y + HEADER / 2;
      let path;
      let lx;
      let anchor = "start";
      if (target === box || target.col === box.col) {
        const sx = box.x + W;
        const tx = target.x + W;
        const bulge = 40 + Math.min(40, Math.abs(sy - ty) / 4);
        path = `M${sx},${sy} C${sx + bulge},${sy} ${tx + bulge},${ty} ${tx},${ty}`;
        lx = sx + 4;
      } else if (target.col < box.col) {
        const sx = box.x;
        const tx = target.x + W;
        const dx = (sx - tx) / 2;
        path = `M${sx},${sy} C${sx - dx},${sy} ${tx + dx},${ty} ${tx},${ty}`;
        lx = sx - 4;
        anchor = "end";
      } else {
        const sx = box.x + W;
        const tx = target.x;
        const dx = (tx - sx) / 2;
        path = `M${sx},${sy} C${sx + dx},${sy} ${tx - dx},${ty} ${tx},${ty}`;
        lx = sx + 4;
      }
      const ly = sy - 3;
      const edge = s("g", { class: "fk", "data-from": box.name, "data-to": fk.ref_table });
      edge.append(s("path", { d: path, class: "fk-line", "marker-end": `url(#${id}-arrow)` }));
      edge.append(s("text", { x: lx, y: ly, class: "fk-label", "text-anchor": anchor }, fk.ondelete ? `ON DELETE ${fk.ondelete}` : "NO ACTION"));
      edges.append(edge);
    }
  }
  svg.append(nodes, edges);
  return svg;
}
