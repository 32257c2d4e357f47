// Entry point: login, theme, routing between the fleet, device, alert rules and firmware views, and error banners.

import * as api from "./api.js";
import { DeviceView } from "./device.js";
import { fromTemplate, h } from "./dom.js";
import { FleetView } from "./fleet.js";
import { RolloutsView } from "./rollouts.js";
import { RulesView } from "./rules.js";

const view = document.getElementById("view");
const banner = document.getElementById("banner");
const counts = document.getElementById("counts");
const logout = document.getElementById("logout");
let current = null;

function showBanner(message) {
  banner.textContent = message;
  banner.hidden = !message;
}

function showCounts({ total, online, offline }) {
  counts.replaceChildren(
    h("span", {}, `${total} devices`),
    h("span", { class: "online-count" }, `${online} online`),
    h("span", { class: "offline-count" }, `${offline} offline`),
  );
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("sensorfleet.theme", theme);
}

function showLogin(message) {
  current?.unmount();
  current = null;
  counts.replaceChildren();
  logout.hidden = true;
  view.replaceChildren(fromTemplate("login-tpl"));
  const error = view.querySelector("#login-error");
  if (message) {
    error.textContent = message;
    error.hidden = false;
  }
  view.querySelector("#login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    api.token.set(view.querySelector("#token-input").value.trim());
    route();
  });
  view.querySelector("#token-input").focus();
}

// Each view renders into its own element, so a view still loading when the operator moves on can
// only ever write to its own detached element, never over the view that replaced it.
async function route() {
  if (!api.token.get()) return showLogin();
  current?.unmount();
  logout.hidden = false;
  const root = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  view.replaceChildren(root);
  const match = location.hash.match(/^#\/device\/(.+)$/);
  const pages = { "#/alerts": RulesView, "#/firmware": RolloutsView };
  const Page = pages[location.hash];
  const next = match
    ? new DeviceView(root, decodeURIComponent(match[1]))
    : Page ? new Page(root) : new FleetView(root, { onCounts: showCounts });
  current = next;
  try {
    await next.mount();
    if (current === next) showBanner("");
  } catch (err) {
    if (current !== next) return;
    if (err instanceof api.AuthError) {
      api.token.clear();
      return showLogin(err.message);
    }
    root.replaceChildren(fromTemplate("failed-tpl"));
    root.querySelector(".error").textContent = err.message;
    root.querySelector("#retry").addEventListener("click", route);
    showBanner(err instanceof api.NetworkError ? err.message : "");
  }
}

// `/#token=…` signs in straight away (the demo prints such a link) and leaves the token out of the URL.
// A link never swaps a token this browser already holds without asking: anyone can send a link, and
// one that silently signed the operator in as someone else would show them someone else's fleet.
const fromLink = location.hash.match(/^#token=([^&]+)/);
if (fromLink) {
  const offered = decodeURIComponent(fromLink[1]);
  const held = api.token.get();
  if (!held || held === offered || window.confirm("This link signs in with another API token than the one this browser uses now. Replace it?")) {
    api.token.set(offered);
  }
  history.replaceState(null, "", `${location.pathname}#/`);
}

applyTheme(localStorage.getItem("sensorfleet.theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
document.getElementById("theme").addEventListener("click", () => {
  applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  route();
});
logout.addEventListener("click", () => {
  api.token.clear();
  showLogin();
});
window.addEventListener("hashchange", route);
window.addEventListener("offline", () => showBanner("This browser is offline."));
window.addEventListener("online", () => showBanner(""));
route();
