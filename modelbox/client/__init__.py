"""The ModelBox client library (being built; see the client issue)."""
