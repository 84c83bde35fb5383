// Overview: readiness exactly as /ready reports it, the drift behind it, the applied-revision ledger,
// the database mode and, for an embedded replica, its lag and a "Sync now" action (admin).
import { api } from "../api.js";
import { add, dl, h, notice, shortDigest, showError, table } from "../dom.js";

function list(title, items) {
  if (!items || !items.length) return null;
  return h("div", { class: "drift-group" }, h("h3", {}, `${title} (${items.length})`), h("ul", {}, items.map((i) => h("li", {}, h("code", {}, i)))));
}

function driftSection(drift) {
  const parts = [
    list("Missing tables", drift.missing_tables),
    list("Extra tables", drift.extra_tables),
    list("Missing indexes", drift.missing_indexes),
    list("Extra indexes", drift.extra_indexes),
    list("Changed indexes", drift.changed_indexes),
    list("Other objects", drift.other),
  ];
  for (const t of drift.tables) {
    const rows = [
      ...t.missing_columns.map((c) => [h("code", {}, c), "missing", "expected at head", "—"]),
      ...t.extra_columns.map((c) => [h("code", {}, c), "extra", "—", "present in the database"]),
      ...t.changed_columns.map((c) => [h("code", {}, c.column), "changed", c.expected, c.live]),
      ...t.missing_constraints.map((c) => [h("code", {}, "(constraint)"), "missing", c, "—"]),
      ...t.extra_constraints.map((c) => [h("code", {}, "(constraint)"), "extra", "—", c]),
    ];
    parts.push(
      h(
        "div",
        { class: "drift-group" },
        h("h3", {}, `Table ${t.table} differs`),
        rows.length
          ? table(null, ["Column", "Difference", "At head", "In the database"], rows)
          : h("p", { class: "muted" }, "Same columns and constraints; the table definition differs in another way."),
      ),
    );
  }
  const shown = parts.filter(Boolean);
  return h("section", { class: "card drift", "aria-labelledby": "drift-h" }, h("h2", { id: "drift-h" }, "Drift from head"), shown.length ? shown : h("p", {}, "No object differs; see the problems above."));
}

function readinessSection(ready) {
  const ok = ready.status === "ready";
  const facts = [
    ["Status", h("span", { class: ok ? "badge ok" : "badge bad" }, ok ? "ready" : "not ready")],
    ["Schema version", `${ready.schema_version ?? "?"} (head expects ${ready.expected_schema_version ?? "?"})`],
    ["Alembic revision", `${ready.revision ?? "none"} (head ${ready.head_revision ?? "?"})`],
    ["Baseline digest", h("code", { class: "digest" }, ready.baseline_digest ?? "—")],
    ["Live digest", h("code", { class: "digest" }, ready.live_digest ?? "—")],
    ["Expected digest", h("code", { class: "digest" }, ready.expected_digest ?? "—")],
  ];
  const problems = ready.problems && ready.problems.length ? h("ul", { class: "problems" }, ready.problems.map((p) => h("li", {}, p))) : null;
  const failure = ready.message && !ok ? notice(ready.message) : null;
  return h("section", { class: "card", "aria-labelledby": "ready-h" }, h("h2", { id: "ready-h" }, "Readiness (/ready)"), dl(facts), failure, problems);
}

function replicaFacts(replica) {
  return dl([
    ["Replica head", replica.local_head ?? "—"],
    ["Primary head", replica.primary_head ?? "unreachable"],
    ["Lag", replica.lag_changes === null ? "unknown" : `${replica.lag_changes} change(s) behind`],
    ["Last sync by this server", replica.last_sync_at ? `${replica.last_sync_at} UTC (${replica.seconds_since_sync}s ago)` : "not since start"],
  ]);
}

function databaseSection(overview, ctx) {
  const db = overview.database;
  const hidden = db.url === null && db.path === null && db.mode !== "memory";
  const where = hidden ? "shown to admin tokens only" : db.mode === "remote" ? db.url : db.mode === "replica" ? `${db.path} ⇐ ${db.url}` : db.path ?? "(memory)";
  const body = [dl([["Mode", h("strong", { id: "db-mode" }, db.mode)], ["Location", h("code", {}, where ?? "—")], ["Configured by", db.source], ["Token", db.token === "set" ? "set (never shown)" : "none"]])];
  if (db.mode === "replica") {
    const facts = h("div", { id: "replica-facts" }, replicaFacts(overview.replica));
    const result = h("div", { class: "result", "aria-live": "polite" });
    body.push(h("h3", {}, "Embedded replica"), facts);
    if (overview.replica.error) body.push(notice(overview.replica.error));
    if (ctx.can("admin")) {
      const button = h("button", { type: "button", id: "sync-now" }, "Sync now");
      button.addEventListener("click", async () => {
        button.disabled = true;
        result.replaceChildren(notice("Syncing…", "info"));
        try {
          const out = await api("/api/admin/replica/sync", { method: "POST" });
          facts.replaceChildren(replicaFacts(out.replica));
          result.replaceChildren(notice(`Synced. Lag now ${out.replica.lag_changes ?? "unknown"}.`, "info"));
        } catch (err) {
          showError(result, err);
        } finally {
          button.disabled = false;
        }
      });
      body.push(button, result);
    } else {
      body.push(h("p", { class: "muted" }, "Syncing the replica needs the admin scope."));
    }
  } else {
    body.push(h("p", { class: "muted" }, "Not an embedded replica: there is nothing to sync."));
  }
  return h("section", { class: "card", "aria-labelledby": "db-h" }, h("h2", { id: "db-h" }, "Database"), body);
}

function ledgerSection(ledger) {
  const rows = ledger.map((r) => [
    h("code", {}, r.revision),
    r.direction,
    `${r.from_revision ?? "∅"} → ${r.to_revision ?? "∅"}`,
    `${r.started_at} UTC`,
    `${r.duration_ms} ms`,
    shortDigest(r.digest_before),
    shortDigest(r.digest_after),
    r.error_text ? h("span", { class: "bad-text" }, r.error_text) : "—",
  ]);
  return h(
    "section",
    { class: "card", "aria-labelledby": "ledger-h" },
    h("h2", { id: "ledger-h" }, "Applied revisions"),
    rows.length
      ? table(null, ["Revision", "Direction", "From → to", "When", "Duration", "Digest before", "Digest after", "Error"], rows)
      : h("p", { class: "muted" }, "The ledger is empty."),
  );
}

export async function render(root, ctx) {
  // one after the other: the first readiness check of a fresh server builds the expected schema once
  const ready = await api("/ready", { allow: [503] });
  const overview = await api("/api/admin/overview");
  add(root, readinessSection(ready));
  if (ready.status !== "ready" || !overview.ok) add(root, driftSection(overview.drift));
  add(root, databaseSection(overview, ctx), ledgerSection(overview.ledger));
}
