// The device view: a chart per metric over a chosen range, live, with commands, CSV export, the
// device's status history and its alerts.

import { DeviceAlerts } from "./alerts.js";
import * as api from "./api.js";
import { TimeChart } from "./charts.js";
import { SETTABLE } from "./contract.js";
import { fromTemplate, h } from "./dom.js";
import { ago, formatValue, toMs } from "./format.js";
import { completenessOf, extrasOf, normalise, renderDeadLetters } from "./fleet.js";

export const RANGES = { "15m": "15 min", "1h": "1 h", "6h": "6 h", "24h": "24 h", "7d": "7 days", "30d": "30 days" };

// A chart never asks for more points than it has pixels to draw them on.
const pointsFor = (el) => Math.max(50, Math.min(2000, Math.floor(el.clientWidth || 600)));

// As many as the API sends by default: a page open for days does not grow without end.
const HISTORY_SHOWN = 100;

// As often as the fleet view reads its list again.
const ALERTS_EVERY_MS = 15000;

const toLocalInput = (ms) => new Date(ms - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16);

export class DeviceView {
  constructor(root, id) {
    this.root = root;
    this.id = id;
    this.charts = new Map();
    this.range = { start: `-${localStorage.getItem("sensorfleet.range") || "1h"}`, end: null };
    this.history = [];
    this.abort = new AbortController();
  }

  async mount() {
    const [raw, history, letters] = await Promise.all([
      api.getDevice(this.id),
      api.getStatusHistory(this.id),
      api.getDeadLetterSummary(this.id).catch(() => null), // a side panel: the view works without it
    ]);
    if (this.abort.signal.aborted) return;
    const device = normalise(raw);
    this.device = device;
    this.history = history;
    this.root.replaceChildren(fromTemplate("device-tpl"));
    this.root.querySelector("#crumb").textContent = this.id;
    this.root.querySelector("#ranges").replaceChildren(...Object.entries(RANGES).map(([key, label]) =>
      h("button", { type: "button", dataset: { range: key }, "aria-pressed": String(this.range.start === `-${key}`) }, label)));
    this.renderSummary();
    this.renderHistory();
    if (letters) renderDeadLetters(this.root.querySelector("#deadletters"), letters, "from this device");
    // Alerts have no event on the stream: they are read again on the fleet view's cycle.
    this.alerts = new DeviceAlerts(this.root.querySelector("#alerts"), this.id);
    const loadAlerts = () => this.alerts.load().catch((err) => this.alerts.failed(err));
    loadAlerts();
    this.alertTimer = setInterval(loadAlerts, ALERTS_EVERY_MS);
    this.root.querySelectorAll("[data-range]").forEach((b) => b.addEventListener("click", () => this.pick(b.dataset.range)));
    this.root.querySelector("#custom").addEventListener("submit", (e) => {
      e.preventDefault();
      const form = new FormData(e.target);
      const start = new Date(form.get("start")).toISOString();
      const end = form.get("end") ? new Date(form.get("end")).toISOString() : null;
      this.setRange({ start, end });
    });
    this.root.querySelector("#csv").addEventListener("click", () =>
      api.downloadCsv(this.id, this.range).catch((err) => this.showResult("export", { ok: false, error: err.message })));
    this.root.querySelectorAll("[data-op]").forEach((b) => b.addEventListener("click", () => this.command(b.dataset.op, {})));
    const interval = this.root.querySelector("#set-interval input[name=interval]");
    Object.assign(interval, { min: SETTABLE.interval_s.low, max: SETTABLE.interval_s.high });
    this.root.querySelector("#set-interval").addEventListener("submit", (e) => {
      e.preventDefault();
      this.command("set", { interval_s: Number(new FormData(e.target).get("interval")) });
    });
    this.onResize = () => this.charts.forEach((c) => c.resize());
    window.addEventListener("resize", this.onResize);
    // Subscribed before the charts load, so no status change falls between the history and the stream.
    api.stream((type, data) => this.onEvent(type, data), { device: this.id, signal: this.abort.signal }).catch(() => {});
    this.timer = setInterval(() => this.renderSummary(), 1000);
    await this.load();
  }

  unmount() {
    this.abort.abort();
    clearInterval(this.timer);
    clearInterval(this.alertTimer);
    window.removeEventListener("resize", this.onResize);
    this.charts.forEach((c) => c.destroy());
  }

  pick(key) {
    localStorage.setItem("sensorfleet.range", key);
    this.setRange({ start: `-${key}`, end: null });
  }

  setRange(range) {
    this.range = range;
    this.root.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-pressed", String(range.start === `-${b.dataset.range}`)));
    return this.load();
  }

  async load() {
    const holder = this.root.querySelector("#charts");
    this.charts.forEach((c) => c.destroy());
    this.charts.clear();
    holder.replaceChildren();
    const metrics = Object.keys(this.device.values);
    if (!metrics.length) {
      holder.replaceChildren(h("p", { class: "muted" }, "No readings from this device yet."));
      return;
    }
    const windows = [];
    for (const metric of metrics) {
      const box = fromTemplate("chart-tpl").firstElementChild;
      box.dataset.metric = metric;
      box.querySelector(".name").textContent = metric;
      holder.append(box);
      const plot = box.querySelector(".plot");
      const series = await api.getSeries(this.id, metric, { ...this.range, maxPoints: pointsFor(plot) });
      box.querySelector("figcaption .muted").textContent =
        `${series.points.length} points${series.truncated ? " (truncated)" : ""}`;
      box.dataset.points = String(series.points.length);
      windows.push(series.every_ms);
      this.charts.set(metric, new TimeChart(plot, metric, series.points, {
        onZoom: (u) => {
          const from = u.posToVal(u.select.left, "x") * 1000;
          const to = u.posToVal(u.select.left + u.select.width, "x") * 1000;
          const form = this.root.querySelector("#custom");
          form.start.value = toLocalInput(from);
          form.end.value = toLocalInput(to);
          this.setRange({ start: new Date(from).toISOString(), end: new Date(to).toISOString() });
        },
      }));
    }
    const every = Math.max(...windows.map((w) => w || 0));
    this.root.querySelector("#window").textContent = every
      ? `Each point is the mean of ${every >= 60000 ? `${Math.round(every / 60000)} min` : `${Math.round(every / 1000)} s`}. Drag across a chart to zoom in.`
      : "Raw readings. Drag across a chart to zoom in.";
  }

  onEvent(type, data) {
    if (data.device !== this.id) return;
    if (type === "reading") {
      const ts = toMs(data.ts) || Date.now();
      Object.assign(this.device.values, data.values || {});
      this.device.lastSeen = ts;
      this.device.online = true;
      // Live points only extend a range that ends now; a fixed window in the past stays as it is.
      if (!this.range.end) {
        for (const [metric, value] of Object.entries(data.values || {})) {
          const chart = this.charts.get(metric);
          if (!chart) continue;
          chart.append(ts, value);
          const caption = this.root.querySelector(`.chart[data-metric="${CSS.escape(metric)}"] figcaption .muted`);
          if (caption) caption.textContent = `${chart.pointCount} points`;
        }
      }
    } else if (type === "status") {
      this.noteStatus(data);
      this.device.online = Boolean(data.online);
      for (const key of ["fw", "rssi", "outbox", "dropped"]) if (key in data) this.device[key] = data[key];
      this.device.extras = extrasOf(data);
    }
    this.renderSummary();
  }

  // The registry says what a status changed; a change already fetched with the history is not added twice.
  noteStatus(data) {
    const change = data.change;
    if (!change || this.history.some((c) => c.at === change.at && c.changed.join() === change.changed.join())) return;
    this.history.unshift(change);
    this.history.length = Math.min(this.history.length, HISTORY_SHOWN);
    this.renderHistory();
  }

  renderHistory() {
    const list = this.root.querySelector("#history");
    if (!this.history.length) {
      list.replaceChildren(h("li", { class: "muted" }, "No status changes recorded yet."));
      return;
    }
    list.replaceChildren(...this.history.map((change) => {
      const what = [];
      if (change.changed.includes("online")) what.push(change.online ? "online" : "offline");
      if (change.changed.includes("boot")) what.push(`boot ${change.boot}`);
      if (change.changed.includes("fw")) what.push(`fw ${change.fw}`);
      const when = `${change.retained ? "at or before " : ""}${new Date(change.at).toLocaleString()}`;
      const data = { online: change.online, boot: change.boot ?? "", changed: change.changed.join(" "), at: change.at };
      return h("li", { dataset: data },
        h("span", { class: `dot ${change.online ? "online" : "offline"}` }), `${what.join(" · ")} `, h("span", { class: "muted" }, when));
    }));
  }

  renderSummary() {
    const d = this.device;
    const state = d.online ? "online" : "offline";
    const show = (v) => (typeof v === "object" && v !== null ? JSON.stringify(v) : v);
    this.root.querySelector("#summary").replaceChildren(
      h("div", { class: "device-head" },
        h("span", { class: `dot ${state}` }),
        h("strong", { class: "device-id" }, d.id),
        h("span", { class: "state" }, state),
        h("span", { class: "muted" }, `last seen ${ago(d.lastSeen)}`)),
      h("div", { class: "meta" },
        d.fw ? h("span", {}, `fw ${d.fw}`) : null,
        d.rssi != null && h("span", {}, `${d.rssi} dBm`),
        d.outbox != null && h("span", {}, `outbox ${d.outbox}`),
        d.dropped ? h("span", { class: "warn" }, `dropped ${d.dropped}`) : null,
        h("span", {}, ...completenessOf(d))),
      h("div", { class: "meta", id: "details" },
        Object.entries(d.extras).map(([key, v]) => h("span", { class: "extra" }, `${key.replaceAll("_", " ")} ${show(v)}`)),
        Object.entries(d.tags).map(([key, v]) => h("span", { class: "tag" }, `${key}=${v}`))),
      h("div", { class: "latest" },
        Object.entries(d.values).map(([m, v]) => h("span", {}, h("span", { class: "metric" }, m), ` ${formatValue(v, m)}`))),
    );
  }

  async command(op, args) {
    if (op === "reboot" && !window.confirm(`Reboot ${this.id}?`)) return;
    this.showResult(op, { pending: true });
    try {
      this.showResult(op, await api.sendCommand(this.id, op, args));
    } catch (err) {
      this.showResult(op, { ok: false, error: err.message });
    }
  }

  // `outcome` is the API's command ({status: ok|error|timeout|pending, result, error}) or a local error.
  showResult(op, outcome) {
    const list = this.root.querySelector("#results");
    const status = outcome.pending ? "sending" : outcome.status || (outcome.ok === false ? "error" : "ok");
    const text = {
      sending: "sent, waiting for the board…",
      pending: "sent; no answer yet",
      timeout: "no answer from the board in time (is it online?)",
      error: `failed: ${outcome.error}`,
      ok: `ok ${JSON.stringify(outcome.result ?? {})}`,
    }[status] ?? status;
    const item = h("li", { class: status === "ok" ? "ok" : status === "error" || status === "timeout" ? "error" : "pending" });
    item.append(h("strong", {}, op), ` ${text}`);
    if (list.firstElementChild?.classList.contains("pending") && !outcome.pending) list.firstElementChild.remove();
    list.prepend(item);
  }
}
