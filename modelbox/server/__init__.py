"""The ModelBox service: `web/` → `graph/` → `resolvers/` → `store/`; needs the `server` extra."""
