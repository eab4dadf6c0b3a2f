"""The dashboard in a real browser: what a person signing in sees and watches."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Client, screenshot, sign_in
from tests.browser.world import build, log_points, mutate
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def world(client: Client) -> dict[str, Any]:
    return build(client)


def test_sign_in_shows_the_runs_with_chosen_columns(
    page: Any, server: ServerProcess, world: dict[str, Any]
) -> None:
    sign_in(page, server)
    page.fill("input[name=params]", "lr, optimizer.name")
    page.fill("input[name=metrics]", "loss")
    page.click("#runs-filter button")
    # The page's first table (no chosen columns) may still be showing: wait for the new one.
    expect(page.locator("#runs thead")).to_contain_text("optimizer.name")
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 2
    text = page.inner_text("#runs")
    assert "0.01" in text and "sgd" in text and "ada" in text
    # The loss column shows the last value logged: 0.1 * 10 / 200 for resnet-2.
    assert "0.005" in text
    screenshot(page, "runs")


def test_the_runs_table_searches_and_sorts_on_the_server(
    page: Any, server: ServerProcess, world: dict[str, Any]
) -> None:
    sign_in(page, server)
    page.fill("input[name=metrics]", "loss")
    page.fill("input[name=query]", "params.lr < 0.05")
    page.click("#runs-filter button")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    assert "resnet-2" in page.inner_text("#runs tbody")
    page.fill("input[name=query]", "")
    for order, first in (("metrics.loss ASC", "resnet-2"), ("metrics.loss DESC", "resnet-1")):
        page.fill("input[name=order]", order)
        page.click("#runs-filter button")
        expect(page.locator("#runs tbody tr").first).to_contain_text(first)
    page.fill("input[name=query]", "params.lr <")
    page.click("#runs-filter button")
    expect(page.locator("#runs-table .error")).to_contain_text("BAD_USER_INPUT")


def test_a_bad_token_is_refused_at_sign_in(page: Any, server: ServerProcess) -> None:
    page.goto(f"{server.url}/")
    page.fill("input[name=token]", "mbx_not-a-real-token")
    page.click("#sign-in button")
    assert "UNAUTHENTICATED" in page.inner_text("#sign-in .error")
    assert page.is_hidden("#nav")


def test_a_run_chart_advances_while_training_logs(
    page: Any, server: ServerProcess, client: Client, world: dict[str, Any]
) -> None:
    run = world["runs"][0]
    sign_in(page, server)
    page.goto(f"{server.url}/#/run/{run['id']}")
    chart = page.locator(".chart[data-key=loss]")
    chart.wait_for()
    assert chart.get_attribute("data-last-step") == "199"

    def train() -> None:
        for start in range(200, 300, 20):
            log_points(client, run["id"], "loss", range(start, start + 20))
            time.sleep(0.2)

    trainer = threading.Thread(target=train)
    trainer.start()
    expect(chart).to_have_attribute("data-last-step", "299")
    trainer.join()
    assert page.url.endswith(run["id"])  # no reload: the same page followed the run
    # The timeline draws one lane per event name; epochs are timed from the previous epoch.
    assert page.locator(".lane").count() == 2
    epochs = page.locator(".bar[data-name=epoch]")
    assert epochs.count() == 4
    # The epoch after the preemption spans both minutes, not just the one since `preempted`.
    assert "120 s since the previous epoch" in (epochs.nth(2).get_attribute("title") or "")
    assert page.locator("#artifacts a[data-download='weights/model.pt']").count() == 1
    assert page.locator("#checkpoints tbody tr").count() == 1
    page.check("#chart-options input[name=log]")
    page.fill("#chart-options input[name=smoothing]", "0.6")
    page.dispatch_event("#chart-options input[name=smoothing]", "input")
    page.wait_for_timeout(300)
    screenshot(page, "run")


def test_compare_overlays_two_runs_and_plots_a_hyperparameter(
    page: Any, server: ServerProcess, world: dict[str, Any]
) -> None:
    sign_in(page, server)
    page.click("#runs-filter button")
    page.wait_for_selector("#runs td >> text=resnet-1")
    for box in page.locator("#runs tbody input[type=checkbox]").all():
        box.check()
    page.click("#compare")
    overlay = page.locator("#overlay .chart")
    overlay.wait_for()
    assert overlay.get_attribute("data-series") == "2"
    page.select_option("#compare-form select[name=key]", "loss")
    page.wait_for_selector("#scatter .scatter[data-points='2']")
    assert "lr" in page.inner_text("#compare-runs")
    screenshot(page, "compare")


def test_a_version_shows_its_lineage_back_to_the_run(
    page: Any, server: ServerProcess, world: dict[str, Any]
) -> None:
    sign_in(page, server)
    page.click("#nav a[data-view=registry]")
    page.click("#models a >> text=resnet")
    page.wait_for_selector("#versions .alias >> text=production")
    # The model's policies and their latest decisions, as the server recorded them.
    expect(page.locator("#policies")).to_contain_text("label-good")
    expect(page.locator("#policies .decision")).to_contain_text("APPLIED")
    assert "val_acc" in page.inner_text("#policies")
    screenshot(page, "registry")
    page.click("#versions a >> text=v1")
    lineage = page.locator("#lineage")
    lineage.wait_for()
    assert "step 199" in lineage.inner_text()
    screenshot(page, "version")
    lineage.locator("a >> text=resnet-1").click()
    page.wait_for_selector(".chart[data-key=loss]")


def test_the_audit_trail_updates_live(
    page: Any, server: ServerProcess, client: Client, world: dict[str, Any]
) -> None:
    sign_in(page, server)
    page.click("#nav-audit")
    page.wait_for_selector("#audit-events tbody tr")
    before = page.locator("#audit-events tbody tr").count()
    page.wait_for_selector("#live-state >> text=live")
    mutate(client, "createModel", {"namespace": "vision", "name": "audited-live"})
    expect(page.locator("#audit-events tbody tr")).to_have_count(before + 1)
    expect(page.locator("#audit-events tbody tr").first).to_contain_text("audited-live")
    screenshot(page, "audit")


def test_graphiql_runs_a_query_and_a_subscription_with_the_token(
    page: Any, server: ServerProcess, client: Client, world: dict[str, Any]
) -> None:
    sign_in(page, server)
    page.goto(f"{server.url}/graphql")
    editor = ".graphiql-query-editor .CodeMirror"
    page.wait_for_selector(editor)

    def run(query: str) -> None:
        page.evaluate(
            "([sel, q]) => document.querySelector(sel).CodeMirror.setValue(q)", [editor, query]
        )
        page.wait_for_timeout(500)  # GraphiQL parses the edited document after a pause
        page.click(".graphiql-execute-button")

    result = page.locator(".graphiql-response")
    run("{ viewer { name } }")
    expect(result).to_contain_text('"viewer"')
    run_id = world["runs"][1]["id"]
    run(f'subscription {{ events(subjectId: "{run_id}") {{ name }} }}')
    deadline = time.monotonic() + 15
    while not any(url.startswith("ws") for url in page.requested):
        assert time.monotonic() < deadline, page.inner_text(".graphiql-response")
        page.wait_for_timeout(100)
    page.wait_for_timeout(500)  # connection_init and subscribe travel after the socket opens
    mutate(client, "logEvents", {"subjectId": run_id, "events": [{"name": "seen-in-graphiql"}]})
    expect(result).to_contain_text("seen-in-graphiql")
    screenshot(page, "graphiql")


def test_no_page_requests_anything_outside_the_server(
    page: Any, server: ServerProcess, world: dict[str, Any]
) -> None:
    sign_in(page, server)
    for hash_ in ("#/runs", f"#/run/{world['runs'][0]['id']}", "#/registry", "#/audit"):
        page.goto(f"{server.url}/{hash_}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{server.url}/graphql")
    page.wait_for_selector(".graphiql-query-editor")
    local = (server.url, server.url.replace("http", "ws", 1), "data:", "blob:")
    outside = [url for url in page.requested if not url.startswith(local)]
    assert page.requested and outside == []
