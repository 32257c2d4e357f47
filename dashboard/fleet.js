// The fleet view: every device, live, with its latest values and a sparkline.
//
// A fleet can hold tens of thousands of devices, so the view keeps every device's data but builds
// cards only for what is on screen: the sorted, filtered list is cut into blocks of a few rows, each
// block an empty box of its (measured or estimated) height until it comes near the viewport, when its
// cards are made; a block that scrolls far away gives its cards up again. Sparklines are fetched for
// the cards that exist, a few at a time, and kept. The first page of the API's device list is shown as
// soon as it arrives; the rest follow in the background.

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

// The first page is small so that the first cards show at once; the rest come in the API's largest pages.
const FIRST_PAGE = 100;
const PAGE = 500;
const ROWS_PER_BLOCK = 4;
const CARD_MIN_WIDTH = 260; // style.css: .fleet-block columns are at least this wide
const GAP = 13; // 0.8rem
const NEAR = 1.0; // blocks within this many screen heights of the viewport have their cards
const REFRESH_MS = 15000;
const SPARK_CONCURRENCY = 3;
const SPARK_KEPT = 3000;

export class FleetView {
  constructor(root, { onCounts }) {
    this.root = root;
    this.onCounts = onCounts;
    this.devices = new Map();
    this.total = null; // the whole fleet's count, as the API says, until every page is in
    this.loading = false;
    this.letters = { total: 0, newest: [], counts: new Map() };
    this.alerts = new Map(); // device → its active alerts
    this.order = []; // the ids shown, sorted and filtered
    this.blocks = []; // {el, from, to, cards: Map(id → card) | null, height}
    this.cards = new Map(); // id → its card, for the cards that exist
    this.sparks = new Map(); // id → its uPlot sparkline
    this.sparkPoints = new Map(); // id → the sparkline's points, kept once fetched (oldest dropped first)
    this.sparkQueue = new Set(); // ids waiting for their sparkline, oldest first
    this.sparkBusy = 0;
    this.rowHeight = 190; // an estimate until a block is measured
    this.columns = 1;
    this.sort = localStorage.getItem("sensorfleet.sort") || "id";
    this.filter = "";
    this.abort = new AbortController();
    this.frame = 0;
  }

  async mount() {
    this.root.replaceChildren(fromTemplate("fleet-tpl"));
    this.fleet = this.root.querySelector("#fleet");
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
    const signal = this.abort.signal;
    window.addEventListener("scroll", () => this.schedule(), { passive: true, signal });
    window.addEventListener("resize", () => this.schedule(true), { passive: true, signal });
    await this.refresh();
    if (signal.aborted) return;
    this.timer = setInterval(() => this.tick(), 1000);
    api.stream((type, data) => this.onEvent(type, data), { signal }).catch(() => {});
  }

  unmount() {
    this.abort.abort();
    clearInterval(this.timer);
    clearTimeout(this.refresher);
    cancelAnimationFrame(this.frame);
    for (const plot of this.sparks.values()) plot.destroy();
    this.sparks.clear();
  }

  // Reads the device list a page at a time. On the first load each page is shown as it arrives; a later
  // refresh swaps the whole list in once it is read. Resolves once the first page is shown; the rest
  // keep coming in the background, and the next refresh is due a while after they are all in.
  async refresh() {
    if (this.loading) return;
    this.loading = true;
    const started = performance.now();
    const signal = this.abort.signal;
    const first = !this.devices.size;
    let page;
    try {
      page = await api.listDevicesPage("", FIRST_PAGE);
    } catch (err) {
      this.loading = false;
      // Once the fleet is on screen, a failed refresh is tried again later; a first load that fails
      // is the router's to report.
      if (!first && !signal.aborted) this.later(REFRESH_MS);
      throw err;
    }
    const fresh = new Map();
    const take = (list) => { for (const raw of list) fresh.set(raw.id, normalise(raw)); };
    take(page.devices);
    this.total = page.total;
    // Dead letters and alerts are side panels, asked for once the first cards are on their way: the
    // fleet is shown even when they cannot be read.
    const sides = this.loadSides();
    if (first) {
      this.devices = fresh;
      this.arrange();
    }
    const rest = (async () => {
      try {
        while (page.next && !signal.aborted) {
          page = await api.listDevicesPage(page.next, PAGE);
          take(page.devices);
          this.total = page.total;
          if (first) this.arrangeSoon();
          else this.counts();
        }
        if (signal.aborted) return;
        const changed = !first && (fresh.size !== this.devices.size || [...fresh.keys()].some((id) => !this.devices.has(id)));
        this.devices = fresh;
        this.total = null;
        await sides;
        // Sorted by id, an unchanged list keeps its order: its cards are redrawn where they are.
        if (first || changed || this.sort !== "id") this.arrange();
        else for (const id of this.cards.keys()) this.renderCard(fresh.get(id));
        this.counts();
      } finally {
        this.loading = false;
        // A walk of a large fleet costs the server: refresh less often the longer it takes.
        if (!signal.aborted) this.later(Math.max(REFRESH_MS, 10 * (performance.now() - started)));
      }
    })();
    rest.catch(() => {});
  }

  later(ms) {
    clearTimeout(this.refresher);
    this.refresher = setTimeout(() => this.refresh().catch(() => {}), ms);
  }

  async loadSides() {
    const [letters, alerts] = await Promise.all([
      api.getDeadLetterSummary().catch(() => null),
      loadActive().catch(() => null),
    ]);
    if (this.abort.signal.aborted) return;
    if (letters) {
      this.letters = letters;
      renderDeadLetters(this.root.querySelector("#deadletters"), letters, "in the fleet");
    }
    if (alerts) {
      this.alerts = Map.groupBy(alerts, (alert) => alert.device);
      renderActive(this.root.querySelector("#alerts"), alerts);
    }
    for (const id of this.cards.keys()) this.renderCard(this.devices.get(id));
  }

  onEvent(type, data) {
    const device = this.devices.get(data.device);
    if (!device) {
      // A device the list does not hold yet: the list is read again (unless it is being read).
      if (data.device && !this.loading) this.refresh().catch(() => {});
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
    if (this.cards.has(device.id)) this.renderCard(device);
    this.countsSoon();
  }

  // Counting goes over the whole fleet: live events ask for it at most every 250 ms.
  countsSoon() {
    this.counting ??= setTimeout(() => {
      this.counting = null;
      if (!this.abort.signal.aborted) this.counts();
    }, 250);
  }

  matches(device) {
    const f = this.filter;
    return !f || device.id.includes(f) || Object.keys(device.values).some((m) => m.toLowerCase().includes(f));
  }

  counts() {
    let online = 0;
    for (const d of this.devices.values()) if (d.online) online += 1;
    const total = Math.max(this.total ?? 0, this.devices.size);
    this.onCounts({ total, online, offline: total - online });
  }

  arrangeSoon() {
    if (this.arranging) return;
    this.arranging = setTimeout(() => {
      this.arranging = null;
      if (!this.abort.signal.aborted) this.arrange();
    }, 250);
  }

  // Sorts and filters the whole fleet, then cuts the list into blocks; only blocks near the viewport
  // get cards (reusing those that exist).
  arrange() {
    clearTimeout(this.arranging);
    this.arranging = null;
    this.order = [...this.devices.values()].filter((d) => this.matches(d)).sort(SORTS[this.sort] || SORTS.id).map((d) => d.id);
    this.columns = this.columnCount();
    const per = this.columns * ROWS_PER_BLOCK;
    const old = this.cards;
    this.cards = new Map();
    const blocks = [];
    for (let from = 0; from < this.order.length; from += per) {
      const el = h("div", { class: "fleet-block" });
      el.style.gridTemplateColumns = `repeat(${this.columns}, minmax(0, 1fr))`;
      blocks.push({ el, from, to: Math.min(from + per, this.order.length), cards: null, height: null });
    }
    this.blocks = blocks;
    for (const block of blocks) block.el.style.height = `${this.estimate(block)}px`;
    this.fleet.replaceChildren(...blocks.map((b) => b.el));
    if (!this.order.length) {
      this.fleet.append(h("p", { class: "muted empty" },
        this.devices.size ? "No device matches the filter." : "No devices yet: start a board and it appears here."));
    }
    this.update(old);
    for (const [id, card] of old) if (!this.cards.has(id)) this.dropSpark(id, card);
    this.counts();
  }

  columnCount() {
    const width = this.fleet.clientWidth || window.innerWidth;
    return Math.max(1, Math.floor((width + GAP) / (CARD_MIN_WIDTH + GAP)));
  }

  estimate(block) {
    return Math.ceil((block.to - block.from) / this.columns) * (this.rowHeight + GAP) - GAP;
  }

  schedule(resized = false) {
    if (resized) this.resized = true;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (this.resized) {
        this.resized = false;
        if (this.columnCount() !== this.columns) return this.arrange();
      }
      this.update();
    });
  }

  // Gives cards to the blocks near the viewport and takes them from the others. `reuse`: cards made
  // before a re-arrangement, by id.
  update(reuse = new Map()) {
    const margin = window.innerHeight * NEAR;
    const near = (block) => {
      const r = block.el.getBoundingClientRect();
      return r.bottom >= -margin && r.top <= window.innerHeight + margin;
    };
    // Blocks are in page order: find the first near one by bisection, then walk on while they are near.
    let lo = 0;
    let hi = this.blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.blocks[mid].el.getBoundingClientRect().bottom < -margin) lo = mid + 1;
      else hi = mid;
    }
    const wanted = new Set();
    for (let i = lo; i < this.blocks.length && near(this.blocks[i]); i += 1) wanted.add(i);
    this.blocks.forEach((block, i) => {
      if (block.cards && !wanted.has(i)) this.empty(block);
    });
    for (const i of wanted) if (!this.blocks[i].cards) this.fill(this.blocks[i], reuse);
    this.look = null;
    this.pumpSparks();
  }

  fill(block, reuse) {
    block.cards = new Map();
    const cards = [];
    for (const id of this.order.slice(block.from, block.to)) {
      const card = reuse.get(id) ?? this.makeCard(id);
      block.cards.set(id, card);
      this.cards.set(id, card);
      cards.push(card);
    }
    block.el.replaceChildren(...cards);
    for (const id of block.cards.keys()) this.renderCard(this.devices.get(id));
    block.el.style.height = "";
    block.height = block.el.offsetHeight;
    // The rows measured so far make the estimate of the blocks not yet shown.
    const rows = Math.ceil((block.to - block.from) / this.columns);
    this.rowHeight = Math.max(60, (block.height + GAP) / rows - GAP);
    for (const id of block.cards.keys()) this.wantSpark(id);
  }

  empty(block) {
    block.el.style.height = `${block.el.offsetHeight}px`;
    for (const [id, card] of block.cards) {
      this.dropSpark(id, card);
      this.cards.delete(id);
    }
    block.cards = null;
    block.el.replaceChildren();
  }

  makeCard(id) {
    const card = fromTemplate("card-tpl").firstElementChild;
    card.href = `#/device/${encodeURIComponent(id)}`;
    card.dataset.device = id;
    return card;
  }

  renderCard(device) {
    const card = device && this.cards.get(device.id);
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

  // Sparklines: drawn from the points kept when there are any, otherwise fetched a few at a time for
  // the cards that still exist when their turn comes.
  wantSpark(id) {
    if (this.sparks.has(id)) return;
    const points = this.sparkPoints.get(id);
    if (points) this.drawSpark(id, points);
    else this.sparkQueue.add(id);
  }

  drawSpark(id, points) {
    const el = this.cards.get(id)?.querySelector(".spark");
    if (!el || !points.length || this.sparks.has(id)) return;
    this.look ??= { width: el.clientWidth || 220, colors: palette() };
    this.sparks.set(id, sparkline(el, points, this.look));
  }

  dropSpark(id, card) {
    this.sparks.get(id)?.destroy();
    this.sparks.delete(id);
    card.querySelector(".spark")?.replaceChildren();
  }

  pumpSparks() {
    while (this.sparkBusy < SPARK_CONCURRENCY && this.sparkQueue.size) {
      const id = this.sparkQueue.values().next().value;
      this.sparkQueue.delete(id);
      if (!this.cards.has(id) || this.sparkPoints.has(id)) continue; // gone from the screen meanwhile
      const metric = Object.keys(this.devices.get(id)?.values ?? {})[0];
      if (!metric) continue;
      this.sparkBusy += 1;
      api.getSeries(id, metric, { start: "-1h", maxPoints: 60 })
        .then((series) => {
          this.keepSpark(id, Array.isArray(series.points) ? series.points : []);
          if (!this.abort.signal.aborted) this.drawSpark(id, this.sparkPoints.get(id));
        })
        .catch(() => { /* a sparkline is decoration: the card stays useful without it */ })
        .finally(() => {
          this.sparkBusy -= 1;
          if (!this.abort.signal.aborted) this.pumpSparks();
        });
    }
  }

  keepSpark(id, points) {
    this.sparkPoints.set(id, points);
    if (this.sparkPoints.size > SPARK_KEPT) this.sparkPoints.delete(this.sparkPoints.keys().next().value);
  }

  tick() {
    const now = Date.now();
    for (const el of this.root.querySelectorAll("[data-seen]")) {
      const ms = Number(el.dataset.seen);
      if (ms) el.textContent = ago(ms, now);
    }
  }
}
