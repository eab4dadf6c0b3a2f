// Compare runs: one metric of each overlaid (downsampled on the server, one request),
// and a scatter of a hyperparameter against that metric's last value.
import { gql } from "../api.js";
import { overlay, scatter } from "../charts.js";
import { esc, flatten, num } from "./util.js";

const QUERY = `query($ids: [ID!]!, $key: String!) { nodes(ids: $ids) { ... on Experiment {
  id name hyperparameters metricSeries { key }
  metric(key: $key) { last { value } min max downsampled(maxPoints: 1000) { steps values } } } } }`;

export async function render(main, ctx, { query }) {
  const ids = (query.get("ids") || "").split(",").filter(Boolean).map(decodeURIComponent);
  if (ids.length < 2) {
    main.innerHTML = `<p class="card muted">Pick two or more runs in the <a href="#/runs">runs table</a> and press “Compare selected”.</p>`;
    return null;
  }
  let key = query.get("key") || "";
  let runs = (await gql(QUERY, { ids, key })).nodes.filter(Boolean);
  const keys = [...new Set(runs.flatMap((r) => r.metricSeries.map((s) => s.key)))].sort();
  if (!key && keys.length) {
    key = keys[0];
    runs = (await gql(QUERY, { ids, key })).nodes.filter(Boolean);
  }
  const params = [...new Set(runs.flatMap((r) => Object.entries(flatten(r.hyperparameters || {}))
    .filter(([, v]) => typeof v === "number").map(([k]) => k)))].sort();
  const param = query.get("param") || params[0] || "";
  main.innerHTML = `<section class="card"><h2>Compare ${runs.length} runs</h2>
      <form class="controls" id="compare-form">
        <label>Metric <select name="key">${keys.map((k) => `<option ${k === key ? "selected" : ""}>${esc(k)}</option>`).join("")}</select></label>
        <label>Hyperparameter <select name="param">${params.map((p) => `<option ${p === param ? "selected" : ""}>${esc(p)}</option>`).join("")}</select></label>
      </form>
      <div id="overlay"></div></section>
    <div class="columns">
      <section class="card"><h3>${esc(param)} against ${esc(key)} (last)</h3><div id="scatter"></div></section>
      <section class="card"><h3>Runs</h3><table class="grid" id="compare-runs"><thead><tr><th>Run</th><th>${esc(param)}</th>
        <th>${esc(key)} last</th><th>min</th><th>max</th></tr></thead><tbody>${runs.map((r) => `<tr>
        <td><a href="#/run/${encodeURIComponent(r.id)}">${esc(r.name)}</a></td><td>${num(flatten(r.hyperparameters || {})[param])}</td>
        <td>${num(r.metric?.last?.value)}</td><td>${num(r.metric?.min)}</td><td>${num(r.metric?.max)}</td></tr>`).join("")}</tbody></table></section>
    </div>`;
  const plotted = runs.filter((r) => r.metric);
  const chart = overlay(main.querySelector("#overlay"), key, plotted.map((r) => ({
    label: r.name, steps: r.metric.downsampled.steps, values: r.metric.downsampled.values,
  })));
  const dots = plotted
    .map((r) => ({ label: r.name, x: flatten(r.hyperparameters || {})[param], y: r.metric.last?.value }))
    .filter((p) => typeof p.x === "number" && typeof p.y === "number");
  if (dots.length) scatter(main.querySelector("#scatter"), dots, param, key);
  else main.querySelector("#scatter").innerHTML = `<p class="muted">No run has both.</p>`;
  main.querySelector("#compare-form").addEventListener("change", (event) => {
    const f = new FormData(event.currentTarget);
    const ids_ = ids.map(encodeURIComponent).join(",");
    location.hash = `#/compare?ids=${ids_}&key=${encodeURIComponent(f.get("key"))}&param=${encodeURIComponent(f.get("param") || "")}`;
  });
  return () => chart.destroy();
}
