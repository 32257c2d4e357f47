// The firmware page (#/firmware): which versions the fleet runs, the bundles, and every rollout with its
// progress; a rollout opens to each device's wave and state, with halt and resume. Everything here needs
// an admin token (the API answers 403 to any other); what boards report (a rollback's reason) is shown
// as text.

import * as api from "./api.js";
import { fromTemplate, h } from "./dom.js";
import { ago } from "./format.js";

const REFRESH_MS = 3000;
const ORDER = ["healthy", "trial", "updating", "offered", "pending", "skipped", "rolled_back", "failed", "timeout"];
const BAD = new Set(["rolled_back", "failed", "timeout"]);

function progress(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const healthy = counts.healthy || 0;
  return h("div", { class: "rollout-progress", title: `${healthy} of ${total} healthy` },
    h("div", { class: "rollout-bar" },
      ...ORDER.filter((state) => counts[state]).map((state) => {
        const segment = h("span", { class: `seg seg-${state}` });
        segment.style.flexGrow = String(counts[state]); // the CSSOM, not a style attribute: the page's CSP allows no inline style
        return segment;
      })),
    h("span", { class: "muted" },
      ORDER.filter((state) => counts[state]).map((state) => `${counts[state]} ${state.replace("_", " ")}`).join(" · ")));
}

export class RolloutsView {
  constructor(root) {
    this.root = root;
    this.open = new Set();
    this.asked = 0; // refreshes started
    this.drawn = 0; // the newest of them on screen
  }

  async mount() {
    let firmware;
    try {
      firmware = await api.getFirmware();
    } catch (err) {
      if (!(err instanceof api.ScopeError)) throw err;
      this.root.replaceChildren(fromTemplate("rollouts-tpl"));
      const note = this.root.querySelector("#firmware-note");
      note.textContent = "Firmware and rollouts need an admin token.";
      note.hidden = false;
      return;
    }
    this.root.replaceChildren(fromTemplate("rollouts-tpl"));
    this.render(firmware, await this.rollouts());
    this.timer = setInterval(() => this.refresh().catch((err) => this.fail(err)), REFRESH_MS);
  }

  unmount() {
    clearInterval(this.timer);
  }

  fail(err) {
    const error = this.root.querySelector("#firmware-error");
    error.textContent = err.message;
    error.hidden = false;
  }

  // The timer's refreshes and an action's own can overlap: an answer older than the one on screen is
  // dropped, or a halt would show "running" again until the next tick.
  async refresh() {
    const ticket = ++this.asked;
    const firmware = await api.getFirmware();
    const rollouts = await this.rollouts();
    if (ticket < this.drawn) return;
    this.drawn = ticket;
    this.render(firmware, rollouts);
    this.root.querySelector("#firmware-error").hidden = true;
  }

  async rollouts() {
    const rollouts = (await api.listRollouts()).reverse();
    return Promise.all(rollouts.map((r) => (this.open.has(r.id) || r.state !== "done" ? api.getRollout(r.id) : r)));
  }

  render({ bundles, fleet }, details) {
    this.root.querySelector("#fleet-versions").replaceChildren(
      ...Object.entries(fleet).map(([version, n]) => h("li", { dataset: { fw: version } }, h("strong", {}, version), ` ${n} device${n === 1 ? "" : "s"}`)));
    this.root.querySelector("#bundles").replaceChildren(
      ...(bundles.length ? bundles.map((b) => h("li", {}, h("strong", {}, b.version), ` ${b.files} file${b.files === 1 ? "" : "s"}, ${(b.size / 1024).toFixed(1)} KiB, built ${ago(b.created)}`))
        : [h("li", { class: "muted" }, "No bundles: sensorfleet firmware build --version …")]));
    this.root.querySelector("#rollouts").replaceChildren(
      ...(details.length ? details.map((r) => this.rolloutItem(r)) : [h("li", { class: "muted" }, "No rollouts yet.")]));
  }

  rolloutItem(r) {
    const counts = r.counts && Object.keys(r.counts).length ? r.counts : null;
    const item = h("li", { class: `rollout rollout-${r.state}`, dataset: { rollout: r.id } },
      h("div", { class: "rollout-head" },
        h("strong", {}, `#${r.id} ${r.version}`), " ",
        h("span", { class: `badge state-${r.state}` }, r.state), " ",
        h("span", { class: "muted" }, `${r.target} · canary ${r.canary} · waves of ${r.wave} · health ${r.health_s} s`)),
      r.reason != null ? h("p", { class: "rollout-reason warn" }, r.reason) : null,
      counts ? progress(counts) : null,
      h("div", { class: "rollout-actions" },
        r.state === "running" ? h("button", { type: "button", class: "danger halt" }, "Halt") : null,
        r.state === "halted" ? h("button", { type: "button", class: "resume" }, "Resume") : null,
        r.devices ? h("button", { type: "button", class: "toggle" }, this.open.has(r.id) ? "Hide devices" : "Show devices") : null),
      r.devices && this.open.has(r.id) ? this.devicesTable(r.devices) : null);
    item.querySelector(".halt")?.addEventListener("click", () => this.act(() => api.haltRollout(r.id)));
    item.querySelector(".resume")?.addEventListener("click", () => this.act(() => api.resumeRollout(r.id)));
    item.querySelector(".toggle")?.addEventListener("click", () => {
      if (!this.open.delete(r.id)) this.open.add(r.id);
      this.refresh().catch((err) => this.fail(err));
    });
    return item;
  }

  devicesTable(devices) {
    return h("table", { class: "rollout-devices" },
      h("thead", {}, h("tr", {}, ["device", "wave", "state", "runs", "board", "reason"].map((c) => h("th", {}, c)))),
      h("tbody", {}, devices.map((d) => h("tr", { class: BAD.has(d.state) ? "bad" : null, dataset: { device: d.device } },
        h("td", {}, h("a", { href: `#/device/${encodeURIComponent(d.device)}` }, d.device)),
        h("td", {}, d.wave === 0 ? "canary" : String(d.wave)),
        h("td", { class: `state-${d.state}` }, d.state.replace("_", " ")),
        h("td", {}, d.board?.fw ?? "–"),
        h("td", { class: "muted" }, d.board ? `${d.board.online ? "online" : "offline"}${d.board.ota ? ` · ${d.board.ota}` : ""}` : "never seen"),
        h("td", { class: "reason" }, d.reason ?? d.board?.reason ?? "")))));
  }

  async act(move) {
    try {
      await move();
      await this.refresh();
    } catch (err) {
      this.fail(err);
    }
  }
}
