#!/usr/bin/env node
// Apollo Gateway (@apollo/gateway + @apollo/server) serving a composed supergraph, queries and
// mutations only (Apollo Gateway does not support subscriptions).
//
// Usage: node apollo_gateway.mjs --supergraph /path/to/supergraph.graphql [--port 4001] [--host 127.0.0.1]
//        (or env SUPERGRAPH, PORT, HOST). Endpoint: POST http://HOST:PORT/graphql (also /).
//
// The client's Authorization header is forwarded to every subgraph request by a
// RemoteGraphQLDataSource.willSendRequest hook.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';

const args = process.argv.slice(2);
const opt = (name, env, dflt) => {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  if (eq) return eq.slice(name.length + 3);
  return process.env[env] ?? dflt;
};
const supergraphPath = opt('supergraph', 'SUPERGRAPH');
const port = Number(opt('port', 'PORT', 4001));
const host = opt('host', 'HOST', '127.0.0.1');
if (!supergraphPath) {
  console.error('usage: node apollo_gateway.mjs --supergraph FILE [--port 4001] [--host 127.0.0.1]');
  process.exit(2);
}

class AuthForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context?.authorization) request.http.headers.set('authorization', context.authorization);
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath, 'utf8'),
  buildService: ({ url }) => new AuthForwardingDataSource({ url }),
});

const server = new ApolloServer({ gateway, csrfPrevention: false, stopOnTerminationSignals: false });
await server.start();

const httpServer = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, `http://${req.headers.host ?? 'localhost'}`);
    if (url.pathname === '/health') { res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'); return; }
    if (url.pathname !== '/graphql' && url.pathname !== '/') { res.writeHead(404).end('not found'); return; }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    const headers = new HeaderMap();
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    const isJson = (headers.get('content-type') ?? '').includes('json');
    const result = await server.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method.toUpperCase(), headers, search: url.search, body: raw && isJson ? JSON.parse(raw) : raw },
      context: async () => ({ authorization: req.headers.authorization }),
    });
    for (const [k, v] of result.headers) res.setHeader(k, v);
    res.statusCode = result.status ?? 200;
    if (result.body.kind === 'complete') res.end(result.body.string);
    else { for await (const chunk of result.body.asyncIterator) res.write(chunk); res.end(); }
  } catch (e) {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: String(e?.message ?? e) }] }));
  }
});
httpServer.listen(port, host, () => console.error(`apollo gateway ready at http://${host}:${port}/graphql`));
const stop = () => { httpServer.close(); httpServer.closeAllConnections(); server.stop().finally(() => process.exit(0)); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
