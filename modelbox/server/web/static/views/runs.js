// Runs: experiments across the namespaces the token reads, filtered, sorted and paged
// on the server, with chosen hyperparameters and metric summaries as columns.
import { gql } from "../api.js";
import { duration, errorBox, esc, flatten, list, num, when } from "./util.js";

const PAGE = 50;
const saved = (key, fallback) => localStorage.getItem(`modelbox.runs.${key}`) ?? fallback;
const save = (key, value) => localStorage.setItem(`modelbox.runs.${key}`, value);

/** MLflow-style `metrics.val_acc DESC`, `params.lr`, `start_time ASC` → ExperimentOrder. */
export function parseOrder(text) {
  const [term, dir = "DESC"] = text.trim().split(/\s+/);
  if (!term) return null;
  const direction = dir.toUpperCase() === "ASC" ? "ASC" : "DESC";
  const [kind, ...path] = term.split(".");
  if (kind === "metrics") {
    const aggs = ["last", "min", "max"];
    const agg = aggs.includes(path[path.length - 1]) && path.length > 1 ? path.pop().toUpperCase() : "LAST";
    return { metric: path.join("."), aggregate: agg, direction };
  }
  if (kind === "params") return { hyperparameter: path.join("."), direction };
  const field = kind === "attributes" ? path.join(".") : term;
  return { field: MLFLOW_FIELDS[field] || field, direction };
}

// MLflow's attribute names, for people who type what they know.
const MLFLOW_FIELDS = { start_time: "startedAt", end_time: "endedAt", run_name: "name", user_id: "owner", created: "createdAt" };

function query(ctx, scope, search) {
  const args = ["first: $first", "after: $after", "filter: $filter"];
  const vars = ["$first: Int", "$after: String", "$filter: ExperimentFilter", "$keys: [String!]"];
  if (search) {
    args.push("query: $query", "orderBy: $orderBy");
    vars.push("$query: String", "$orderBy: [ExperimentOrder!]");
  }
  const select = `experiments(${args.join(", ")}) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { node { id name status owner createdAt startedAt endedAt hyperparameters namespace { name }
        metricSeries(keys: $keys) { key last { value } min max } } } }`;
  return scope === "*"
    ? `query(${vars.join(", ")}) { ${select} }`
    : `query(${[...vars, "$ns: String!"].join(", ")}) { namespace(name: $ns) { ${select} } }`;
}

export async function render(main, ctx) {
  const search = ctx.caps.has("Namespace", "experiments", "query");
  const everywhere = ctx.caps.has("Query", "experiments");
  const scopes = [...(everywhere ? ["*"] : []), ...ctx.namespaces];
  const state = { cursors: [null], page: 0, selected: new Set() };
  main.innerHTML = `<section class="card">
    <form id="runs-filter" class="controls">
      <label>Namespace <select name="ns">${scopes.map((n) => `<option value="${esc(n)}">${n === "*" ? "All namespaces" : esc(n)}</option>`).join("")}</select></label>
      <label>Status <select name="status"><option value="">any</option>${["RUNNING", "FINISHED", "FAILED", "KILLED"].map((s) => `<option>${s}</option>`).join("")}</select></label>
      ${search ? `<label class="wide">Search <input name="query" placeholder="metrics.val_acc > 0.9 and params.lr < 0.01" value="${esc(saved("query", ""))}"></label>
      <label>Order by <input name="order" placeholder="metrics.val_acc DESC" value="${esc(saved("order", ""))}"></label>` : ""}
      <label>Hyperparameters <input name="params" placeholder="lr, optimizer.name" value="${esc(saved("params", ""))}"></label>
      <label>Metrics <input name="metrics" placeholder="loss, val_acc" value="${esc(saved("metrics", ""))}"></label>
      <button>Apply</button>
    </form>
    <div id="runs-table"></div>
    <div class="pager"><button id="prev">‹ Previous</button><span id="page"></span><button id="next">Next ›</button>
      <button id="compare" disabled>Compare selected</button></div>
  </section>`;
  const form = main.querySelector("#runs-filter");
  const table = main.querySelector("#runs-table");

  let latest = 0;
  async function load() {
    // Only the newest request draws: an older answer arriving late must not overwrite it.
    const mine = ++latest;
    const f = new FormData(form);
    for (const key of ["query", "order", "params", "metrics"]) if (f.has(key)) save(key, f.get(key));
    const params = list(f.get("params"));
    const keys = list(f.get("metrics"));
    const scope = f.get("ns");
    const variables = {
      first: PAGE, after: state.cursors[state.page], keys,
      filter: f.get("status") ? { status: f.get("status") } : null, ns: scope,
    };
    if (search) {
      variables.query = f.get("query") || null;
      const order = parseOrder(f.get("order") || "");
      variables.orderBy = order ? [order] : null;
    }
    let data;
    try {
      data = await gql(query(ctx, scope, search), variables);
    } catch (error) {
      if (mine === latest) table.innerHTML = errorBox(error);
      return;
    }
    if (mine !== latest) return;
    const connection = scope === "*" ? data.experiments : data.namespace?.experiments;
    if (!connection) {
      table.innerHTML = `<p class="muted">No such namespace.</p>`;
      return;
    }
    state.next = connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null;
    main.querySelector("#page").textContent = `page ${state.page + 1} · ${connection.totalCount} runs`;
    main.querySelector("#prev").disabled = state.page === 0;
    main.querySelector("#next").disabled = !state.next;
    const rows = connection.edges.map(({ node: run }) => {
      const hp = flatten(run.hyperparameters || {});
      const series = Object.fromEntries(run.metricSeries.map((s) => [s.key, s]));
      return `<tr data-id="${esc(run.id)}">
        <td><input type="checkbox" aria-label="select ${esc(run.name)}" ${state.selected.has(run.id) ? "checked" : ""}></td>
        <td><a href="#/run/${encodeURIComponent(run.id)}">${esc(run.name)}</a></td>
        <td>${esc(run.namespace.name)}</td><td><span class="status ${esc(run.status)}">${esc(run.status)}</span></td>
        <td>${esc(run.owner)}</td><td>${when(run.startedAt || run.createdAt)}</td>
        <td>${run.endedAt || run.status === "RUNNING" ? duration(run.startedAt || run.createdAt, run.endedAt) : ""}</td>
        ${params.map((p) => `<td>${esc(num(hp[p]))}</td>`).join("")}
        ${keys.map((k) => {
          const s = series[k];
          return `<td title="min ${num(s?.min)} · max ${num(s?.max)}">${s ? `${num(s.last?.value)} <small>(${num(s.min)}–${num(s.max)})</small>` : ""}</td>`;
        }).join("")}
      </tr>`;
    });
    table.innerHTML = `<table class="grid" id="runs"><thead><tr><th></th><th>Run</th><th>Namespace</th><th>Status</th>
      <th>Owner</th><th>Started</th><th>Duration</th>${params.map((p) => `<th>${esc(p)}</th>`).join("")}
      ${keys.map((k) => `<th>${esc(k)} <small>last (min–max)</small></th>`).join("")}</tr></thead>
      <tbody>${rows.join("") || `<tr><td colspan="99" class="muted">No runs.</td></tr>`}</tbody></table>`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.cursors = [null];
    state.page = 0;
    load();
  });
  main.querySelector("#next").addEventListener("click", () => {
    state.cursors[++state.page] = state.next;
    load();
  });
  main.querySelector("#prev").addEventListener("click", () => {
    state.page = Math.max(0, state.page - 1);
    load();
  });
  table.addEventListener("change", (event) => {
    const id = event.target.closest("tr")?.dataset.id;
    if (!id) return;
    if (event.target.checked) state.selected.add(id);
    else state.selected.delete(id);
    main.querySelector("#compare").disabled = state.selected.size < 2;
  });
  main.querySelector("#compare").addEventListener("click", () => {
    location.hash = `#/compare?ids=${[...state.selected].map(encodeURIComponent).join(",")}`;
  });
  await load();
}
