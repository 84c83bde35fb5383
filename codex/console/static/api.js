// Calls to Codex's public JSON API. The session cookie travels by itself (same origin); state-changing
// requests carry the page's CSRF token in X-CSRF-Token. A 401 sends the browser back to the login form.

export class ApiFailure extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.name = "ApiFailure";
    this.status = status;
    this.body = body;
  }
}

function describe(status, body) {
  if (!body || typeof body !== "object") {
    return status ? `The server answered HTTP ${status}.` : "The server did not answer.";
  }
  let text = body.message || body.error || `HTTP ${status}`;
  if (Array.isArray(body.fields) && body.fields.length) {
    const parts = body.fields.map((f) => {
      const where = (f.loc || []).filter((p) => p !== "body" && p !== "query").join(".");
      return where ? `${where}: ${f.message}` : f.message;
    });
    text += ` (${parts.join("; ")})`;
  } else if (body.field && !String(text).includes(body.field)) {
    text += ` (field: ${body.field})`;
  }
  return status ? `${text} [HTTP ${status}]` : text;
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="codex-csrf"]');
  return meta ? meta.getAttribute("content") : "";
}

/**
 * Call the API. Returns the parsed JSON body; throws ApiFailure on an error status (except those
 * listed in `allow`, whose bodies are returned too).
 */
export async function api(path, { method = "GET", params, body, allow = [] } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null && String(value) !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiFailure(0, { message: "The server did not answer (network error)." });
  }
  let data = null;
  if ((response.headers.get("content-type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.status === 401) {
    window.location.assign("/console/login");
    throw new ApiFailure(401, data);
  }
  if (!response.ok && !allow.includes(response.status)) throw new ApiFailure(response.status, data);
  return data;
}

/** Run a named query: GET /api/codex/query/{name}. */
export function runQuery(name, params) {
  return api(`/api/codex/query/${encodeURIComponent(name)}`, { params });
}
