// The audit trail (ADMIN): filtered on the server, newest first, and live.
import { gql, subscribe } from "../api.js";
import { errorBox, esc, list, when } from "./util.js";

const FIELDS = "id namespace action objectType objectId actor clientAddress changes at";
const ACTIONS = ["CREATED", "UPDATED", "DELETED", "UPLOADED", "DOWNLOADED"];

const row = (e) => `<tr data-id="${esc(e.id)}"><td>${when(e.at)}</td><td>${esc(e.namespace)}</td>
  <td><span class="action ${esc(e.action)}">${esc(e.action)}</span></td><td>${esc(e.objectType)}</td>
  <td>${esc(e.actor)}</td><td>${esc(e.clientAddress)}</td>
  <td><code>${esc(JSON.stringify(e.changes ?? "")).slice(0, 160)}</code></td></tr>`;

export async function render(main, ctx, { query }) {
  const scopes = ctx.admin;
  const scope = query.get("ns") || scopes[0];
  main.innerHTML = `<section class="card"><h2>Audit trail</h2>
    <form class="controls" id="audit-filter">
      <label>Namespace <select name="ns">${scopes.map((n) => `<option value="${esc(n)}" ${n === scope ? "selected" : ""}>${n === "*" ? "All namespaces" : esc(n)}</option>`).join("")}</select></label>
      <label>Action <select name="action"><option value="">any</option>${ACTIONS.map((a) => `<option>${a}</option>`).join("")}</select></label>
      <label>Object types <input name="types" placeholder="Model, Experiment"></label>
      <label>Actors <input name="actors" placeholder="admin"></label>
      <button>Apply</button> <span id="live-state" class="muted"></span>
    </form><div id="audit"></div></section>`;
  const form = main.querySelector("#audit-filter");
  const holder = main.querySelector("#audit");
  let stop = null;

  let latest = 0;
  async function load() {
    stop?.();
    stop = null;
    const mine = ++latest; // only the newest request draws and goes live
    const f = new FormData(form);
    const ns = f.get("ns");
    const filter = {
      actions: f.get("action") ? [f.get("action")] : null,
      objectTypes: list(f.get("types")).length ? list(f.get("types")) : null,
      actors: list(f.get("actors")).length ? list(f.get("actors")) : null,
    };
    const select = `auditEvents(first: 100, filter: $filter) { totalCount edges { node { ${FIELDS} } } }`;
    let events;
    try {
      const data = ns === "*"
        ? await gql(`query($filter: AuditEventFilter) { ${select} }`, { filter })
        : await gql(`query($ns: String!, $filter: AuditEventFilter) { namespace(name: $ns) { ${select} } }`, { ns, filter });
      events = (ns === "*" ? data.auditEvents : data.namespace.auditEvents).edges.map((e) => e.node);
    } catch (error) {
      if (mine === latest) holder.innerHTML = errorBox(error);
      return;
    }
    if (mine !== latest) return;
    holder.innerHTML = `<table class="grid" id="audit-events"><thead><tr><th>At</th><th>Namespace</th><th>Action</th><th>Object</th>
      <th>Actor</th><th>From</th><th>Changes</th></tr></thead><tbody>${events.map(row).join("")}</tbody></table>`;
    const body = holder.querySelector("tbody");
    const matches = (e) => (!filter.actions || filter.actions.includes(e.action))
      && (!filter.objectTypes || filter.objectTypes.includes(e.objectType))
      && (!filter.actors || filter.actors.includes(e.actor));
    const live = main.querySelector("#live-state");
    live.textContent = "live";
    stop = subscribe(`subscription($ns: String) { auditEvents(namespace: $ns) { ${FIELDS} } }`, { ns: ns === "*" ? null : ns }, {
      next: ({ auditEvents: e }) => { if (matches(e)) body.insertAdjacentHTML("afterbegin", row(e)); },
      error: (error) => { live.textContent = `live updates stopped: ${error.message}`; },
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
  return () => stop?.();
}
