// Live change log: the tenant's changes on a topic pattern, streamed over SSE as they commit.
// The page opens with the last few matching changes (GET /api/admin/changes/tail gives the cursor),
// pauses by closing the stream and resumes after the last id it showed, and after a dropped
// connection the browser reconnects with Last-Event-ID: the page says so and counts duplicates (0).
import { api } from "../api.js";
import { add, h, notice, preview, showError } from "../dom.js";

const MAX_ROWS = 500;

function encodePattern(pattern) {
  return pattern.split("/").map(encodeURIComponent).join("/");
}

export async function render(root) {
  const input = h("input", { id: "pattern", name: "pattern", type: "text", placeholder: "* (every topic)", autocomplete: "off", spellcheck: "false", "aria-describedby": "pattern-help" });
  const watch = h("button", { type: "submit", id: "watch" }, "Watch");
  const pause = h("button", { type: "button", id: "pause", "aria-pressed": "false" }, "Pause");
  const form = h(
    "form",
    { class: "toolbar", id: "live-form", novalidate: true },
    h("label", { for: "pattern" }, "Topic pattern"),
    input,
    watch,
    pause,
  );
  const help = h("p", { id: "pattern-help", class: "muted" }, "Empty means every topic of your tenant (*). Forms: notes/7, notes/* (prefix), conversations/+ (one segment).");
  const errors = h("div", { id: "live-errors" });
  const status = h("p", { id: "stream-status", class: "status", role: "status" }, "Connecting…");
  const stats = h("p", { id: "stream-stats", class: "muted" });
  const body = h("tbody", { id: "events" });
  const grid = h(
    "table",
    { class: "grid events" },
    h("caption", {}, "Changes, newest first"),
    h("thead", {}, h("tr", {}, ["Id", "Topic", "Kind", "Entity", "Payload", "Time (UTC)"].map((name) => h("th", { scope: "col" }, name)))),
    body,
  );
  add(root, form, help, errors, status, stats, grid);

  let source = null;
  let pattern = "*";
  let lastId = 0;
  let received = 0;
  let duplicates = 0;
  let reconnects = 0;
  let dropped = false;
  let paused = false;

  const showStats = () => {
    stats.textContent = `Received ${received} · last id #${lastId} · reconnects ${reconnects} · duplicates ignored ${duplicates}`;
  };
  const setStatus = (text, kind = "") => {
    status.textContent = text;
    status.className = `status ${kind}`;
  };
  const trim = () => {
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  };
  const marker = (text, cls = "marker") => {
    body.prepend(h("tr", { class: cls }, h("td", { colspan: "6" }, text)));
    trim();
  };
  const addRow = (change) => {
    const entity = change.entity_kind || change.entity_id ? `${change.entity_kind ?? ""}${change.entity_id ? `:${change.entity_id}` : ""}` : "—";
    body.prepend(
      h(
        "tr",
        { "data-id": change.id, class: "event" },
        h("td", {}, `#${change.id}`),
        h("td", {}, h("code", {}, change.topic)),
        h("td", {}, change.change_kind),
        h("td", {}, entity),
        h("td", { class: "payload" }, preview(change.payload)),
        h("td", { class: "time" }, change.created_at),
      ),
    );
    trim();
  };
  const close = () => {
    if (source) source.close();
    source = null;
  };
  const open = (after) => {
    close();
    const es = new EventSource(`/api/codex/subscribe/${encodePattern(pattern)}?after_id=${after}`);
    source = es;
    setStatus(`Connecting to ${pattern}…`);
    es.addEventListener("open", () => {
      if (dropped) {
        reconnects += 1;
        marker(`Reconnected: resumed after #${lastId} (no gap, no duplicate)`);
        dropped = false;
      }
      setStatus(`Live: streaming ${pattern}`, "ok");
      showStats();
    });
    es.addEventListener("message", (ev) => {
      let change;
      try {
        change = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (change.id <= lastId) {
        duplicates += 1;
      } else {
        lastId = change.id;
        received += 1;
        addRow(change);
      }
      showStats();
    });
    es.addEventListener("reset", (ev) => {
      let cursor = "?";
      try {
        cursor = JSON.parse(ev.data).cursor;
      } catch {
        /* keep "?" */
      }
      marker(`The server reset the stream: resuming from #${cursor} by reading the log`);
    });
    es.addEventListener("error", () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        setStatus("The stream was refused (session ended or scope missing). Reload the page or log in again.", "bad");
        close();
      } else {
        dropped = true;
        setStatus(`Connection lost: reconnecting, will resume after #${lastId}…`, "warn");
      }
    });
  };
  const start = async () => {
    close();
    errors.replaceChildren();
    const wanted = input.value.trim() || "*";
    let tail;
    try {
      tail = await api("/api/admin/changes/tail", { params: { topic: wanted, limit: 20 } });
    } catch (err) {
      showError(errors, err);
      setStatus(source ? status.textContent : "Not streaming: fix the pattern and press Watch.", "bad");
      return;
    }
    pattern = tail.topic;
    body.replaceChildren();
    lastId = tail.after_id;
    received = 0;
    duplicates = 0;
    reconnects = 0;
    dropped = false;
    paused = false;
    pause.textContent = "Pause";
    pause.setAttribute("aria-pressed", "false");
    marker(tail.replayed ? `Showing the last ${tail.replayed} matching change(s), then live` : "No earlier changes match; waiting for new ones", "marker muted");
    open(lastId);
    showStats();
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    start();
  });
  pause.addEventListener("click", () => {
    if (!paused) {
      paused = true;
      close();
      pause.textContent = "Resume";
      pause.setAttribute("aria-pressed", "true");
      setStatus(`Paused after #${lastId}: nothing is lost, resume continues from there.`, "warn");
    } else {
      paused = false;
      pause.textContent = "Pause";
      pause.setAttribute("aria-pressed", "false");
      marker(`Resumed after #${lastId}`);
      open(lastId);
    }
  });
  window.addEventListener("pagehide", close);
  if (!window.EventSource) {
    errors.append(notice("This browser has no EventSource: the live log needs it."));
    return;
  }
  await start();
}
