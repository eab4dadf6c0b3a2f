// Small helpers shared by the pages.

export const esc = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function el(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

export function duration(startIso, endIso) {
  if (!startIso) return "";
  const seconds = ((endIso ? new Date(endIso) : new Date()) - new Date(startIso)) / 1000;
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export const num = (v) =>
  v == null ? "" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);

/** `{"optimizer": {"lr": 0.1}}` → `{"optimizer.lr": 0.1}`. */
export function flatten(value, prefix = "", out = {}) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

export const list = (text) =>
  (text || "").split(",").map((s) => s.trim()).filter(Boolean);

export const labels = (items) =>
  items.map((l) => `<span class="tag">${esc(l.key)}=${esc(l.value)}</span>`).join(" ");

export const errorBox = (error) =>
  `<p class="error" role="alert">${esc(error.message)}${error.code ? ` <code>${esc(error.code)}</code>` : ""}</p>`;

/** Download with the token (a plain link cannot send it), then save as the artifact's name. */
export async function download(url, name, token) {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`download failed: ${response.status}`);
  const href = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href, download: name.split("/").pop() });
  link.click();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

export function artifactTable(edges) {
  if (!edges.length) return "<p class=muted>No artifacts.</p>";
  const rows = edges.map(({ node: a }) => `<tr><td>${a.downloadUrl
    ? `<a href="${esc(a.downloadUrl)}" data-download="${esc(a.name)}">${esc(a.name)}</a>` : esc(a.name)}</td>
    <td>${esc(a.state)}</td><td>${num(a.size)}</td><td><code>${esc((a.sha256 || "").slice(0, 12))}</code></td></tr>`);
  return `<table class="grid"><thead><tr><th>Artifact</th><th>State</th><th>Bytes</th><th>sha256</th></tr></thead>
    <tbody>${rows.join("")}</tbody></table>`;
}

export const ARTIFACTS = `artifacts(first: 100) { edges { node { id name state size sha256 downloadUrl } } }`;
