// Talks to the sensorfleet HTTP API with the bearer token; the only module that knows URLs and shapes.

export class AuthError extends Error {}
// A 403: the token is good but lacks the scope. The API does not say a token's scope beforehand, so a
// view learns it from this answer.
export class ScopeError extends AuthError {}
export class NetworkError extends Error {}

const TOKEN_KEY = "sensorfleet.token";

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

async function request(path, options = {}, accept = []) {
  let response;
  try {
    response = await fetch(path, {
      ...options,
      headers: { Authorization: `Bearer ${token.get() || ""}`, ...(options.headers || {}) },
    });
  } catch (err) {
    throw new NetworkError(`The server is unreachable (${err.message}).`);
  }
  if (response.status === 401) throw new AuthError("This token was not accepted.");
  if (response.status === 403) throw new ScopeError(`This token lacks the scope for that (${await detailOf(response)}).`);
  if (!response.ok && !accept.includes(response.status)) throw new Error(`${response.status}: ${await detailOf(response)}`);
  return response;
}

async function detailOf(response) {
  try {
    const body = await response.json();
    return describe(body.detail ?? body);
  } catch (_) {
    return response.statusText; // not JSON
  }
}

// A 422's detail is a list of {loc, msg}: "webhooks.0: URL scheme should be 'http' or 'https'".
function describe(detail) {
  if (typeof detail === "string") return detail;
  if (!Array.isArray(detail)) return JSON.stringify(detail);
  return detail.map((e) => {
    const where = (Array.isArray(e?.loc) ? e.loc : []).filter((part) => part !== "body").join(".");
    return `${where ? `${where}: ` : ""}${e?.msg ?? JSON.stringify(e)}`;
  }).join("; ");
}

const json = async (path, options, accept) => (await request(path, options, accept)).json();

// One page of the device list, in id order: {devices, next (the `after` of the following page, null on
// the last), total (the whole fleet's count)}. `limit` is 1–500.
export async function listDevicesPage(after = "", limit = 500) {
  const body = await json(`/api/v1/devices?${new URLSearchParams({ limit: String(limit), after })}`);
  const devices = Array.isArray(body.devices) ? body.devices : [];
  return { devices, next: body.next || null, total: Number.isFinite(body.total) ? body.total : null };
}

export const getDevice = (id) => json(`/api/v1/devices/${encodeURIComponent(id)}`);

// Dead letters without their payloads (a read token's view): { total, newest: [{id, reason, device,
// received, topic, size}], counts: Map(device → count) }. With `device`, the total and newest are that
// device's. The per-device counts come a page at a time, like the devices.
export async function getDeadLetterSummary(device) {
  const counts = new Map();
  if (device) {
    const body = await json(`/api/v1/dead-letters/summary?${new URLSearchParams({ device, limit: "1" })}`);
    return { total: Number(body.total) || 0, newest: Array.isArray(body.newest) ? body.newest : [], counts };
  }
  let after = "";
  let first = null;
  do {
    const q = new URLSearchParams({ limit: "500", after });
    const body = await json(`/api/v1/dead-letters/summary?${q}`);
    first ??= body;
    for (const { device: id, count } of Array.isArray(body.devices) ? body.devices : []) counts.set(id, Number(count) || 0);
    after = body.next;
  } while (after);
  return { total: Number(first.total) || 0, newest: Array.isArray(first.newest) ? first.newest : [], counts };
}

// Newest first: [{at, online, fw, boot, changed: ["online"|"boot"|"fw"], retained}].
export async function getStatusHistory(id, limit = 100) {
  const body = await json(`/api/v1/devices/${encodeURIComponent(id)}/status-history?limit=${limit}`);
  return body.changes;
}

export function getSeries(id, metric, { start, end, maxPoints, agg = "mean" }) {
  const q = new URLSearchParams({ metric, start, agg, max_points: String(maxPoints) });
  if (end) q.set("end", end);
  return json(`/api/v1/devices/${encodeURIComponent(id)}/series?${q}`);
}

// Resolves to the command as the API reports it: status ok, error, or timeout (504: no answer yet).
export async function sendCommand(id, op, args, waitSeconds = 10) {
  const options = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ op, args }) };
  return json(`/api/v1/devices/${encodeURIComponent(id)}/commands?wait=${waitSeconds}`, options, [504]);
}

export async function downloadCsv(id, { start, end }) {
  const q = new URLSearchParams({ start });
  if (end) q.set("end", end);
  const blob = await (await request(`/api/v1/devices/${encodeURIComponent(id)}/export.csv?${q}`)).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${id}.csv`;
  link.click();
  URL.revokeObjectURL(link.href);
}

// Alerts newest first, with their notifications: {alerts, next}. `state: "active"` gives the pending and
// firing ones (all of them, in one answer); otherwise `next` is the `before` of the following page.
export function listAlerts({ state, device, before, limit }) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries({ state, device, before, limit })) if (value != null) q.set(key, String(value));
  return json(`/api/v1/alerts?${q}`);
}

export const listRules = async () => (await json("/api/v1/alert-rules")).rules;

export const addRule = (rule) =>
  json("/api/v1/alert-rules", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(rule) });

export const removeRule = (name) => request(`/api/v1/alert-rules/${encodeURIComponent(name)}`, { method: "DELETE" });

// {url: null (it took the test) or the error}
export const testRule = async (name) =>
  (await json(`/api/v1/alert-rules/${encodeURIComponent(name)}/test`, { method: "POST" })).results;

// Server-Sent Events read through fetch, because EventSource cannot send an Authorization header.
// Calls onEvent(type, data) for each event; reconnects with backoff until the signal aborts.
export async function stream(onEvent, { device, signal, onState }) {
  let delay = 1000;
  while (!signal.aborted) {
    try {
      const q = device ? `?device=${encodeURIComponent(device)}` : "";
      const response = await request(`/api/v1/stream${q}`, { signal, headers: { Accept: "text/event-stream" } });
      onState?.(true);
      delay = 1000;
      await readEvents(response.body, onEvent);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof AuthError) throw err;
    }
    onState?.(false);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 15000);
  }
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(type, JSON.parse(data.join("\n")));
    }
  }
}

// Firmware and rollouts: admin tokens only (a ScopeError otherwise).
export const getFirmware = () => json("/api/v1/firmware");
export const listRollouts = async () => (await json("/api/v1/rollouts")).rollouts;
export const getRollout = (id) => json(`/api/v1/rollouts/${encodeURIComponent(id)}`);
export const haltRollout = (id) => json(`/api/v1/rollouts/${encodeURIComponent(id)}/halt`, { method: "POST" });
export const resumeRollout = (id) => json(`/api/v1/rollouts/${encodeURIComponent(id)}/resume`, { method: "POST" });
