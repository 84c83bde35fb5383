// Usage: the tenant's limits and counters per scope and period, each drawn as a bar toward its
// limit, hard or soft (named queries usage.limits and usage.counters).
import { runQuery } from "../api.js";
import { add, h, s, table } from "../dom.js";

const BAR = 180;

function bar(amount, limit, enforcement) {
  if (limit === null || limit === undefined) return h("span", { class: "muted" }, "no limit");
  const ratio = limit > 0 ? amount / limit : amount > 0 ? 1 : 0;
  const over = amount > limit;
  const cls = `bar-fill ${enforcement === "soft" ? "soft" : "hard"}${over ? " over" : ""}`;
  const pct = limit > 0 ? Math.round((amount / limit) * 100) : over ? 100 : 0;
  const label = `${amount} of ${limit} (${pct}%), ${enforcement}${over ? ", over the limit" : ""}`;
  return h(
    "span",
    { class: "bar" },
    s("svg", { width: BAR, height: 14, viewBox: `0 0 ${BAR} 14`, role: "img", "aria-label": label }, s("rect", { x: 0, y: 0, width: BAR, height: 14, rx: 3, class: "bar-track" }), s("rect", { x: 0, y: 0, width: Math.round(Math.min(1, ratio) * BAR), height: 14, rx: 3, class: cls })),
    h("span", { class: "bar-label" }, label),
  );
}

export async function render(root) {
  const [limits, counters] = await Promise.all([runQuery("usage.limits"), runQuery("usage.counters")]);
  const newest = new Map();
  for (const c of counters.result) {
    const known = newest.get(c.metric_key);
    if (!known || c.period_start > known.period_start) newest.set(c.metric_key, c);
  }
  const limitRows = limits.result.map((l) => {
    const c = newest.get(l.metric_key);
    const used = c && c.limit && c.limit.id === l.id ? c.amount : 0;
    return [h("code", {}, l.metric_key), `${l.scope_kind}:${l.scope_id || "(all)"}`, l.period_kind, String(l.limit_value), h("span", { class: `tag ${l.enforcement}` }, l.enforcement), bar(used, l.limit_value, l.enforcement)];
  });
  const counterRows = counters.result.map((c) => [
    h("code", {}, c.metric_key),
    `${c.scope_kind}:${c.scope_id || "(all)"}`,
    c.period_start || "(no window)",
    String(c.amount),
    c.limit ? `${c.limit.limit_value} ${c.limit.period_kind} (${c.limit.scope_kind}:${c.limit.scope_id || "(all)"})` : "—",
    bar(c.amount, c.limit ? c.limit.limit_value : null, c.limit ? c.limit.enforcement : "hard"),
  ]);
  add(
    root,
    h(
      "section",
      { class: "card", "aria-labelledby": "limits-h" },
      h("h2", { id: "limits-h" }, "Limits"),
      limitRows.length ? table(null, ["Metric", "Scope", "Period", "Limit", "Enforcement", "Current window"], limitRows, "grid usage") : h("p", { class: "muted" }, "No limits are set for this tenant."),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "counters-h" },
      h("h2", { id: "counters-h" }, "Counters"),
      counterRows.length ? table(null, ["Metric", "Scope", "Period start", "Used", "Governing limit", "Toward the limit"], counterRows, "grid usage") : h("p", { class: "muted" }, "Nothing has been counted yet."),
    ),
  );
}
