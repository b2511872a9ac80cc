"""The default single-machine mode end to end: `mosaic ui` (Dagster webserver + daemon, SQLite
instance, multiprocess executor, and the review site beside them) on loopback, driven like a person
would, in Debian's headless Chromium, through the GraphQL calls the UI itself makes: from a shard's
asset page to its review page (numbers, plots, rendered questions) and on to its Data Docs over http."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from small_params import write_small_params
from stack import ARTIFACTS, Browser, record_wall_time

from mosaic_assets.services import DagsterUI, dagster_ui, free_port, project_env
from mosaic_pipeline import paths
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import Params, load_params
from mosaic_pipeline.quality.serve import file_of, review_url
from mosaic_pipeline.quality.tables import LETTERS

PARTITION = "synth_0001"
SHOTS = ARTIFACTS / "ui"
MARKDOWN_BUTTON = ("[...[...document.querySelectorAll('tr')].find(r => r.cells[0] && r.cells[0].innerText.trim() === "
                   "{label!r}).querySelectorAll('button, a')].find(e => e.innerText.includes('Show Markdown'))")
DIALOG_IMAGE = "(document.querySelector('[role=dialog] img, .bp5-dialog img') || {}).src"
CLOSE_DIALOG = ("[...document.querySelectorAll('[role=dialog] button, .bp5-dialog button')]"
                ".find(b => b.innerText.trim() === 'Close')")
IMAGES_LOADED = "[...document.images].every(i => i.complete && i.naturalWidth > 0) && document.images.length"
LETTER_ROW = ("[...document.querySelectorAll('table[data-suite=qa_letter_balance] tr')]"
              ".map(r => [...r.cells].map(c => c.innerText.trim())).find(c => c[0] === {task!r})")


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> tuple[DagsterUI, Path]:
    root = tmp_path_factory.mktemp("single_machine")
    params = write_small_params(root, n_scenes=2, extra={"review": {"port": free_port()}})
    env = project_env(MOSAIC_PARAMS=params, DAGSTER_HOME=root / "dagster_home")
    with dagster_ui(env, root, review_site=True) as server:
        yield server, params


def _check_metadata_shown(browser: Browser, entries: list[dict[str, Any]], name: str, params: Params) -> None:
    """Every metadata entry is on the open page: its label, its link (review page, Data Docs, MLflow) and
    its inline image (behind the Show Markdown button); Data Docs links (http) open on a rendered site."""
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
            assert e["url"].startswith("http://"), e
            site = file_of(params, e["url"]).parent
            suites = [page.stem for page in (site / "expectations").glob("*.html")]
            assert suites, e["url"]
            browser.open(e["url"], "Validation Results", "Expectation Suites", "Showing 1 to", *suites)
            browser.screenshot(SHOTS / f"{name}_data_docs.png")


def _check_asset(ui: DagsterUI, browser: Browser, asset: list[str], params: Params) -> None:
    """The asset's page shows its partition's materialization; its checks' pages show their results."""
    path = "/".join(asset)
    entries = ui.latest_materialization(asset, PARTITION)["metadataEntries"]
    browser.open(f"{ui.url}/assets/{path}?partition={PARTITION}", PARTITION, *(e["label"] for e in entries))
    browser.screenshot(SHOTS / f"3_asset_{path}.png")
    _check_metadata_shown(browser, entries, f"4_asset_{path}", params)
    for check in ui.asset_checks(asset):
        execution = ui.latest_check(asset, check, PARTITION)
        assert execution["status"] == "SUCCEEDED", execution
        entries = execution["evaluation"]["metadataEntries"]
        browser.open(f"{ui.url}/assets/{path}?view=checks&checkDetail={check}", "Passed", PARTITION,
                     *(e["label"] for e in entries))
        browser.screenshot(SHOTS / f"5_check_{check}.png")
        _check_metadata_shown(browser, entries, f"6_check_{check}", params)


def _letter_shares(params: Params, task: str) -> list[str]:
    """A task's correct-letter shares in the shard, computed here from the Parquet file."""
    qa = pd.read_parquet(paths.qa_shard(params, PARTITION))
    letters = qa.loc[qa["task_type"] == task, "correct_option_index"].map(lambda i: LETTERS[int(i)])
    return [f"{letters.eq(letter).mean():.3f}" for letter in "ABCD"]


def _follow_review_link(ui: DagsterUI, browser: Browser, params: Params) -> None:
    """From the shard's asset page to its review page: numbers, plots and rendered questions; then on to
    its Data Docs by the page's own link."""
    browser.open(f"{ui.url}/assets/qa_shards?partition={PARTITION}", PARTITION, "review_page")
    href = browser.wait_js(f"[...document.links].map(a => a.href).find(h => h.includes('/review/{PARTITION}/'))",
                           "the review page link on the asset page")
    assert href == review_url(params, PARTITION)
    browser.open(href, f"QA shard {PARTITION}", "Correct-letter balance per task", "Yes/No balance per subtask",
                 "Questions (", "Great Expectations Data Docs")
    assert browser.wait_js(IMAGES_LOADED, "the review page's images") >= 6  # five plots and the questions
    assert browser.evaluate("document.getElementById('check-verdict').innerText") == "PASS"
    row = browser.evaluate(LETTER_ROW.format(task="object_count"))
    assert row[2:6] == _letter_shares(params, "object_count") and row[-1] == "PASS", row
    assert browser.evaluate("document.querySelectorAll('.question img').length") == params.review.questions
    browser.screenshot(SHOTS / "7_review_page.png")
    browser.evaluate("[...document.querySelectorAll('.question')].find(q => q.querySelector('.text')"
                     ".innerText.startsWith('In Frame')).scrollIntoView()")  # one with a query frame
    browser.screenshot(SHOTS / "8_review_questions.png")
    browser.click("document.getElementById('data-docs')", "the review page's Data Docs link")
    browser.wait_js("document.body.innerText.includes('Showing 1 to')", "the Data Docs results table")
    assert browser.evaluate("location.href").startswith(f"http://{params.review.host}:{params.review.port}/data_docs/")
    browser.screenshot(SHOTS / "9_review_data_docs.png")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_materialize_one_partition_in_the_browser(ui, tmp_path):
    server, params_file = ui
    params = load_params(params_file)
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
            _check_asset(server, browser, asset, params)
        t0 = time.monotonic()
        _follow_review_link(server, browser, params)
        record_wall_time("review_page_in_the_browser", time.monotonic() - t0)
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
