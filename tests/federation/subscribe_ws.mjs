#!/usr/bin/env node
// Minimal graphql-ws (graphql-transport-ws) client for tests: subscribes, prints each result as
// one JSON line on stdout, exits 0 on completion (or after --max N results), 1 on error.
//
// Usage:
//   node subscribe_ws.mjs --url ws://127.0.0.1:4000/graphql [--token "Bearer T"] [--header] \
//        [--max N] [--timeout SECONDS] 'subscription { ... }' ['{"var":1}']
//
// --token puts {"Authorization": TOKEN} into the connection_init payload (ModelBox's convention);
// with --header it is sent as an Authorization header on the WebSocket upgrade request instead.
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';

const args = process.argv.slice(2);
let url = 'ws://127.0.0.1:4000/graphql', token, asHeader = false, max = Infinity, timeout = 30;
const rest = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--url') url = args[++i];
  else if (a === '--token') token = args[++i];
  else if (a === '--header') asHeader = true;
  else if (a === '--max') max = Number(args[++i]);
  else if (a === '--timeout') timeout = Number(args[++i]);
  else rest.push(a);
}
const [query, vars] = rest;
if (!query) { console.error('usage: node subscribe_ws.mjs [--url U] [--token T] [--header] [--max N] [--timeout S] QUERY [VARIABLES_JSON]'); process.exit(2); }

class HeaderWebSocket extends WebSocket {
  constructor(address, protocols) {
    super(address, protocols, asHeader && token ? { headers: { Authorization: token } } : {});
  }
}

const client = createClient({
  url,
  webSocketImpl: HeaderWebSocket,
  lazy: true,
  retryAttempts: 0,
  connectionParams: token && !asHeader ? { Authorization: token } : {},
});

const timer = setTimeout(() => { console.error(`subscribe_ws.mjs: timeout after ${timeout}s`); process.exit(1); }, timeout * 1000);
let count = 0, failed = false;
try {
  const it = client.iterate({ query, variables: vars ? JSON.parse(vars) : undefined });
  for await (const result of it) {
    console.log(JSON.stringify(result));
    if (result.errors) failed = true;
    if (++count >= max) break;
  }
} catch (e) {
  console.error('subscribe_ws.mjs: error:', e instanceof Error ? e.message : JSON.stringify(e));
  failed = true;
}
clearTimeout(timer);
await client.dispose();
process.exit(failed ? 1 : 0);
