// Hive Gateway configuration for ModelBox federation tests.
//
// Run (from this folder):
//   ./node_modules/.bin/hive-gateway supergraph /path/to/supergraph.graphql -c gateway.config.mjs --host 127.0.0.1 --port 4000
//
// What it does:
// * HTTP queries/mutations: the client's `Authorization` header is forwarded to every subgraph
//   as an `authorization` HTTP header (propagateHeaders.fromClientToSubgraphs).
// * Subscriptions: the gateway talks to every subgraph over WebSocket (graphql-transport-ws) at
//   the subgraph's URL with http(s) -> ws(s), path /graphql, and puts the client's token into the
//   subgraph's `connection_init` payload as {"Authorization": "Bearer <token>"}. The gateway keeps
//   one upstream WebSocket per distinct payload, so different tokens never share a connection.
// * Clients subscribe over SSE (POST /graphql with `Accept: text/event-stream`, token in the
//   `Authorization` header) or over graphql-ws at ws://HOST:PORT/graphql (token in the client's
//   connection_init payload as {"Authorization": "Bearer <token>"}, or an Authorization header
//   on the upgrade request).
import { defineConfig } from '@graphql-hive/gateway';

// The client's token, whichever way it came: HTTP header (any case) or graphql-ws connection_init
// payload key `Authorization` / `authorization`.
function clientAuthorization(context) {
  const cp = context?.connectionParams;
  const fromParams = cp && (cp.Authorization ?? cp.authorization);
  if (fromParams) return String(fromParams);
  const h = context?.request?.headers;
  const fromRequest = h && typeof h.get === 'function' ? h.get('authorization') : undefined;
  if (fromRequest) return fromRequest;
  const hs = context?.headers;
  return (hs && (hs.authorization ?? hs.Authorization)) || undefined;
}

const WS_PATH = process.env.SUBGRAPH_WS_PATH ?? '/graphql';

export const gatewayConfig = defineConfig({
  // Forward the client's Authorization header to subgraphs on every HTTP subgraph request.
  propagateHeaders: {
    fromClientToSubgraphs({ context }) {
      const auth = clientAuthorization(context);
      return auth ? { authorization: auth } : {};
    },
  },
  plugins: () => [
    {
      // Expose the normalized token as context.modelboxAuthorization for the WS transport's
      // interpolated connectionParams below.
      onContextBuilding({ context, extendContext }) {
        const auth = clientAuthorization(context);
        if (auth) extendContext({ modelboxAuthorization: auth });
      },
    },
  ],
  transportEntries: {
    // Every subgraph whose transport is http (all of them, from a supergraph): subscriptions
    // go over graphql-transport-ws instead of HTTP.
    '*.http': {
      options: {
        subscriptions: {
          kind: 'ws',
          location: WS_PATH,
          options: {
            connectionParams: {
              Authorization: '{context.modelboxAuthorization}',
            },
          },
        },
      },
    },
  },
});
