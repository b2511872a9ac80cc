"""The per-scene check writes the shard's review page and links it (the URL with the partition in it);
a page that cannot be written is reported in the check's metadata and leaves GX's verdict alone.

(No `from __future__ import annotations`: Dagster inspects the context annotation.)
"""

import sys
from pathlib import Path

import dagster as dg
import pytest
from quality_shards import good_shard, visibility_table

from mosaic_assets.defs.assets.quality import gx_check
from mosaic_assets.defs.resources import MosaicParams
from mosaic_pipeline import paths
from mosaic_pipeline.atomic import atomic_file
from mosaic_pipeline.params import load_params
from mosaic_pipeline.quality.serve import review_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qa"))
from qa_fixtures import make_shard  # noqa: E402

SCENE, BROKEN = "fixture_0000", "broken"  # make_shard(0) names its scene fixture_0000
SHARDS = dg.StaticPartitionsDefinition([SCENE, BROKEN])


def _write(frame, path) -> None:
    with atomic_file(path) as tmp:
        frame.to_parquet(tmp)


@dg.asset(partitions_def=SHARDS)
def toy_visibility(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> None:
    params, key = mosaic.load(), context.partition_key
    _write(make_shard(0, params).visibility if key == SCENE else visibility_table(), paths.visibility(params, key))


@dg.asset(partitions_def=SHARDS, deps=[toy_visibility])
def toy_shards(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> None:
    params, key = mosaic.load(), context.partition_key
    # the broken shard lacks qa_id and question_type: GX validates it, the review page cannot be written
    _write(make_shard(0, params, split="train").qa if key == SCENE else good_shard(), paths.qa_shard(params, key))


toy_review_check = gx_check(toy_shards.key, "qa_shard", "toy_review_check", paths.qa_shard, SHARDS,
                            upstream={"visibility": (toy_visibility.key, paths.visibility)}, review=True)


def _evaluation(partition: str, params_file: Path):
    result = dg.materialize([toy_visibility, toy_shards, toy_review_check], partition_key=partition,
                            resources={"mosaic": MosaicParams(params_file=str(params_file))},
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


@pytest.mark.slow
def test_check_writes_and_links_the_review_page(small_params_file):
    params = load_params(small_params_file)
    metadata = _evaluation(SCENE, small_params_file).metadata
    assert metadata["review_page"].value == review_url(params, SCENE)
    page = Path(metadata["review_page_file"].value)
    assert page == paths.review_dir(params, SCENE) / "index.html" and page.is_file()
    assert metadata["data_docs_url"].value in page.read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_page_that_cannot_be_written_leaves_the_verdict(small_params_file):
    evaluation = _evaluation(BROKEN, small_params_file)
    error = evaluation.metadata["review_page_error"].value
    assert "QA shard broken table lacks column(s) qa_id, question_type, data_source (has" in error
    assert "review_page" not in evaluation.metadata and evaluation.metadata["n_expectations"].value > 0
