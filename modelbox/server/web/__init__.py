"""The HTTP and WebSocket front: the Starlette app, artifact routes, body limits, frames."""
