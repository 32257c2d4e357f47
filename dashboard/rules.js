// The alert rules page (#/alerts): the rules in words, and with an admin token a form to add one, a
// button to remove each and one to send each a test notification. The API checks every rule; the page
// shows its answer as it comes (a 422 names the field), as text.

import * as api from "./api.js";
import { fromTemplate, h } from "./dom.js";
import { duration } from "./format.js";

function selectorWords({ devices = [], tag = null, all = false } = {}) {
  if (all) return "all devices";
  if (tag) return `devices tagged ${tag[0]}=${tag[1]}`;
  if (devices.length) return `device${devices.length > 1 ? "s" : ""} ${devices.join(", ")}`;
  return "the ingest itself";
}

function conditionWords(c) {
  switch (c.kind) {
    case "threshold": {
      const [side, limit] = c.above != null ? ["above", c.above] : ["below", c.below];
      return `${c.metric} ${side} ${limit}${c.hysteresis ? ` (hysteresis ${c.hysteresis})` : ""}`;
    }
    case "rate": return `${c.metric} changing faster than ${c.per_s} per second`;
    case "no_readings": return `no readings for ${duration(c.after_s)}`;
    case "missing": return `more than ${c.over} readings missing`;
    case "board_loss": return c.outbox_growing ? "the board's outbox growing" : "the board dropping readings";
    case "offline": return "offline";
    case "ingest": return [
      c.spool_over_pct != null && `spool over ${c.spool_over_pct}% full`,
      c.writer_held && "a batch held unstored",
      c.dead_letters_over != null && `more than ${c.dead_letters_over} dead letters a minute`,
    ].filter(Boolean).join(" or ");
    default: return JSON.stringify(c);
  }
}

const listOf = (text) => text.split(/[\s,]+/).filter(Boolean);
const numberOf = (text) => (text.trim() === "" ? undefined : Number(text));

// The form as the API's rule JSON. Blank fields are left out, so that the API names what is missing.
function ruleFrom(form) {
  const f = form.elements;
  const kind = f.kind.value;
  const condition = { kind };
  for (const input of form.querySelectorAll(`[data-kinds~="${kind}"] [data-key]`)) {
    const value = input.type === "checkbox" ? input.checked : input.dataset.number != null ? numberOf(input.value) : input.value.trim() || undefined;
    if (value !== undefined) condition[input.dataset.key] = value;
  }
  if (kind === "threshold") {
    const limit = numberOf(f.limit.value);
    if (limit !== undefined) condition[f.side.value] = limit;
  }
  const target = f.target.value.trim();
  const selector = {
    all: { all: true },
    devices: { devices: listOf(target) },
    tag: { tag: [target.split("=")[0], target.split("=").slice(1).join("=")] },
    none: {},
  }[f.selector.value];
  return {
    name: f.name.value.trim(),
    selector,
    condition,
    for_s: f.for.value.trim() || 0,
    severity: f.severity.value,
    webhooks: listOf(f.webhooks.value),
  };
}

export class RulesView {
  constructor(root) {
    this.root = root;
    this.refused = false;
  }

  async mount() {
    const rules = await api.listRules();
    this.root.replaceChildren(fromTemplate("rules-tpl"));
    const form = this.root.querySelector("#rule-form");
    const showKind = () => form.querySelectorAll("[data-kinds]").forEach((part) => {
      part.hidden = !part.dataset.kinds.split(" ").includes(form.elements.kind.value);
    });
    form.elements.kind.addEventListener("change", showKind);
    const showTarget = () => {
      const choice = form.elements.selector.value;
      form.elements.target.hidden = choice === "all" || choice === "none";
      form.elements.target.placeholder = choice === "tag" ? "key=value" : "dev-1, dev-2";
    };
    form.elements.selector.addEventListener("change", showTarget);
    showKind();
    showTarget();
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.add(form);
    });
    this.render(rules);
  }

  unmount() {}

  render(rules) {
    const list = this.root.querySelector("#rules");
    if (!rules.length) {
      list.replaceChildren(h("li", { class: "muted" }, "No rules yet."));
      return;
    }
    list.replaceChildren(...rules.map((rule) => {
      const results = h("ul", { class: "test-results" });
      return h("li", { class: "rule", dataset: { rule: rule.name } },
        h("div", { class: "rule-head" },
          h("strong", { class: "rule-name" }, rule.name), " ",
          h("span", { class: `sev sev-${rule.severity}` }, rule.severity)),
        h("div", { class: "rule-what" },
          `${selectorWords(rule.selector)}: ${conditionWords(rule.condition)}`,
          rule.for_s ? ` for ${duration(rule.for_s)}` : ""),
        h("ul", { class: "webhooks muted" },
          rule.webhooks.length ? rule.webhooks.map((url) => h("li", {}, url)) : h("li", {}, "no webhooks (MQTT only)")),
        h("div", { class: "rule-actions" },
          h("button", { type: "button", class: "admin test" }, "Send test"),
          h("button", { type: "button", class: "admin danger remove" }, "Remove")),
        results);
    }));
    for (const item of list.querySelectorAll(".rule")) {
      const name = item.dataset.rule;
      item.querySelector(".test").addEventListener("click", () => this.test(name, item.querySelector(".test-results")));
      item.querySelector(".remove").addEventListener("click", () => this.remove(name));
    }
    if (this.refused) this.lock();
  }

  async reload() {
    this.render(await api.listRules());
  }

  async add(form) {
    const error = this.root.querySelector("#rule-error");
    error.hidden = true;
    try {
      await api.addRule(ruleFrom(form));
      form.reset();
      form.elements.kind.dispatchEvent(new Event("change"));
      form.elements.selector.dispatchEvent(new Event("change"));
      await this.reload();
    } catch (err) {
      this.refuse(err, error);
    }
  }

  async remove(name) {
    if (!window.confirm(`Remove the rule ${name}? Its pending and firing alerts end without a notification.`)) return;
    try {
      await api.removeRule(name);
      await this.reload();
    } catch (err) {
      this.refuse(err, this.root.querySelector("#rules-error"));
    }
  }

  async test(name, results) {
    results.replaceChildren(h("li", { class: "muted" }, "sending…"));
    try {
      const outcome = Object.entries(await api.testRule(name));
      results.replaceChildren(...(outcome.length
        ? outcome.map(([url, error]) => h("li", { class: error == null ? "ok" : "error" }, `${url}: `, error == null ? "took the test" : error))
        : [h("li", { class: "muted" }, "no webhooks to test")]));
    } catch (err) {
      results.replaceChildren();
      this.refuse(err, this.root.querySelector("#rules-error"));
    }
  }

  // The API says what a token may do only by refusing: after a 403 the admin controls are disabled.
  refuse(err, where) {
    where.textContent = err.message;
    where.hidden = false;
    if (err instanceof api.ScopeError) {
      this.refused = true;
      this.lock();
    }
  }

  lock() {
    this.root.querySelector("#rule-form fieldset").disabled = true;
    this.root.querySelectorAll("button.admin").forEach((b) => { b.disabled = true; });
    const note = this.root.querySelector("#rules-note");
    note.textContent = "Changing rules needs a token with the admin scope (sensorfleet token create --scope admin).";
    note.hidden = false;
  }
}
