// The fleet view: every device, live, with its latest values and a sparkline.

import * as api from "./api.js";
import { palette, sparkline } from "./charts.js";
import { ago, escapeHtml, formatValue, toMs } from "./format.js";

const SORTS = {
  id: (a, b) => a.id.localeCompare(b.id),
  status: (a, b) => Number(b.online) - Number(a.online) || a.id.localeCompare(b.id),
  seen: (a, b) => (b.lastSeen || 0) - (a.lastSeen || 0),
};

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
    values,
    received: completeness.received ?? 0,
    missing: completeness.missing ?? 0,
  };
}

export class FleetView {
  constructor(root, { onCounts }) {
    this.root = root;
    this.onCounts = onCounts;
    this.devices = new Map();
    this.sparks = new Map();
    this.sort = localStorage.getItem("sensorfleet.sort") || "id";
    this.filter = "";
    this.abort = new AbortController();
  }

  async mount() {
    this.root.innerHTML = `
      <section class="toolbar">
        <input id="filter" type="search" placeholder="Filter devices" aria-label="Filter devices">
        <label>Sort <select id="sort">
          <option value="id">name</option><option value="status">online first</option><option value="seen">last seen</option>
        </select></label>
      </section>
      <section id="fleet" class="fleet" aria-label="Devices"></section>`;
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
    const list = await api.listDevices();
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
      const card = document.createElement("a");
      card.className = "card device";
      card.href = `#/device/${encodeURIComponent(device.id)}`;
      card.dataset.device = device.id;
      card.innerHTML = '<div class="body"></div><div class="spark" aria-hidden="true"></div><div class="completeness"></div>';
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
    const values = Object.entries(device.values)
      .map(([m, v]) => `<li><span class="metric">${escapeHtml(m)}</span><span class="value">${formatValue(v, m)}</span></li>`)
      .join("");
    const total = device.received + device.missing;
    const pct = total ? ((100 * device.received) / total).toFixed(total > 1000 ? 2 : 1) : "–";
    card.querySelector(".body").innerHTML = `
      <div class="device-head">
        <span class="dot ${device.online ? "online" : "offline"}" title="${device.online ? "online" : "offline"}"></span>
        <strong class="device-id">${escapeHtml(device.id)}</strong>
        <span class="state">${device.online ? "online" : "offline"}</span>
      </div>
      <div class="meta">
        <span data-seen="${device.lastSeen || ""}">${ago(device.lastSeen)}</span>
        ${device.fw ? `<span>fw ${escapeHtml(device.fw)}</span>` : ""}
        ${device.rssi != null ? `<span>${device.rssi} dBm</span>` : ""}
        ${device.outbox != null ? `<span title="readings waiting on the board">outbox ${device.outbox}</span>` : ""}
        ${device.dropped ? `<span class="warn" title="readings the board had to drop">dropped ${device.dropped}</span>` : ""}
      </div>
      <ul class="values">${values || '<li class="muted">no readings yet</li>'}</ul>`;
    const completeness = card.querySelector(".completeness");
    completeness.title = "readings received / missing";
    completeness.innerHTML = `received ${device.received}${device.missing ? ` · <span class="warn">missing ${device.missing}</span>` : ""} · ${pct}%`;
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
