"""`Client`: the registry, artifacts, events and metric series, for what is not a run.

Objects are named by their global id or by path: `namespace/experiment`,
`namespace/model`, `namespace/model:3` (a version) or `namespace/model@production` (the
version holding an alias). Objects come back as the API's JSON (dicts). Each part lives in
a module of its own; `Client` puts them together.
"""

from __future__ import annotations

from modelbox.client._artifacts import Artifacts
from modelbox.client._registry import Registry
from modelbox.client._telemetry import Telemetry
from modelbox.client._tokens import Tokens


class Client(Registry, Telemetry, Artifacts, Tokens):
    """A connection to one ModelBox server; `url` and `token` default to `MODELBOX_URL`
    and `MODELBOX_TOKEN`, then to what `modelbox login` saved."""
