// How values, times and units read on the page.

const UNITS = [
  [/temp/i, "°C"], [/humid/i, "%"], [/pressure/i, "hPa"], [/volt|vbat|battery/i, "V"],
  [/rssi/i, "dBm"], [/co2/i, "ppm"], [/lux|light/i, "lx"],
];

export function unitOf(metric) {
  const hit = UNITS.find(([pattern]) => pattern.test(metric));
  return hit ? hit[1] : "";
}

export function formatValue(value, metric) {
  if (typeof value === "boolean") return value ? "on" : "off";
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const unit = unitOf(metric);
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ""}`;
}

export function ago(ms, now = Date.now()) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function toMs(value) {
  if (value == null) return null;
  if (typeof value === "number") return value < 1e11 ? value * 1000 : value;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

// A rule's durations: 90 → "90 s", 300 → "5 min", 7200 → "2 h".
export function duration(seconds) {
  const s = Number(seconds);
  if (s >= 86400 && s % 86400 === 0) return `${s / 86400} d`;
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

export const timeOf = (ms) => new Date(ms).toLocaleString();
