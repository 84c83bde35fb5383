// Processing runs with their steps (GET /api/admin/runs) and the audit log (named query audit.log),
// each filterable within the tenant's scope and by a time window (UTC).
import { api, runQuery } from "../api.js";
import { add, field, h, preview, showError, table } from "../dom.js";

const STATUSES = ["", "queued", "running", "succeeded", "failed", "cancelled"];
const TIME = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$/;

function text(name, placeholder = "") {
  return h("input", { type: "text", name, placeholder, autocomplete: "off", spellcheck: "false" });
}

function timeValue(input, label) {
  const value = input.value.trim();
  if (!value) return undefined;
  if (!TIME.test(value)) throw new Error(`${label} must look like 2026-01-31 or 2026-01-31 14:30 (UTC); got “${value}”.`);
  const [day, clock = "00:00"] = value.split(/[ T]/);
  return `${day} ${clock.length === 5 ? `${clock}:00` : clock}`;
}

function stepsOf(run) {
  if (!run.steps.length) return h("span", { class: "muted" }, "no steps");
  return h(
    "details",
    {},
    h("summary", {}, `${run.steps.length} step(s)`),
    h("ol", { class: "steps" }, run.steps.map((st) => h("li", {}, h("strong", {}, st.step_name), ` · ${st.status}`, st.detail === null || st.detail === undefined ? "" : ` · ${preview(st.detail, 80)}`))),
  );
}

export async function render(root, ctx) {
  const scopeNote = h("p", { class: "muted" }, `Scope: tenant ${ctx.tenant}. Times are UTC, e.g. 2026-01-31 or 2026-01-31 14:30.`);

  const status = h("select", { name: "status" }, STATUSES.map((st) => h("option", { value: st }, st || "any")));
  const kind = text("run_kind", "any kind");
  const since = text("since", "YYYY-MM-DD HH:MM");
  const until = text("until", "YYYY-MM-DD HH:MM");
  const runsForm = h("form", { id: "runs-form", class: "card toolbar", novalidate: true }, field("runs-status", "Status", status), field("runs-kind", "Run kind", kind), field("runs-since", "Since", since), field("runs-until", "Until", until), h("button", { type: "submit" }, "Filter runs"));
  const runsErrors = h("div", { id: "runs-errors" });
  const runsOut = h("div", { id: "runs-output", "aria-live": "polite" });

  const resKind = text("resource_kind", "any");
  const resId = text("resource_id", "any");
  const aSince = text("since", "YYYY-MM-DD HH:MM");
  const aUntil = text("until", "YYYY-MM-DD HH:MM");
  const auditForm = h("form", { id: "audit-form", class: "card toolbar", novalidate: true }, field("audit-kind", "Resource kind", resKind), field("audit-id", "Resource id", resId), field("audit-since", "Since", aSince), field("audit-until", "Until", aUntil), h("button", { type: "submit" }, "Filter audit log"));
  const auditErrors = h("div", { id: "audit-errors" });
  const auditOut = h("div", { id: "audit-output", "aria-live": "polite" });

  const loadRuns = async () => {
    runsErrors.replaceChildren();
    try {
      const res = await api("/api/admin/runs", { params: { status: status.value, run_kind: kind.value.trim(), since: since.value.trim(), until: until.value.trim() } });
      const rows = res.runs.map((r) => [
        `#${r.id}`,
        h("code", {}, r.run_kind),
        h("span", { class: `tag ${r.status}` }, r.status),
        r.created_at,
        r.completed_at ?? "—",
        r.error_text ? h("span", { class: "bad-text" }, r.error_text) : "—",
        stepsOf(r),
      ]);
      runsOut.replaceChildren(rows.length ? table(`${rows.length} run(s)`, ["Run", "Kind", "Status", "Created", "Completed", "Error", "Steps"], rows, "grid runs") : h("p", { class: "muted" }, "No runs match."));
    } catch (err) {
      runsOut.replaceChildren();
      showError(runsErrors, err);
    }
  };
  const loadAudit = async () => {
    auditErrors.replaceChildren();
    let params;
    try {
      params = { resource_kind: resKind.value.trim(), resource_id: resId.value.trim(), since: timeValue(aSince, "Since"), until: timeValue(aUntil, "Until") };
    } catch (err) {
      auditOut.replaceChildren();
      showError(auditErrors, err);
      return;
    }
    try {
      const res = await runQuery("audit.log", params);
      const rows = res.result.map((a) => [a.created_at, `${a.actor_kind}:${a.actor_id || "—"}`, h("code", {}, a.action), `${a.resource_kind || "—"}:${a.resource_id || "—"}`, h("span", { class: "payload" }, preview(a.payload))]);
      auditOut.replaceChildren(rows.length ? table(`${rows.length} entr${rows.length === 1 ? "y" : "ies"}`, ["Time", "Actor", "Action", "Resource", "Payload"], rows, "grid audit") : h("p", { class: "muted" }, "No audit entries match."));
    } catch (err) {
      auditOut.replaceChildren();
      showError(auditErrors, err);
    }
  };
  runsForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadRuns();
  });
  auditForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadAudit();
  });
  add(
    root,
    scopeNote,
    h("section", { "aria-labelledby": "runs-h" }, h("h2", { id: "runs-h" }, "Processing runs"), runsForm, runsErrors, runsOut),
    h("section", { "aria-labelledby": "audit-h" }, h("h2", { id: "audit-h" }, "Audit log"), auditForm, auditErrors, auditOut),
  );
  await Promise.all([loadRuns(), loadAudit()]);
}
