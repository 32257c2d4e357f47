// uPlot charts: a time-series chart per metric and a small sparkline. uPlot is loaded by index.html.

import { unitOf } from "./format.js";

// The theme's colours, read once per call: reading computed styles forces a style recalculation.
export function palette() {
  const style = getComputedStyle(document.documentElement);
  const css = (name) => style.getPropertyValue(name).trim();
  return { accent: css("--accent"), fill: css("--accent-fill"), muted: css("--fg-muted"), grid: css("--grid") };
}

// uPlot wants columns [[x...], [y...]] with x in seconds.
const columns = (points) => [points.map((p) => p[0] / 1000), points.map((p) => p[1])];

// `width` and `colors` come from the caller, which measures once for a whole fleet of sparklines.
export function sparkline(el, points, { width, colors }) {
  return new uPlot(
    {
      width, height: 36, cursor: { show: false }, legend: { show: false }, select: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: true } },
      series: [{}, { stroke: colors.accent, width: 1.5, points: { show: false } }],
    },
    columns(points),
    el,
  );
}

// As many decimals as the tick spacing needs, so neighbouring ticks never read the same.
function tickLabels(ticks, unit) {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const decimals = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step || 1))));
  return ticks.map((t) => `${t.toFixed(decimals)}${unit ? ` ${unit}` : ""}`);
}

// The value axis as wide as its longest label ("1011.84 hPa" does not fit a fixed width); uPlot calls
// this again after the labels change, and a second cycle keeps the size it has to stop re-layouting.
function fitLabels(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), "");
  u.ctx.font = axis.font[0];
  return Math.ceil(axis.ticks.size + axis.gap + u.ctx.measureText(longest).width / devicePixelRatio);
}

export class TimeChart {
  constructor(el, metric, points, { onZoom } = {}) {
    this.el = el;
    this.data = columns(points);
    const unit = unitOf(metric);
    const colors = palette();
    this.plot = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 220,
        scales: { x: { time: true } },
        axes: [
          { stroke: colors.muted, grid: { stroke: colors.grid } },
          { stroke: colors.muted, grid: { stroke: colors.grid }, size: fitLabels,
            values: (u, ticks) => tickLabels(ticks, unit) },
        ],
        series: [
          {},
          { label: metric, stroke: colors.accent, width: 2, fill: colors.fill, points: { show: points.length < 60 } },
        ],
        hooks: onZoom ? { setSelect: [(u) => u.select.width > 0 && onZoom(u)] } : {},
      },
      this.data,
      el,
    );
  }

  get pointCount() {
    return this.data[0].length;
  }

  append(tsMs, value) {
    const x = tsMs / 1000;
    const xs = this.data[0];
    if (xs.length && x <= xs[xs.length - 1]) return;
    this.data = [[...xs, x], [...this.data[1], value]];
    this.plot.setData(this.data);
  }

  resize() {
    this.plot.setSize({ width: this.el.clientWidth, height: 220 });
  }

  destroy() {
    this.plot.destroy();
  }
}
