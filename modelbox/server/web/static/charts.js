// Charts on uPlot: one live chart per metric of a run, an overlay for comparing runs,
// and a scatter of a hyperparameter against a metric.

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];
// Past this many points a chart re-decimates what it holds, so a long live run stays smooth.
const MAX_POINTS = 4000;

/** Indices of the first, min, max and last point of each of `buckets` ranges (M4). */
export function decimate(ys, buckets) {
  const n = ys.length;
  if (n <= buckets * 4) return ys.map((_, i) => i);
  const keep = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets), end = Math.floor(((b + 1) * n) / buckets);
    let lo = start, hi = start;
    for (let i = start; i < end; i++) {
      if (ys[i] != null && (ys[lo] == null || ys[i] < ys[lo])) lo = i;
      if (ys[i] != null && (ys[hi] == null || ys[i] > ys[hi])) hi = i;
    }
    keep.push(...[...new Set([start, lo, hi, end - 1])].sort((a, b) => a - b));
  }
  return keep;
}

/** Exponential moving average, debiased like TensorBoard's; weight 0 leaves the values. */
export function smooth(values, weight) {
  if (!weight) return values;
  let last = 0, count = 0;
  return values.map((v) => {
    if (v == null || !Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    count++;
    return last / (1 - weight ** count);
  });
}

function size(el) {
  return { width: Math.max(280, el.clientWidth - 8), height: 220 };
}

export class LiveChart {
  constructor(container, key) {
    this.el = document.createElement("div");
    this.el.className = "chart";
    this.el.dataset.key = key;
    this.el.innerHTML = `<h4>${key}</h4>`;
    container.append(this.el);
    this.key = key;
    this.steps = [];
    this.wallclocks = [];
    this.values = [];
    this.options = { smoothing: 0, log: false, axis: "step" };
    this.plot = null;
    this.pending = false;
  }

  /** Points as the API sends them (MetricPoints), oldest first. */
  append(points) {
    const values = points.values.slice();
    for (const nf of points.nonFinite || []) values[nf.index] = null;
    this.steps.push(...points.steps);
    this.wallclocks.push(...points.wallclocks);
    this.values.push(...values);
    if (this.steps.length > MAX_POINTS) {
      const keep = decimate(this.values, MAX_POINTS / 8);
      [this.steps, this.wallclocks, this.values] = [this.steps, this.wallclocks, this.values].map(
        (column) => keep.map((i) => column[i]),
      );
    }
    if (this.steps.length) this.el.dataset.lastStep = String(this.steps[this.steps.length - 1]);
    this.el.dataset.points = String(this.steps.length);
    this.schedule();
  }

  set(options) {
    Object.assign(this.options, options);
    this.plot?.destroy();
    this.plot = null;
    this.schedule();
  }

  // One redraw per animation frame, however many updates arrive in it.
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const xs = this.options.axis === "wallclock" ? this.wallclocks : this.steps;
    const raw = this.options.log ? this.values.map((v) => (v > 0 ? v : null)) : this.values;
    const data = [xs, raw];
    const series = [{ label: this.options.axis }, { label: this.key, stroke: PALETTE[0], width: 1 }];
    if (this.options.smoothing) {
      series[1].stroke = "#93c5fd";
      series.push({ label: "smoothed", stroke: PALETTE[0], width: 2 });
      data.push(smooth(raw, this.options.smoothing));
    }
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    this.plot = new uPlot(
      {
        ...size(this.el),
        scales: { x: { time: this.options.axis === "wallclock" }, y: { distr: this.options.log ? 3 : 1 } },
        series,
        legend: { live: true },
      },
      data,
      this.el,
    );
  }

  destroy() {
    this.plot?.destroy();
    this.el.remove();
  }
}

/** One metric of several runs on one step axis. `runs`: [{label, steps, values}]. */
export function overlay(container, key, runs) {
  const el = document.createElement("div");
  el.className = "chart";
  el.dataset.key = key;
  el.dataset.series = String(runs.length);
  el.innerHTML = `<h4>${key}</h4>`;
  container.append(el);
  const tables = runs.map((r) => [r.steps, r.values]);
  const data = tables.length ? uPlot.join(tables) : [[]];
  const series = [{ label: "step" }, ...runs.map((r, i) => ({ label: r.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true }))];
  return new uPlot({ ...size(el), scales: { x: { time: false } }, series }, data, el);
}

/** Each run as a dot: a hyperparameter (x) against a metric (y), in SVG. */
export function scatter(container, points, xLabel, yLabel) {
  const W = 520, H = 300, P = 48;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => P + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * P);
  const sy = (y) => H - P - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * P);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const dots = points
    .map((p, i) => `<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="5" fill="${PALETTE[i % PALETTE.length]}"><title>${esc(p.label)}: ${p.x}, ${p.y}</title></circle>`)
    .join("");
  const el = document.createElement("div");
  el.className = "scatter";
  el.dataset.points = String(points.length);
  el.innerHTML = `<svg width="${W}" height="${H}" role="img">
    <line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="#999"/>
    <line x1="${P}" y1="${P}" x2="${P}" y2="${H - P}" stroke="#999"/>
    <text x="${W / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)} (${x0} – ${x1})</text>
    <text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">${esc(yLabel)} (${y0.toPrecision(3)} – ${y1.toPrecision(3)})</text>
    ${dots}</svg>`;
  container.append(el);
  return el;
}
