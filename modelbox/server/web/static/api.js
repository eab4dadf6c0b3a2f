// The public GraphQL API, as any frontend would use it: POST /graphql, and one
// graphql-transport-ws socket shared by every subscription of the page.

const TOKEN_KEY = "modelbox.token";

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.code = errors[0]?.extensions?.code;
  }
}

export async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${session.token()}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new ApiError(body.errors);
  return body.data;
}

let socket = null;

function openSocket() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const ws = new WebSocket(url, "graphql-transport-ws");
  const state = { ws, ready: false, queue: [], subs: new Map(), next: 1 };
  ws.onopen = () => send(state, { type: "connection_init", payload: { Authorization: `Bearer ${session.token()}` } });
  ws.onmessage = (message) => {
    const msg = JSON.parse(message.data);
    if (msg.type === "connection_ack") {
      state.ready = true;
      state.queue.splice(0).forEach((m) => send(state, m));
    } else if (msg.type === "ping") {
      send(state, { type: "pong" });
    } else {
      const sub = state.subs.get(msg.id);
      if (!sub) return;
      if (msg.type === "next") {
        if (msg.payload.errors?.length) sub.error(new ApiError(msg.payload.errors));
        else sub.next(msg.payload.data);
      } else if (msg.type === "error") {
        state.subs.delete(msg.id);
        sub.error(new ApiError(msg.payload));
      } else if (msg.type === "complete") {
        state.subs.delete(msg.id);
        sub.complete?.();
      }
    }
  };
  ws.onclose = (event) => {
    if (socket === state) socket = null;
    const reason = new ApiError([{ message: `live updates closed (${event.code} ${event.reason})` }]);
    state.subs.forEach((sub) => sub.error(reason));
    state.subs.clear();
  };
  return state;
}

function send(state, message) {
  if (message.type === "subscribe" && !state.ready) state.queue.push(message);
  else state.ws.send(JSON.stringify(message));
}

/** Subscribe; returns a function that ends the subscription. */
export function subscribe(query, variables, handlers) {
  socket = socket || openSocket();
  const state = socket;
  const id = String(state.next++);
  state.subs.set(id, handlers);
  send(state, { id, type: "subscribe", payload: { query, variables } });
  return () => {
    if (state.subs.delete(id) && state.ws.readyState === WebSocket.OPEN) {
      send(state, { id, type: "complete" });
    }
  };
}

/** The fields (and their arguments) of each type, so the pages use what the server offers. */
export async function capabilities() {
  const data = await gql(`{ __schema { types { name fields { name args { name } } } } }`);
  const fields = {};
  for (const type of data.__schema.types) {
    for (const field of type.fields || []) {
      fields[`${type.name}.${field.name}`] = new Set(field.args.map((a) => a.name));
    }
  }
  return {
    has: (type, field, arg) => {
      const args = fields[`${type}.${field}`];
      return Boolean(args && (arg === undefined || args.has(arg)));
    },
  };
}
