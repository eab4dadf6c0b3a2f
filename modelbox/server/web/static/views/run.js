// A run: live metric charts (downsampled history, then metricsLogged from the next step),
// hyperparameters, checkpoints, the events timeline and artifacts.
import { gql, subscribe } from "../api.js";
import { LiveChart } from "../charts.js";
import { ARTIFACTS, artifactTable, download, duration, esc, flatten, labels, num, when } from "./util.js";

const HISTORY = 1000;

function runQuery(caps) {
  const nonFinite = caps.has("MetricPoints", "nonFinite") ? "nonFinite { index value }" : "";
  const sameName = caps.has("Event", "sincePreviousSameName") ? "sincePreviousSameName" : "";
  return `query($id: ID!) { node(id: $id) { ... on Experiment {
    id name status owner framework task createdAt startedAt endedAt hyperparameters metadata
    labels { key value } namespace { name }
    metricSeries { key kind count lastStep
      downsampled(maxPoints: ${HISTORY}) { steps wallclocks values ${nonFinite} } }
    checkpoints(first: 100) { totalCount edges { node { id step epoch createdAt metrics { key value }
      modelVersion { id version model { name } } } } }
    events(first: 100) { totalCount edges { node { id name source wallclock sincePrevious ${sameName} } } }
    ${ARTIFACTS} } } }`;
}

// Literals, not variables, for keys and fromStep: the step's scalar is Int or Long by server version.
const LIVE = (nonFinite, key, from) => `subscription($id: ID!) {
  metricsLogged(subjectId: $id${key ? `, keys: [${JSON.stringify(key)}], fromStep: ${from}` : ""}) {
    key kind points { steps wallclocks values ${nonFinite} } } }`;

/** Bars: each event spans the time since the previous event of its name (or of any name). */
function timeline(events, sameName) {
  if (!events.length) return "<p class=muted>No events.</p>";
  const times = events.map((e) => new Date(e.wallclock).getTime() / 1000);
  const spans = events.map((e) => (sameName ? e.sincePreviousSameName : e.sincePrevious) ?? 0);
  const t0 = Math.min(...times.map((t, i) => t - spans[i]));
  const t1 = Math.max(...times);
  const total = t1 - t0 || 1;
  const names = [...new Set(events.map((e) => e.name))];
  const rows = names.map((name) => {
    const bars = events.map((e, i) => (e.name !== name ? "" : `<span class="bar" data-name="${esc(name)}"
        style="left:${(((times[i] - spans[i]) - t0) / total) * 100}%;width:${Math.max(0.3, (spans[i] / total) * 100)}%"
        title="${esc(name)} at ${when(e.wallclock)}: ${num(spans[i])} s since the previous ${sameName ? esc(name) : "event"}"></span>`)).join("");
    return `<div class="lane"><span class="lane-name">${esc(name)}</span><div class="track">${bars}</div></div>`;
  });
  return `<div class="timeline">${rows.join("")}</div><p class="muted">${duration(new Date(t0 * 1000).toISOString(), new Date(t1 * 1000).toISOString())} from first to last event.</p>`;
}

export async function render(main, ctx, { id }) {
  const id_ = decodeURIComponent(id);
  const { node: run } = await gql(runQuery(ctx.caps), { id: id_ });
  if (!run) {
    main.innerHTML = `<p class="muted">No such run, or not yours to read.</p>`;
    return null;
  }
  const sameName = ctx.caps.has("Event", "sincePreviousSameName");
  const nonFinite = ctx.caps.has("MetricPoints", "nonFinite") ? "nonFinite { index value }" : "";
  const hp = flatten(run.hyperparameters || {});
  const checkpoints = run.checkpoints.edges.map(({ node: c }) => `<tr><td>${num(c.step)}</td><td>${num(c.epoch)}</td>
      <td>${c.metrics.map((m) => `${esc(m.key)}=${num(m.value)}`).join(", ")}</td><td>${when(c.createdAt)}</td>
      <td>${c.modelVersion ? `<a href="#/version/${encodeURIComponent(c.modelVersion.id)}">${esc(c.modelVersion.model.name)} v${c.modelVersion.version}</a>` : ""}</td></tr>`);
  main.innerHTML = `<section class="card">
      <h2>${esc(run.name)} <span class="status ${esc(run.status)}">${esc(run.status)}</span></h2>
      <p class="muted">${[run.namespace.name, run.owner, run.framework, run.task].filter(Boolean).map(esc).join(" · ")}
        · started ${when(run.startedAt || run.createdAt)} · ${duration(run.startedAt || run.createdAt, run.endedAt)} ${labels(run.labels)}</p>
    </section>
    <section class="card"><h3>Metrics</h3>
      <form class="controls" id="chart-options">
        <label>Smoothing <input type="range" name="smoothing" min="0" max="0.99" step="0.01" value="0"></label>
        <label><input type="checkbox" name="log"> Log scale</label>
        <label>X axis <select name="axis"><option value="step">step</option><option value="wallclock">wallclock</option></select></label>
      </form>
      <div id="charts" class="charts"></div>
    </section>
    <div class="columns">
      <section class="card"><h3>Hyperparameters</h3><table class="grid" id="hyperparameters">
        ${Object.entries(hp).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(num(v))}</td></tr>`).join("") || "<tr><td class=muted>none</td></tr>"}</table></section>
      <section class="card"><h3>Checkpoints <small>${run.checkpoints.totalCount}</small></h3><table class="grid" id="checkpoints">
        <thead><tr><th>Step</th><th>Epoch</th><th>Metrics</th><th>Created</th><th>Version</th></tr></thead>
        <tbody>${checkpoints.join("")}</tbody></table></section>
    </div>
    <section class="card"><h3>Events <small>${run.events.totalCount}</small></h3><div id="events">${timeline(run.events.edges.map((e) => e.node), sameName)}</div></section>
    <section class="card"><h3>Artifacts</h3><div id="artifacts">${artifactTable(run.artifacts.edges)}</div></section>`;

  const holder = main.querySelector("#charts");
  const charts = new Map();
  const stops = [];
  const options = { smoothing: 0, log: false, axis: "step" };
  const chartFor = (key) => {
    if (!charts.has(key)) {
      const chart = new LiveChart(holder, key);
      chart.set(options);
      charts.set(key, chart);
    }
    return charts.get(key);
  };
  const live = (key, from) => {
    const lastSeen = { step: from - 1 };
    stops.push(subscribe(LIVE(nonFinite, key, from), { id: run.id }, {
      next: ({ metricsLogged: update }) => {
        if (update.kind !== "FLOAT") return;
        if (!key && charts.has(update.key) && !charts.get(update.key).liveOwn) return;
        const chart = chartFor(update.key);
        if (!key) chart.liveOwn = true;
        // A replay can overlap the history read just before; keep each step once.
        const p = update.points;
        const start = p.steps.findIndex((s) => s > (key ? lastSeen.step : -Infinity));
        if (start < 0) return;
        if (key) lastSeen.step = p.steps[p.steps.length - 1];
        chart.append({ steps: p.steps.slice(start), wallclocks: p.wallclocks.slice(start), values: p.values.slice(start),
          nonFinite: (p.nonFinite || []).filter((n) => n.index >= start).map((n) => ({ ...n, index: n.index - start })) });
      },
      error: (error) => holder.insertAdjacentHTML("beforebegin", `<p class="error" role="alert">${esc(error.message)}</p>`),
    }));
  };
  for (const series of run.metricSeries.filter((s) => s.kind === "FLOAT")) {
    chartFor(series.key).append(series.downsampled);
    live(series.key, (series.lastStep ?? -1) + 1);
  }
  live(null, null); // series that start after the page opened

  main.querySelector("#chart-options").addEventListener("input", (event) => {
    const f = new FormData(event.currentTarget);
    Object.assign(options, { smoothing: Number(f.get("smoothing")), log: f.has("log"), axis: f.get("axis") });
    charts.forEach((chart) => chart.set(options));
  });
  main.querySelector("#artifacts").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-download]");
    if (!link) return;
    event.preventDefault();
    download(link.href, link.dataset.download, ctx.token).catch((e) => alert(e.message));
  });
  return () => {
    stops.forEach((stop) => stop());
    charts.forEach((chart) => chart.destroy());
  };
}
