// The fleet view: every device, live, with its latest values and a sparkline.

import { alertBadge, loadActive, renderActive } from "./alerts.js";
import * as api from "./api.js";
import { palette, sparkline } from "./charts.js";
import { fromTemplate, h } from "./dom.js";
import { ago, formatValue, toMs } from "./format.js";

const SORTS = {
  id: (a, b) => a.id.localeCompare(b.id),
  status: (a, b) => Number(b.online) - Number(a.online) || a.id.localeCompare(b.id),
  seen: (a, b) => (b.lastSeen || 0) - (a.lastSeen || 0),
};

// A status's keys that have their own place on the page; the rest are shown as they come.
const STATUS_SHOWN_APART = new Set(["online", "fw", "boot", "rssi", "outbox", "dropped", "device", "change"]);

export const extrasOf = (status) => Object.fromEntries(Object.entries(status).filter(([key]) => !STATUS_SHOWN_APART.has(key)));

// One device as the page keeps it, whatever the API's exact field names.
export function normalise(raw) {
  const values = { ...(raw.latest?.values || {}) };
  const status = raw.status || {};
  const completeness = raw.completeness || {};
  return {
    id: raw.id,
    online: Boolean(raw.online ?? status.online),
    lastSeen: toMs(raw.last_seen),
    fw: raw.fw ?? status.fw ?? "",
    rssi: raw.rssi ?? status.rssi,
    outbox: raw.outbox ?? status.outbox,
    dropped: raw.dropped ?? status.dropped,
    extras: extrasOf(status),
    tags: raw.tags || {},
    values,
    received: completeness.received ?? 0,
    missing: completeness.missing ?? 0,
  };
}

// The dead-letters panel of both views: the count and the newest reasons, each as text (a reason may
// quote what a device sent, and a topic is whatever a client published on).
export function renderDeadLetters(panel, { total, newest }, scope) {
  panel.hidden = total === 0;
  panel.querySelector(".dl-total").textContent =
    `${total} message${total === 1 ? "" : "s"} ${scope} could not be stored (kept as dead letters; see \`sensorfleet deadletters\`).`;
  panel.querySelector(".dl-newest").replaceChildren(...newest.map((letter) =>
    h("li", { dataset: { letter: letter.id } },
      h("span", { class: "muted", dataset: { seen: toMs(letter.received) || "" } }, ago(toMs(letter.received))), " ",
      h("span", { class: "dl-where" }, letter.device ?? letter.topic), " ",
      h("span", { class: "dl-reason" }, letter.reason))));
}

// "received 120 · missing 3 · 97.6%", the missing part marked; shared by both views.
export function completenessOf({ received, missing }) {
  const total = Number(received) + Number(missing);
  const pct = total ? ((100 * received) / total).toFixed(total > 1000 ? 2 : 1) : "–";
  return [`received ${received}`, missing ? [" · ", h("span", { class: "warn" }, `missing ${missing}`)] : "", ` · ${pct}%`].flat();
}

export class FleetView {
  constructor(root, { onCounts }) {
    this.root = root;
    this.onCounts = onCounts;
    this.devices = new Map();
    this.letters = { total: 0, newest: [], counts: new Map() };
    this.alerts = new Map(); // device → its active alerts
    this.sparks = new Map();
    this.sort = localStorage.getItem("sensorfleet.sort") || "id";
    this.filter = "";
    this.abort = new AbortController();
  }

  async mount() {
    this.root.replaceChildren(fromTemplate("fleet-tpl"));
    const sort = this.root.querySelector("#sort");
    sort.value = this.sort;
    sort.addEventListener("change", () => {
      this.sort = sort.value;
      localStorage.setItem("sensorfleet.sort", this.sort);
      this.arrange();
    });
    this.root.querySelector("#filter").addEventListener("input", (e) => {
      this.filter = e.target.value.trim().toLowerCase();
      this.arrange();
    });
    await this.refresh();
    if (this.abort.signal.aborted) return;
    this.timer = setInterval(() => this.tick(), 1000);
    this.refresher = setInterval(() => this.refresh().catch(() => {}), 15000);
    api.stream((type, data) => this.onEvent(type, data), { signal: this.abort.signal }).catch(() => {});
  }

  unmount() {
    this.abort.abort();
    clearInterval(this.timer);
    clearInterval(this.refresher);
    for (const plot of this.sparks.values()) plot.destroy();
  }

  async refresh() {
    // Dead letters and alerts are side panels: the fleet is shown even when they cannot be read.
    const [list, letters, alerts] = await Promise.all([
      api.listDevices(),
      api.getDeadLetterSummary().catch(() => null),
      loadActive().catch(() => null),
    ]);
    if (letters) {
      this.letters = letters;
      renderDeadLetters(this.root.querySelector("#deadletters"), letters, "in the fleet");
    }
    if (alerts) {
      this.alerts = Map.groupBy(alerts, (alert) => alert.device);
      renderActive(this.root.querySelector("#alerts"), alerts);
    }
    const before = [...this.devices.keys()].sort().join("\n");
    this.devices = new Map(list.map((raw) => [raw.id, normalise(raw)]));
    if ([...this.devices.keys()].sort().join("\n") === before) {
      for (const device of this.devices.values()) this.renderCard(device);
      this.arrange();
    } else {
      this.render();
    }
  }

  onEvent(type, data) {
    const device = this.devices.get(data.device);
    if (!device) {
      if (data.device) this.refresh().catch(() => {});
      return;
    }
    if (type === "reading") {
      Object.assign(device.values, data.values || {});
      device.lastSeen = toMs(data.ts) || Date.now();
      device.online = true;
    } else if (type === "status") {
      device.online = Boolean(data.online);
      for (const key of ["fw", "rssi", "outbox", "dropped"]) if (key in data) device[key] = data[key];
      device.lastSeen = Date.now();
    }
    this.renderCard(device);
    this.counts();
  }

  matches(device) {
    const f = this.filter;
    return !f || device.id.includes(f) || Object.keys(device.values).some((m) => m.toLowerCase().includes(f));
  }

  counts() {
    const all = [...this.devices.values()];
    const online = all.filter((d) => d.online).length;
    this.onCounts({ total: all.length, online, offline: all.length - online });
  }

  // Builds one card per device; sparklines load once per card, not on every update.
  render() {
    const fleet = this.root.querySelector("#fleet");
    fleet.replaceChildren();
    for (const plot of this.sparks.values()) plot.destroy();
    this.sparks.clear();
    for (const device of this.devices.values()) {
      const card = fromTemplate("card-tpl").firstElementChild;
      card.href = `#/device/${encodeURIComponent(device.id)}`;
      card.dataset.device = device.id;
      fleet.append(card);
      this.renderCard(device);
    }
    this.arrange();
    // Sparklines after the cards are on screen; one measurement serves them all.
    requestAnimationFrame(() => {
      const first = fleet.querySelector(".device:not([hidden]) .spark");
      const look = { width: first?.clientWidth || 220, colors: palette() };
      for (const device of this.devices.values()) {
        const el = fleet.querySelector(`[data-device="${CSS.escape(device.id)}"] .spark`);
        if (el) this.loadSpark(device, el, look);
      }
    });
  }

  // Sorts and filters the existing cards in place.
  arrange() {
    const fleet = this.root.querySelector("#fleet");
    const ordered = [...this.devices.values()].sort(SORTS[this.sort] || SORTS.id);
    let shown = 0;
    for (const device of ordered) {
      const card = fleet.querySelector(`[data-device="${CSS.escape(device.id)}"]`);
      card.hidden = !this.matches(device);
      shown += card.hidden ? 0 : 1;
      fleet.append(card);
    }
    let empty = fleet.querySelector(".empty");
    if (!shown) {
      empty ??= fleet.appendChild(Object.assign(document.createElement("p"), { className: "muted empty" }));
      empty.textContent = this.devices.size ? "No device matches the filter." : "No devices yet: start a board and it appears here.";
    } else {
      empty?.remove();
    }
    this.counts();
  }

  renderCard(device) {
    const card = this.root.querySelector(`[data-device="${CSS.escape(device.id)}"]`);
    if (!card) return;
    const state = device.online ? "online" : "offline";
    const values = Object.entries(device.values)
      .map(([m, v]) => h("li", {}, h("span", { class: "metric" }, m), h("span", { class: "value" }, formatValue(v, m))));
    card.querySelector(".body").replaceChildren(
      h("div", { class: "device-head" },
        h("span", { class: `dot ${state}`, title: state }),
        h("strong", { class: "device-id" }, device.id),
        h("span", { class: "state" }, state),
        alertBadge(this.alerts.get(device.id) ?? [])),
      h("div", { class: "meta" },
        h("span", { dataset: { seen: device.lastSeen || "" } }, ago(device.lastSeen)),
        device.fw ? h("span", {}, `fw ${device.fw}`) : null,
        device.rssi != null && h("span", {}, `${device.rssi} dBm`),
        device.outbox != null && h("span", { title: "readings waiting on the board" }, `outbox ${device.outbox}`),
        device.dropped ? h("span", { class: "warn", title: "readings the board had to drop" }, `dropped ${device.dropped}`) : null,
        this.letters.counts.get(device.id)
          ? h("span", { class: "warn dead-letters", title: "messages that could not be stored" }, `dead letters ${this.letters.counts.get(device.id)}`)
          : null),
      h("ul", { class: "values" }, values.length ? values : h("li", { class: "muted" }, "no readings yet")),
    );
    card.querySelector(".completeness").replaceChildren(...completenessOf(device));
  }

  async loadSpark(device, el, look) {
    const metric = Object.keys(device.values)[0];
    if (!metric) return;
    const key = `${device.id}/${metric}`;
    this.sparks.get(key)?.destroy();
    this.sparks.delete(key);
    try {
      const series = await api.getSeries(device.id, metric, { start: "-1h", maxPoints: 60 });
      if (el.isConnected && series.points.length) this.sparks.set(key, sparkline(el, series.points, look));
    } catch (_) { /* a sparkline is decoration: the card stays useful without it */ }
  }

  tick() {
    const now = Date.now();
    for (const el of this.root.querySelectorAll("[data-seen]")) {
      const ms = Number(el.dataset.seen);
      if (ms) el.textContent = ago(ms, now);
    }
  }
}
