"""A bounded fuzz of every subscription field over both WebSocket protocols: no
INTERNAL_SERVER_ERROR, no error without a code, no closed socket, no hang.

About 30 s on an idle machine; bench/fuzz.py runs the long one. MODELBOX_WS_FUZZ_EXAMPLES
sets the cases per field and protocol.
"""

from __future__ import annotations

import itertools
import os
import time

import pytest

from modelbox.server.config import Settings
from tests.api import ADMIN_TOKEN
from tests.live import running
from tests.world import build_world, poke_world
from tests.ws import LEGACY_WS, TRANSPORT_WS
from tests.ws_fuzzing import WsFuzzRun, fetch_fields

EXAMPLES = int(os.environ.get("MODELBOX_WS_FUZZ_EXAMPLES", "16"))
# A loaded machine may take longer than the half minute; past this the run stops and fails.
DEADLINE_SECONDS = 300
SUBSCRIPTIONS = {"metricsLogged", "events", "auditEvents", "namespaceChanges", "policyEvaluations"}


async def test_fuzzing_every_subscription_with_real_ids_finds_no_server_error(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(settings) as (server, api):
        world = await build_world(api)
        # Reads "alpha" only: the world's "beta" ids are another namespace's to it.
        viewer = await api.token(("alpha", "VIEWER"), name="fuzz-viewer")
        fields = await fetch_fields(api.client, ADMIN_TOKEN)
        steps = itertools.count(1000)
        run = WsFuzzRun(
            server.url,
            [ADMIN_TOKEN, viewer],
            world,
            fields,
            examples=EXAMPLES,
            poke=lambda: poke_world(api, world, next(steps)),
            protocols=(TRANSPORT_WS, LEGACY_WS),
        )
        run.deadline = time.monotonic() + DEADLINE_SECONDS
        await run.run()
        healthy = await api.client.get("/healthz")
    with capsys.disabled():
        print(f"\nws fuzz: {run.report()}")
    assert not run.out_of_time, f"not done in {DEADLINE_SECONDS} s: {run.report()}"
    # Every subscription field of the schema, new ones included, and each kind of outcome.
    assert {f.name for f in fields} >= SUBSCRIPTIONS
    assert run.cases == len(fields) * EXAMPLES * 2
    assert run.answered and run.listening and run.delivered, run.report()
    assert len(run) == 0, run.report()
    assert healthy.status_code == 200
