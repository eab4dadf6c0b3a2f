#!/usr/bin/env node
// Apollo Gateway (@apollo/gateway + @apollo/server) serving a composed supergraph, queries and
// mutations only (Apollo Gateway does not support subscriptions).
//
// Usage: node apollo_gateway.mjs --supergraph /path/to/supergraph.graphql [--port 4001] [--host 127.0.0.1]
//        (or env SUPERGRAPH, PORT, HOST). Endpoint: POST http://HOST:PORT/graphql (also /).
//
// The client's Authorization header is forwarded to every subgraph request by a
// RemoteGraphQLDataSource.willSendRequest hook.
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { serveOverHttp } from './serve_http.mjs';

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

serveOverHttp(server, {
  host,
  port,
  label: 'apollo gateway',
  context: (req) => ({ authorization: req.headers.authorization }),
});
