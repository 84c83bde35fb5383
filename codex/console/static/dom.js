// DOM helpers: every text goes in through textContent / text nodes, never through innerHTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function put(el, attrs) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "style" || key.startsWith("on")) {
      throw new Error(`refusing the inline attribute ${key}`); // the CSP forbids them anyway
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function fill(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: h("p", {class: "muted"}, "text", otherNode). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  put(el, attrs);
  fill(el, children);
  return el;
}

/** An SVG element (same calling convention as h). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  put(el, attrs);
  fill(el, children);
  return el;
}

/** A definition list from [term, value] pairs. */
export function dl(pairs, cls = "facts") {
  return h("dl", { class: cls }, pairs.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

/** A table: headers and rows of cells (strings or nodes). */
export function table(caption, headers, rows, cls = "grid") {
  return h(
    "table",
    { class: cls },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
  );
}

/** A message box: role=alert for errors, role=status otherwise. */
export function notice(text, kind = "error") {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Show an error (an ApiFailure or any Error) in a slot, replacing what was there. */
export function showError(slot, err) {
  slot.replaceChildren(notice(err && err.message ? err.message : String(err)));
}

/** A short, single-line JSON preview. */
export function preview(value, max = 120) {
  if (value === undefined) return "";
  let text;
  try {
    text = typeof value === "string" ? value : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined || text === null) return "null";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Pretty JSON in a <pre>. */
export function jsonBlock(value, label) {
  return h("pre", { class: "json", tabindex: "0", "aria-label": label ?? "JSON" }, JSON.stringify(value, null, 2));
}

/** A digest shortened for tables (the full value stays in the title). */
export function shortDigest(digest) {
  if (!digest) return "—";
  return h("code", { title: digest }, digest.length > 18 ? `${digest.slice(0, 10)}…${digest.slice(-6)}` : digest);
}

/** A labelled form control: returns [label, control]. */
export function field(id, labelText, control) {
  control.setAttribute("id", id);
  if (!control.getAttribute("name")) control.setAttribute("name", id);
  return h("div", { class: "field" }, h("label", { for: id }, labelText), control);
}

/** Append children to a parent (arrays flattened; null, undefined and false skipped). */
export function add(parent, ...children) {
  fill(parent, children);
  return parent;
}
