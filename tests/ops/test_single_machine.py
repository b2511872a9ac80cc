"""The default single-machine mode end to end: `mosaic ui` (Dagster webserver + daemon, SQLite
instance, multiprocess executor) on loopback, driven like a person would, in Debian's headless
Chromium, through the GraphQL calls the UI itself makes."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from small_params import write_small_params
from stack import ARTIFACTS, Browser, record_wall_time

from mosaic_assets.services import DagsterUI, dagster_ui, project_env
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import load_params

PARTITION = "synth_0001"
SHOTS = ARTIFACTS / "ui"
MARKDOWN_BUTTON = ("[...[...document.querySelectorAll('tr')].find(r => r.cells[0] && r.cells[0].innerText.trim() === "
                   "{label!r}).querySelectorAll('button, a')].find(e => e.innerText.includes('Show Markdown'))")
DIALOG_IMAGE = "(document.querySelector('[role=dialog] img, .bp5-dialog img') || {}).src"
CLOSE_DIALOG = ("[...document.querySelectorAll('[role=dialog] button, .bp5-dialog button')]"
                ".find(b => b.innerText.trim() === 'Close')")


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> tuple[DagsterUI, Path]:
    root = tmp_path_factory.mktemp("single_machine")
    params = write_small_params(root, n_scenes=3)
    with dagster_ui(project_env(MOSAIC_PARAMS=params, DAGSTER_HOME=root / "dagster_home"), root) as server:
        yield server, params


def _check_metadata_shown(browser: Browser, entries: list[dict[str, Any]], name: str) -> None:
    """Every metadata entry is on the open page: its label, its link (Data Docs, MLflow) and its inline
    image (behind the Show Markdown button); Data Docs links open on a rendered Data Docs site."""
    for e in entries:
        if e["__typename"] == "UrlMetadataEntry":
            assert browser.evaluate(f"[...document.links].some(a => a.href === {e['url']!r})"), e
        if e["__typename"] == "MarkdownMetadataEntry" and "data:image/png" in e["mdStr"]:
            browser.click(MARKDOWN_BUTTON.format(label=e["label"]), f"{name}: Show Markdown of {e['label']}")
            src = browser.wait_js(DIALOG_IMAGE, f"{name}: image of {e['label']}")
            assert src.startswith("data:image/png;base64,") and src[22:] in e["mdStr"]
            browser.screenshot(SHOTS / f"{name}_{e['label']}.png")
            browser.click(CLOSE_DIALOG, "Close button")
            browser.wait_js("!document.querySelector('[role=dialog], .bp5-dialog')", "dialog to close")
    for e in entries:  # last: these leave the page
        if e["__typename"] == "UrlMetadataEntry" and "data_docs" in e["label"]:
            # the results table is drawn by bootstrap-table (the site's own copy, offline): a row per suite
            site = Path(unquote(urlparse(e["url"]).path)).parent
            suites = [page.stem for page in (site / "expectations").glob("*.html")]
            assert suites, e["url"]
            browser.open(e["url"], "Validation Results", "Expectation Suites", "Showing 1 to", *suites)
            browser.screenshot(SHOTS / f"{name}_data_docs.png")


def _check_asset(ui: DagsterUI, browser: Browser, asset: list[str]) -> None:
    """The asset's page shows its partition's materialization; its checks' pages show their results."""
    path = "/".join(asset)
    entries = ui.latest_materialization(asset, PARTITION)["metadataEntries"]
    browser.open(f"{ui.url}/assets/{path}?partition={PARTITION}", PARTITION, *(e["label"] for e in entries))
    browser.screenshot(SHOTS / f"3_asset_{path}.png")
    _check_metadata_shown(browser, entries, f"4_asset_{path}")
    for check in ui.asset_checks(asset):
        execution = ui.latest_check(asset, check, PARTITION)
        assert execution["status"] == "SUCCEEDED", execution
        entries = execution["evaluation"]["metadataEntries"]
        browser.open(f"{ui.url}/assets/{path}?view=checks&checkDetail={check}", "Passed", PARTITION,
                     *(e["label"] for e in entries))
        browser.screenshot(SHOTS / f"5_check_{check}.png")
        _check_metadata_shown(browser, entries, f"6_check_{check}")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_materialize_one_partition_in_the_browser(ui, tmp_path):
    server, _ = ui
    location = server.repository()["repositoryLocationName"]
    with Browser(tmp_path) as browser:
        browser.open(f"{server.url}/locations/{location}/asset-groups/scenes", "scene_catalog", "Latest event")
        browser.screenshot(SHOTS / "1_asset_graph.png")
        assets = server.partitioned_assets()
        run_id = server.launch_partition(assets, PARTITION)
        assert server.wait_run(run_id, 900) == "SUCCESS", server.run_errors(run_id)
        browser.open(f"{server.url}/runs/{run_id}", "Success", run_id[:8], f"partition: {PARTITION}")
        browser.screenshot(SHOTS / "2_run.png")
        for asset in assets:
            _check_asset(server, browser, asset)
    messages = [e.get("message", "") for e in server.run_logs(run_id)]
    assert any(re.fullmatch(rf"{PARTITION}: frames (\d+)/\1", m) for m in messages), "no per-frame progress logged"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_backfill_all_partitions(ui):
    """What the UI's Materialize dialog sends for every partition: one asset backfill; all succeed."""
    server, params = ui
    partitions = [e.scene_id for e in load_catalog(load_params(params))]
    assets = server.partitioned_assets()
    t0 = time.monotonic()
    runs = server.wait_backfill(server.launch_backfill(assets, partitions), 1500)
    wall = time.monotonic() - t0
    by_partition: dict[str, Any] = {t["value"]: r["status"] for r in runs for t in r["tags"] if t["key"] == "dagster/partition"}
    assert by_partition == {p: "SUCCESS" for p in partitions}, [server.run_errors(r["runId"]) for r in runs]
    record_wall_time("backfill_multiprocess", wall, partitions=len(partitions), assets=["/".join(a) for a in assets],
                     executor="multiprocess", instance="sqlite")
