// Serves a started ApolloServer over node:http: POST/GET /graphql (and /), GET /health; stops
// on SIGINT and SIGTERM. `context(req)` builds each request's context from the HTTP request.
import http from 'node:http';
import { HeaderMap } from '@apollo/server';

export function serveOverHttp(server, { host, port, label, context }) {
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
        context: async () => context(req),
      });
      for (const [k, v] of result.headers) res.setHeader(k, v);
      res.statusCode = result.status ?? 200;
      if (result.body.kind === 'complete') res.end(result.body.string);
      else { for await (const chunk of result.body.asyncIterator) res.write(chunk); res.end(); }
    } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: String(e?.message ?? e) }] }));
    }
  });
  httpServer.listen(port, host, () => console.error(`${label} ready at http://${host}:${port}/graphql`));
  const stop = () => { httpServer.close(); httpServer.closeAllConnections(); server.stop().finally(() => process.exit(0)); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
