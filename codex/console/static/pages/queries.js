// Named queries: pick one, fill its parameters, run it; see the result, its digest, projection
// version and cursor (GET /api/codex/query/{name}, the same call any client makes).
import { api, runQuery } from "../api.js";
import { add, dl, field, h, jsonBlock, showError } from "../dom.js";

export async function render(root) {
  const registry = await api("/api/admin/registry");
  const select = h("select", { name: "query" }, registry.queries.map((q) => h("option", { value: q.name }, q.name)));
  const summary = h("p", { id: "query-summary", class: "muted" });
  const params = h("fieldset", { id: "query-params" });
  const run = h("button", { type: "submit", id: "run-query" }, "Run query");
  const form = h("form", { id: "query-form", class: "card", novalidate: true }, field("query-name", "Query", select), summary, params, run);
  const errors = h("div", { id: "query-errors" });
  const output = h("div", { id: "query-output", "aria-live": "polite" });

  const byName = new Map(registry.queries.map((q) => [q.name, q]));
  const draw = () => {
    const q = byName.get(select.value);
    summary.textContent = q ? `${q.summary} (scope: ${q.scope})` : "";
    params.replaceChildren(h("legend", {}, "Parameters"));
    if (!q || !q.params.length) {
      params.append(h("p", { class: "muted" }, "This query takes no parameters."));
      return;
    }
    for (const p of q.params) {
      const input = h("input", {
        type: "text",
        name: p.name,
        autocomplete: "off",
        spellcheck: "false",
        placeholder: p.default === null || p.default === undefined ? "" : String(p.default),
        "data-param": p.name,
        required: p.required,
      });
      params.append(field(`param-${p.name}`, `${p.name} (${p.type}${p.required ? ", required" : ""})`, input));
    }
  };
  select.addEventListener("change", () => {
    errors.replaceChildren();
    output.replaceChildren();
    draw();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    const values = {};
    for (const input of params.querySelectorAll("input[data-param]")) {
      if (input.value.trim() !== "") values[input.dataset.param] = input.value.trim();
    }
    run.disabled = true;
    try {
      const res = await runQuery(select.value, values);
      output.replaceChildren(
        h("h2", {}, `Result of ${res.query_name}`),
        dl([
          ["Digest", h("code", { class: "digest", id: "result-digest" }, res.digest)],
          ["Projection version", h("span", { id: "result-version" }, String(res.version))],
          ["Cursor (change-log id)", h("span", { id: "result-cursor" }, String(res.cursor))],
          ["Rows", Array.isArray(res.result) ? String(res.result.length) : "—"],
        ]),
        jsonBlock(res.result, "Query result as JSON"),
      );
    } catch (err) {
      output.replaceChildren();
      showError(errors, err);
    } finally {
      run.disabled = false;
    }
  });
  draw();
  add(root, form, errors, output);
}
