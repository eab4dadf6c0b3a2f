// The dashboard: sign in with a token, then pages chosen by the URL's hash.
import { capabilities, gql, session } from "./api.js";
import { errorBox } from "./views/util.js";
import * as audit from "./views/audit.js";
import * as compare from "./views/compare.js";
import * as registry from "./views/registry.js";
import * as run from "./views/run.js";
import * as runs from "./views/runs.js";

const main = document.getElementById("main");
const pages = { runs, run, compare, registry, model: registry, version: registry, audit };
let context = null;
let leave = null;
let routed = 0;

async function signIn(token) {
  session.signIn(token);
  const { viewer } = await gql(`{ viewer { name roles { namespace role } } }`);
  const caps = await capabilities();
  const all = viewer.roles.some((r) => r.namespace === "*");
  const namespaces = all
    ? (await gql(`{ namespaces(first: 100) { edges { node { name } } } }`)).namespaces.edges.map((e) => e.node.name)
    : [...new Set(viewer.roles.map((r) => r.namespace))];
  const admin = viewer.roles.filter((r) => r.role === "ADMIN").map((r) => r.namespace);
  context = { viewer, caps, namespaces, admin, token };
  document.getElementById("who").textContent = viewer.name;
  document.getElementById("nav").hidden = false;
  document.getElementById("nav-audit").hidden = admin.length === 0;
  document.getElementById("sign-out").hidden = false;
}

function showSignIn(error) {
  leave?.();
  leave = null;
  routed++; // a page still loading is not drawn over the sign-in form
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "";
  main.innerHTML = `<form id="sign-in" class="card narrow">
      <h2>Sign in</h2>
      <label>API token <input name="token" type="password" autocomplete="off" required autofocus></label>
      <button>Sign in</button>
      ${error ? errorBox(error) : ""}
      <p class="muted">The token stays in this tab's session storage.</p>
    </form>`;
  main.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signIn(new FormData(event.target).get("token").trim());
      route();
    } catch (e) {
      session.signOut();
      showSignIn(e);
    }
  });
}

async function route() {
  if (!context) return showSignIn();
  leave?.();
  leave = null;
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  const page = pages[name] || runs;
  document.querySelectorAll("#nav a[data-view]").forEach((a) => {
    a.classList.toggle("active", a.dataset.view === (name || "runs") || (name === "run" && a.dataset.view === "runs"));
  });
  // Each route draws into its own element: a page still loading when the next route
  // starts (sign-in's first page, then a click) draws into a detached one, not over it.
  const turn = ++routed;
  const view = document.createElement("div");
  view.innerHTML = `<p class="muted">Loading…</p>`;
  main.replaceChildren(view);
  try {
    const left = (await page.render(view, context, { name, id: rest.join("/"), query: new URLSearchParams(query) })) || null;
    if (turn !== routed) return left?.(); // superseded: stop its live updates
    leave = left;
  } catch (error) {
    if (turn !== routed) return;
    if (error.code === "UNAUTHENTICATED") {
      context = null;
      session.signOut();
      return showSignIn(error);
    }
    view.innerHTML = errorBox(error);
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  context = null;
  showSignIn();
});
window.addEventListener("hashchange", route);

(async () => {
  const token = session.token();
  if (!token) return showSignIn();
  try {
    await signIn(token);
    route();
  } catch (error) {
    session.signOut();
    showSignIn(error);
  }
})();

