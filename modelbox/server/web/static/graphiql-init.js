// GraphiQL with the dashboard's token (session storage) on HTTP and in connection_init,
// so queries and subscriptions authenticate alike.
(function () {
  const stored = sessionStorage.getItem("modelbox.token");
  const token = stored || window.prompt("ModelBox API token") || "";
  if (token && !stored) sessionStorage.setItem("modelbox.token", token);
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const ws = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const fetcher = GraphiQL.createFetcher({
    url: "/graphql",
    subscriptionUrl: ws,
    headers: auth,
    wsConnectionParams: auth,
  });
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }));
})();
