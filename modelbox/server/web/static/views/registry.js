// The registry: namespaces → models → versions (aliases, labels, metrics by dataset,
// lineage to experiment and checkpoint, artifacts), and the model's policies if any.
import { gql } from "../api.js";
import { ARTIFACTS, artifactTable, download, esc, labels, num, when } from "./util.js";

const metricsCell = (metrics) =>
  metrics.map((m) => `${esc(m.key)}${m.dataset ? ` <small>on ${esc(m.dataset)}</small>` : ""} = ${num(m.value)}`).join("<br>");

async function models(main, ctx, query) {
  const ns = query.get("ns") || ctx.namespaces[0] || "";
  const data = await gql(`query($ns: String!) { namespace(name: $ns) { models(first: 100) { totalCount edges { node {
      id name task owner labels { key value } latestVersion { version aliases } } } } } }`, { ns });
  const rows = (data.namespace?.models.edges || []).map(({ node: m }) => `<tr>
      <td><a href="#/model/${encodeURIComponent(m.id)}">${esc(m.name)}</a></td><td>${esc(m.task)}</td><td>${esc(m.owner)}</td>
      <td>${m.latestVersion ? `v${m.latestVersion.version} ${m.latestVersion.aliases.map((a) => `<span class="alias">${esc(a)}</span>`).join(" ")}` : ""}</td>
      <td>${labels(m.labels)}</td></tr>`);
  main.innerHTML = `<section class="card"><h2>Registry</h2>
    <form class="controls"><label>Namespace <select name="ns">${ctx.namespaces.filter((n) => n !== "*").map((n) => `<option ${n === ns ? "selected" : ""}>${esc(n)}</option>`).join("")}</select></label></form>
    <table class="grid" id="models"><thead><tr><th>Model</th><th>Task</th><th>Owner</th><th>Latest</th><th>Labels</th></tr></thead>
    <tbody>${rows.join("") || `<tr><td colspan=5 class=muted>No models.</td></tr>`}</tbody></table></section>`;
  main.querySelector("select").addEventListener("change", (e) => { location.hash = `#/registry?ns=${encodeURIComponent(e.target.value)}`; });
}

async function model(main, ctx, id) {
  const policies = ctx.caps.has("Model", "policies")
    ? `policies(first: 50) { edges { node { id name kind enabled dryRun
        evaluations(first: 5) { edges { node { decision reasons at subject { id } } } } } } }` : "";
  const withDataset = ctx.caps.has("MetricValue", "dataset") ? "dataset" : "";
  const { node: m } = await gql(`query($id: ID!) { node(id: $id) { ... on Model { id name task owner description
      namespace { name } labels { key value } datasets { name uri role }
      versions(first: 100) { totalCount edges { node { id version name framework aliases labels { key value }
        metrics { key value ${withDataset} } createdAt experiment { id name } checkpoint { step } } } }
      ${policies} } } }`, { id });
  if (!m) return void (main.innerHTML = `<p class="muted">No such model, or not yours to read.</p>`);
  const versions = m.versions.edges.map(({ node: v }) => `<tr>
      <td><a href="#/version/${encodeURIComponent(v.id)}">v${v.version}</a> ${esc(v.name)}</td>
      <td>${v.aliases.map((a) => `<span class="alias">${esc(a)}</span>`).join(" ")}</td><td>${labels(v.labels)}</td>
      <td>${esc(v.framework)}</td><td>${metricsCell(v.metrics)}</td>
      <td>${v.experiment ? `<a href="#/run/${encodeURIComponent(v.experiment.id)}">${esc(v.experiment.name)}</a>` : ""}${v.checkpoint ? ` @ step ${num(v.checkpoint.step)}` : ""}</td>
      <td>${when(v.createdAt)}</td></tr>`);
  const policyRows = (m.policies?.edges || []).map(({ node: p }) => `<tr><td>${esc(p.name)}</td><td>${esc(p.kind)}</td>
      <td>${p.enabled ? "enabled" : "disabled"}${p.dryRun ? " · dry run" : ""}</td>
      <td>${p.evaluations.edges.map(({ node: e }) => `<span class="decision ${esc(e.decision)}">${esc(e.decision)}</span> ${esc(e.reasons.join("; "))} <small>${when(e.at)}</small>`).join("<br>")}</td></tr>`);
  main.innerHTML = `<section class="card"><h2><a href="#/registry?ns=${encodeURIComponent(m.namespace.name)}">${esc(m.namespace.name)}</a> / ${esc(m.name)}</h2>
      <p class="muted">${esc(m.task)} · ${esc(m.owner)} · ${labels(m.labels)}</p><p>${esc(m.description)}</p>
      <p>Datasets: ${m.datasets.map((d) => `${esc(d.name)} <small>${esc(d.role)} ${esc(d.uri)}</small>`).join(", ") || "none"}</p></section>
    <section class="card"><h3>Versions <small>${m.versions.totalCount}</small></h3><table class="grid" id="versions"><thead><tr>
      <th>Version</th><th>Aliases</th><th>Labels</th><th>Framework</th><th>Metrics</th><th>Lineage</th><th>Created</th></tr></thead>
      <tbody>${versions.join("")}</tbody></table></section>
    ${policies ? `<section class="card"><h3>Policies</h3><table class="grid" id="policies"><thead><tr><th>Policy</th><th>Kind</th><th>State</th>
      <th>Latest evaluations</th></tr></thead><tbody>${policyRows.join("") || `<tr><td colspan=4 class=muted>No policies.</td></tr>`}</tbody></table></section>` : ""}`;
}

async function version(main, ctx, id) {
  const withDataset = ctx.caps.has("MetricValue", "dataset") ? "dataset" : "";
  const { node: v } = await gql(`query($id: ID!) { node(id: $id) { ... on ModelVersion { id version name description framework
      aliases labels { key value } datasets { name uri digest role } metrics { key value ${withDataset} } metadata createdAt
      model { id name namespace { name } }
      experiment { id name status } checkpoint { id step epoch metrics { key value } }
      ${ARTIFACTS} } } }`, { id });
  if (!v) return void (main.innerHTML = `<p class="muted">No such version, or not yours to read.</p>`);
  main.innerHTML = `<section class="card"><h2><a href="#/model/${encodeURIComponent(v.model.id)}">${esc(v.model.name)}</a> v${v.version}
      ${v.aliases.map((a) => `<span class="alias">${esc(a)}</span>`).join(" ")}</h2>
      <p class="muted">${esc(v.framework)} · ${when(v.createdAt)} · ${labels(v.labels)}</p><p>${esc(v.description)}</p></section>
    <div class="columns">
      <section class="card" id="lineage"><h3>Lineage</h3>
        <p>Experiment: ${v.experiment ? `<a href="#/run/${encodeURIComponent(v.experiment.id)}">${esc(v.experiment.name)}</a> <span class="status ${esc(v.experiment.status)}">${esc(v.experiment.status)}</span>` : "none"}</p>
        <p>Checkpoint: ${v.checkpoint ? `step ${num(v.checkpoint.step)}, epoch ${num(v.checkpoint.epoch)} (${v.checkpoint.metrics.map((m) => `${esc(m.key)}=${num(m.value)}`).join(", ")})` : "none"}</p></section>
      <section class="card"><h3>Metrics</h3><table class="grid" id="version-metrics"><thead><tr><th>Metric</th><th>Dataset</th><th>Value</th></tr></thead>
        <tbody>${v.metrics.map((m) => `<tr><td>${esc(m.key)}</td><td>${esc(m.dataset)}</td><td>${num(m.value)}</td></tr>`).join("")}</tbody></table>
        <p>Datasets: ${v.datasets.map((d) => `${esc(d.name)} <small>${esc(d.role)} ${esc(d.uri)}</small>`).join(", ") || "none"}</p></section>
    </div>
    <section class="card"><h3>Artifacts</h3><div id="artifacts">${artifactTable(v.artifacts.edges)}</div></section>`;
  main.querySelector("#artifacts").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-download]");
    if (!link) return;
    event.preventDefault();
    download(link.href, link.dataset.download, ctx.token).catch((e) => alert(e.message));
  });
}

export async function render(main, ctx, { name, id, query }) {
  if (name === "model") return model(main, ctx, decodeURIComponent(id));
  if (name === "version") return version(main, ctx, decodeURIComponent(id));
  return models(main, ctx, query);
}
