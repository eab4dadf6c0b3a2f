#!/usr/bin/env node
// A tiny JS federation subgraph ("deployments") that extends ModelBox's ModelVersion entity.
//
// Usage: PORT=4101 node deployments.mjs          (listens on 127.0.0.1:$PORT, path /graphql)
//        node deployments.mjs --print-sdl        (prints the subgraph SDL and exits)
//
// Data is deterministic: every ModelVersion id gets two deployments, "staging" (1 replica)
// and "production" (3 replicas). Incoming Authorization headers are logged to stderr when
// DEPLOYMENTS_LOG_AUTH=1, and exposed as Deployment.seenAuthorization for tests.
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { serveOverHttp } from './serve_http.mjs';

export const FEDERATION_VERSION = '2.9';

export const typeDefs = parse(/* GraphQL */ `
  extend schema
    @link(url: "https://specs.apollo.dev/federation/v${FEDERATION_VERSION}", import: ["@key"])

  type Deployment @key(fields: "id") {
    id: ID!
    environment: String!
    replicas: Int!
    modelVersionId: ID!
    "The ModelVersion this deployment runs (resolved by the ModelBox subgraph via _entities); null when ModelBox does not show it to the caller."
    modelVersion: ModelVersion
    "The Authorization header this subgraph received for the request (test aid)."
    seenAuthorization: String
  }

  type ModelVersion @key(fields: "id") {
    id: ID!
    deployments: [Deployment!]!
  }

  type Query {
    "Deployments of the given ModelVersion ids (default: two sample ids)."
    deployments(modelVersionIds: [ID!]): [Deployment!]!
  }
`);

const ENVIRONMENTS = [
  { environment: 'staging', replicas: 1 },
  { environment: 'production', replicas: 3 },
];
const SAMPLE_MODEL_VERSION_IDS = ['mv-1', 'mv-2'];

export function deploymentsFor(modelVersionId, auth = null) {
  return ENVIRONMENTS.map(({ environment, replicas }) => ({
    id: `${modelVersionId}:${environment}`,
    environment,
    replicas,
    modelVersionId,
    modelVersion: { id: modelVersionId },
    seenAuthorization: auth,
  }));
}

const resolvers = {
  Query: {
    deployments: (_root, { modelVersionIds }, ctx) =>
      (modelVersionIds ?? SAMPLE_MODEL_VERSION_IDS).flatMap((id) => deploymentsFor(id, ctx.auth)),
  },
  ModelVersion: {
    __resolveReference: (ref) => ({ id: ref.id }),
    deployments: (mv, _args, ctx) => deploymentsFor(mv.id, ctx.auth),
  },
  Deployment: {
    __resolveReference: (ref, ctx) => {
      const i = ref.id.lastIndexOf(':');
      const mvId = ref.id.slice(0, i);
      return deploymentsFor(mvId, ctx.auth).find((d) => d.id === ref.id) ?? null;
    },
  },
};

export const schema = buildSubgraphSchema([{ typeDefs, resolvers }]);

async function main() {
  if (process.argv.includes('--print-sdl')) {
    const { printSubgraphSchema } = await import('@apollo/subgraph');
    process.stdout.write(printSubgraphSchema(schema));
    return;
  }
  const port = Number(process.env.PORT ?? 4101);
  const host = process.env.HOST ?? '127.0.0.1';
  const server = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()], csrfPrevention: false, stopOnTerminationSignals: false });
  await server.start();

  serveOverHttp(server, {
    host,
    port,
    label: 'deployments subgraph',
    context: (req) => {
      const auth = req.headers.authorization ?? null;
      if (process.env.DEPLOYMENTS_LOG_AUTH === '1') console.error(`deployments: ${req.method} authorization=${JSON.stringify(auth)}`);
      return { auth };
    },
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
