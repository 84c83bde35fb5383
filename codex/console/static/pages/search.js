// Search: a query box, the mode (fts, vector, hybrid) and k; hits with their snippet and the rank
// each leg gave them (GET /api/search, scoped to the tenant's documents).
import { api } from "../api.js";
import { add, field, h, showError } from "../dom.js";

function snippet(text) {
  // the search marks matches with [ ]: draw them as <mark>, everything else as text
  const out = [];
  let rest = String(text);
  while (rest.length) {
    const open = rest.indexOf("[");
    const close = open >= 0 ? rest.indexOf("]", open + 1) : -1;
    if (open < 0 || close < 0) {
      out.push(rest);
      break;
    }
    if (open > 0) out.push(rest.slice(0, open));
    out.push(h("mark", {}, rest.slice(open + 1, close)));
    rest = rest.slice(close + 1);
  }
  return out;
}

export async function render(root) {
  const q = h("input", { type: "search", name: "q", autocomplete: "off", spellcheck: "false", required: true });
  const mode = h("select", { name: "mode" }, ["hybrid", "fts", "vector"].map((m) => h("option", { value: m }, m)));
  const k = h("input", { type: "number", name: "k", value: "10", min: "1", max: "100", inputmode: "numeric" });
  const go = h("button", { type: "submit", id: "run-search" }, "Search");
  const form = h("form", { id: "search-form", class: "card toolbar", role: "search", novalidate: true }, field("search-q", "Query", q), field("search-mode", "Mode", mode), field("search-k", "Results (k)", k), go);
  const errors = h("div", { id: "search-errors" });
  const output = h("div", { id: "search-output", "aria-live": "polite" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    if (!q.value.trim()) {
      output.replaceChildren();
      showError(errors, new Error("Enter something to search for."));
      return;
    }
    go.disabled = true;
    try {
      const res = await api("/api/search", { params: { q: q.value, mode: mode.value, k: k.value.trim() } });
      output.replaceChildren(
        h("p", { id: "search-count", class: "muted" }, `${res.hits.length} hit(s) for “${res.query}” (${res.mode}, k=${res.k})`),
        h(
          "ol",
          { class: "hits" },
          res.hits.map((hit) =>
            h(
              "li",
              { class: "hit" },
              h("h3", {}, hit.title || hit.source_uri),
              h("p", { class: "muted" }, h("code", {}, hit.source_uri), ` · chunk ${hit.chunk_index} · ${hit.mime_type}`),
              h("p", { class: "snippet" }, snippet(hit.snippet)),
              h(
                "p",
                { class: "ranks" },
                `score ${hit.score.toFixed(4)} · found by ${hit.source} · FTS rank ${hit.fts_rank ?? "—"} · vector rank ${hit.vector_rank ?? "—"}`,
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      output.replaceChildren();
      showError(errors, err);
    } finally {
      go.disabled = false;
    }
  });
  add(root, form, errors, output);
}
