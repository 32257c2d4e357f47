// Alerts as the fleet and device views show them: the active ones on top of the fleet with a badge on
// the cards of devices that have one firing, and a device's own alerts with how their notifications
// went. Rule names, device ids, values and delivery errors are all text here (dom.js's h()).

import * as api from "./api.js";
import { h } from "./dom.js";
import { ago, timeOf } from "./format.js";

export const SEVERITIES = ["info", "warning", "critical"];
const ACTIVE = new Set(["pending", "firing"]);
const STATE_WORDS = { pending: "pending (not firing yet)", firing: "firing", resolved: "resolved", removed: "ended (rule removed)" };

// The API's largest page; a device's history is read a smaller page at a time, when asked.
const MAX_PAGE = 500;
const HISTORY_PAGE = 20;

// The pending and firing alerts, each with its rule's severity (an alert does not carry it). The rules
// are read only when some alert is active, so a quiet fleet costs one request per refresh.
export async function loadActive() {
  const { alerts } = await api.listAlerts({ state: "active", limit: MAX_PAGE });
  if (!Array.isArray(alerts) || !alerts.length) return [];
  const rules = await api.listRules().catch(() => null);
  const severity = new Map((Array.isArray(rules) ? rules : []).map((rule) => [rule.name, rule.severity]));
  return alerts.map((alert) => ({ ...alert, severity: severity.get(alert.rule) }));
}

// What the condition saw last, e.g. {value: 35, at: <ms>} → "value 35 · at 14:02:07".
function valueWords(value) {
  if (value == null || typeof value !== "object") return String(value ?? "");
  return Object.entries(value)
    .map(([key, v]) => (key === "at" && typeof v === "number" ? `at ${timeOf(v)}` : `${key.replaceAll("_", " ")} ${typeof v === "object" ? JSON.stringify(v) : v}`))
    .join(" · ");
}

const severityChip = (severity) => (SEVERITIES.includes(severity) ? h("span", { class: `sev sev-${severity}` }, severity) : null);

// `ingest:<client id>` names an ingest process (its own health), which has no device page.
function deviceRef(device) {
  if (String(device).startsWith("ingest:")) return h("span", { class: "alert-device" }, `ingest ${device.slice(7)}`);
  return h("a", { class: "alert-device", href: `#/device/${encodeURIComponent(device)}` }, device);
}

function activeItem(alert) {
  const since = alert.fired ?? alert.started;
  return h("li", { class: `alert ${alert.state}`, dataset: { alert: alert.id, state: alert.state } },
    severityChip(alert.severity), " ",
    h("strong", { class: "alert-rule" }, alert.rule), " · ", deviceRef(alert.device), " · ",
    h("span", { class: "alert-state" }, STATE_WORDS[alert.state] ?? alert.state), " ",
    h("span", { class: "muted", dataset: { seen: since ?? "" } }, ago(since)), " ",
    h("span", { class: "alert-value muted" }, valueWords(alert.value)));
}

// The fleet's panel: firing first, then pending, newest first within each.
export function renderActive(panel, alerts) {
  const firing = alerts.filter((a) => a.state === "firing");
  const pending = alerts.filter((a) => a.state !== "firing");
  panel.hidden = !alerts.length;
  panel.querySelector("h2").textContent = `Alerts: ${firing.length} firing, ${pending.length} pending`;
  const newest = (a, b) => b.id - a.id;
  panel.querySelector(".alert-list").replaceChildren(...[...firing.sort(newest), ...pending.sort(newest)].map(activeItem));
}

// A device card's badge: its firing alerts, shown by the highest severity among them.
export function alertBadge(alerts) {
  const firing = alerts.filter((a) => a.state === "firing");
  if (!firing.length) return null;
  const rank = (a) => SEVERITIES.indexOf(a.severity);
  const worst = firing.reduce((a, b) => (rank(b) > rank(a) ? b : a)).severity;
  const known = SEVERITIES.includes(worst) ? worst : null;
  return h("span", { class: `alert-badge sev ${known ? `sev-${known}` : ""}`, title: `firing: ${firing.map((a) => a.rule).join(", ")}`, dataset: { severity: known ?? "" } },
    `${known ?? "alert"}${firing.length > 1 ? ` ×${firing.length}` : ""}`);
}

function noteItem(note) {
  const tries = `${note.attempts} attempt${note.attempts === 1 ? "" : "s"}`;
  const how = {
    delivered: `delivered ${note.delivered != null ? timeOf(note.delivered) : ""}${note.attempts ? ` after ${tries} that failed` : ""}`,
    waiting: note.attempts ? `waiting, ${tries} so far` : "waiting",
    failed: `failed after ${tries}`,
  }[note.state] ?? note.state;
  const error = note.state !== "delivered" && note.last_error != null;
  return h("li", { class: `note ${note.state}`, dataset: { state: note.state } },
    h("span", { class: "note-target" }, note.target), ` (${note.transition}) ${how}`,
    error ? [": ", h("span", { class: "note-error" }, note.last_error)] : null);
}

function alertItem(alert) {
  const times = [["started", alert.started], ["fired", alert.fired], ["resolved", alert.resolved]]
    .filter(([, ms]) => ms != null)
    .map(([what, ms]) => `${what} ${timeOf(ms)}`);
  const notes = Array.isArray(alert.notifications) ? alert.notifications : [];
  return h("li", { class: `alert ${alert.state}`, dataset: { alert: alert.id, state: alert.state } },
    h("div", {},
      h("strong", { class: "alert-rule" }, alert.rule), " ",
      h("span", { class: "alert-state" }, STATE_WORDS[alert.state] ?? alert.state), " ",
      h("span", { class: "alert-value" }, valueWords(alert.value))),
    h("div", { class: "muted" }, times.join(" · ")),
    notes.length ? h("ul", { class: "notes" }, notes.map(noteItem)) : null);
}

// A device's alerts: the active ones, then the rest newest first, a page at a time ("Older").
export class DeviceAlerts {
  constructor(panel, device) {
    this.panel = panel;
    this.device = device;
    this.pages = 1;
    this.active = [];
    this.history = [];
    this.next = null;
    panel.querySelector(".alerts-older").addEventListener("click", () => this.older().catch((err) => this.failed(err)));
  }

  // Reads again what is shown: the active alerts and as many pages of history as have been opened.
  // An "Older" that lands while this is on its way makes its answer one page short: it is then dropped.
  async load() {
    const pages = this.pages;
    const [active, history] = await Promise.all([
      api.listAlerts({ state: "active", device: this.device, limit: MAX_PAGE }),
      api.listAlerts({ device: this.device, limit: Math.min(MAX_PAGE, HISTORY_PAGE * pages) }),
    ]);
    if (pages !== this.pages) return;
    this.active = active.alerts;
    this.history = history.alerts;
    this.next = history.next;
    this.render();
  }

  async older() {
    const page = await api.listAlerts({ device: this.device, before: this.next, limit: HISTORY_PAGE });
    this.pages += 1;
    this.history.push(...page.alerts);
    this.next = page.next;
    this.render();
  }

  failed(err) {
    this.panel.querySelector(".alerts-error").textContent = err.message;
  }

  render() {
    // The history holds the active alerts too; they are shown once, above it.
    const past = this.history.filter((a) => !ACTIVE.has(a.state));
    const none = (text) => h("li", { class: "muted" }, text);
    this.panel.querySelector(".alerts-active").replaceChildren(...(this.active.length ? this.active.map(alertItem) : [none("No active alerts.")]));
    this.panel.querySelector(".alerts-past").replaceChildren(...(past.length ? past.map(alertItem) : [none("No past alerts.")]));
    this.panel.querySelector(".alerts-older").hidden = this.next == null;
    this.panel.querySelector(".alerts-error").textContent = "";
  }
}
