// The one way the page builds elements. Nothing here parses markup: children that are strings or
// numbers become text nodes, so an id, a fw string or a metric name from a device is shown as it is
// and can never become an element or a script. No script of the page parses markup from a string
// (a test holds every one of them to that).

// h("span", { class: "warn", title: "…", dataset: { seen: 1 } }, "dropped ", n) → <span …>dropped 3</span>
// Attribute names come from the page's code, never from data. null, undefined and false children are
// left out, so an optional part reads `x != null && h(…)` or `x ? h(…) : null` (not `x && h(…)`,
// which would show a 0 or an empty string as text).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") for (const [key, v] of Object.entries(value)) node.dataset[key] = String(v);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c != null && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

// A copy of one of index.html's <template>s: the page's fixed markup lives there, not in strings.
export function fromTemplate(id) {
  return document.getElementById(id).content.cloneNode(true);
}
