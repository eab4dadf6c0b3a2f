#!/usr/bin/env node
// Compose subgraphs into a supergraph with @apollo/composition (default) or, with
// --composer guild, The Guild's @theguild/federation-composition.
//
// Usage:
//   node compose.mjs --out supergraph.graphql [--composer apollo|guild] NAME=URL=SCHEMA_FILE ...
//   node compose.mjs --out supergraph.graphql NAME=URL            # SDL fetched from URL via { _service { sdl } }
//
// URL is the subgraph's HTTP GraphQL endpoint (e.g. http://127.0.0.1:8000/graphql); it is
// written into the supergraph's join__graph(url:) and is where gateways send queries.
// Gateways derive the WebSocket URL for subscriptions from it (http -> ws) unless configured.
// Exits 1 (printing every error) when composition fails; prints hints to stderr.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'graphql';
import { composeServices as composeWithApollo } from '@apollo/composition';
import { composeServices as composeWithGuild } from '@theguild/federation-composition';

const COMPOSERS = { apollo: composeWithApollo, guild: composeWithGuild };

function usage(msg) {
  if (msg) console.error(`compose.mjs: ${msg}`);
  console.error('usage: node compose.mjs --out FILE [--composer apollo|guild] NAME=URL[=SCHEMA_FILE] ...');
  process.exit(2);
}

const args = process.argv.slice(2);
let out;
let composer = 'apollo';
const specs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--out' || a === '-o') out = args[++i];
  else if (a.startsWith('--out=')) out = a.slice(6);
  else if (a === '--composer') composer = args[++i];
  else if (a === '-h' || a === '--help') usage();
  else specs.push(a);
}
if (!out) usage('--out is required');
if (!COMPOSERS[composer]) usage(`--composer must be apollo or guild, got ${composer}`);
if (specs.length === 0) usage('at least one subgraph NAME=URL[=SCHEMA_FILE] is required');

async function fetchSdl(url) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(process.env.COMPOSE_AUTHORIZATION ? { authorization: process.env.COMPOSE_AUTHORIZATION } : {}),
    },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const body = await res.json();
  if (!body?.data?._service?.sdl) throw new Error(`no _service.sdl from ${url}: ${JSON.stringify(body).slice(0, 500)}`);
  return body.data._service.sdl;
}

const services = [];
for (const spec of specs) {
  // NAME=URL=PATH ; URL contains ':' but never '=' in our use; split on first and last '='.
  const first = spec.indexOf('=');
  if (first <= 0) usage(`bad subgraph spec: ${spec}`);
  const name = spec.slice(0, first);
  const rest = spec.slice(first + 1);
  let url, path;
  const m = rest.match(/^(.*?)=([^=]+)$/);
  if (m && !/^https?:\/\/[^=]*$/.test(rest)) { url = m[1]; path = m[2]; } else { url = rest; }
  if (!/^https?:\/\//.test(url)) usage(`subgraph ${name}: URL must start with http(s)://, got ${url}`);
  let sdl;
  try {
    sdl = path ? readFileSync(path, 'utf8') : await fetchSdl(url);
  } catch (e) {
    console.error(`compose.mjs: cannot read schema of subgraph ${name}: ${e.message}`);
    process.exit(1);
  }
  let typeDefs;
  try {
    typeDefs = parse(sdl);
  } catch (e) {
    console.error(`compose.mjs: subgraph ${name}: SDL parse error: ${e.message}`);
    process.exit(1);
  }
  services.push({ name, url, typeDefs });
}

const result = COMPOSERS[composer](services);
for (const h of result.hints ?? []) console.error(`hint: [${h.definition?.code ?? 'HINT'}] ${h.message}`);
if (result.errors && result.errors.length) {
  console.error(`composition failed with ${result.errors.length} error(s):`);
  for (const e of result.errors) console.error(`  [${e.extensions?.code ?? 'ERROR'}] ${e.message}`);
  process.exit(1);
}
writeFileSync(out, result.supergraphSdl);
console.error(`compose.mjs: wrote supergraph of ${services.length} subgraph(s) to ${out}`);
