"""The GraphQL schema: Strawberry types, inputs and the root types, one module per domain."""
