// The console's entry module: loads the page module named by <body data-page> and renders it.
import { showError } from "./dom.js";

const PAGES = new Set(["overview", "schema", "live", "queries", "search", "usage", "runs"]);

function context() {
  const scopes = new Set((document.body.dataset.scopes || "").split(/\s+/).filter(Boolean));
  return {
    tenant: document.body.dataset.tenant || "",
    scopes,
    can: (scope) => scopes.has(scope) || scopes.has("operator") || (scope !== "operator" && scopes.has("admin")),
  };
}

async function main() {
  const root = document.getElementById("page");
  const page = document.body.dataset.page;
  if (!root || !PAGES.has(page)) return;
  try {
    const module = await import(`./pages/${page}.js`);
    root.replaceChildren();
    await module.render(root, context());
    root.setAttribute("data-ready", "true");
  } catch (err) {
    showError(root, err);
    root.setAttribute("data-ready", "error");
  }
}

main();
