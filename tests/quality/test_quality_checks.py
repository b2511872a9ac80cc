"""The blocking GX check in a small Dagster graph: a toy upstream asset writes a QA shard, the check
validates it, a toy downstream asset stands for training. A bad shard stops the downstream asset.

(No `from __future__ import annotations`: Dagster inspects the context annotation.)
"""

import dagster as dg
import pytest
from quality_shards import all_answers_a, good_shard

from mosaic_assets.defs.assets.quality import gx_check, qa_dataset_quality, qa_shards_quality
from mosaic_assets.defs.partitions import scene_partitions
from mosaic_assets.defs.resources import MosaicParams
from mosaic_pipeline.atomic import atomic_file

SHARDS = dg.StaticPartitionsDefinition(["good", "unbalanced"])


def toy_shard_path(params, partition: str):
    return params.artifacts / "toy_qa" / f"{partition}.parquet"


@dg.asset(partitions_def=SHARDS)
def toy_qa_shards(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    path = toy_shard_path(mosaic.load(), context.partition_key)
    shard = good_shard() if context.partition_key == "good" else all_answers_a(good_shard(), "object_count")
    with atomic_file(path) as tmp:
        shard.to_parquet(tmp)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path))})


toy_qa_quality = gx_check(toy_qa_shards.key, "qa_shard", "toy_qa_quality", toy_shard_path, SHARDS)


@dg.asset(partitions_def=SHARDS, deps=[toy_qa_shards])
def toy_training() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"trained": True})


def _run(partition: str, params_file) -> dg.ExecuteInProcessResult:
    return dg.materialize([toy_qa_shards, toy_qa_quality, toy_training], partition_key=partition,
                          resources={"mosaic": MosaicParams(params_file=str(params_file))},
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


@pytest.mark.slow
def test_failing_check_blocks_downstream_asset(small_params_file):
    result = _run("unbalanced", small_params_file)
    assert not result.success
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
                    for m in [m.event_specific_data.materialization]}
    assert materialized == {"toy_qa_shards"}  # toy_training never ran
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    failed = evaluation.metadata["failed_expectations"].value
    assert "expect_column_values_to_be_between on kl_to_uniform" in failed
    assert "object_count letter shares A 1.00 B 0.00 C 0.00 D 0.00 (n 24)" in failed
    assert evaluation.metadata["n_failed"].value == 2
    assert "data:image/png;base64," in evaluation.metadata["plot_letter_distribution"].value
    docs = evaluation.metadata["data_docs"].value
    assert docs.endswith("index.html") and "toy_qa_quality/unbalanced/" in docs


@pytest.mark.slow
def test_passing_check_lets_downstream_run(small_params_file):
    result = _run("good", small_params_file)
    assert result.success
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
                    for m in [m.event_specific_data.materialization]}
    assert materialized == {"toy_qa_shards", "toy_training"}
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["n_failed"].value == 0


def test_pipeline_checks_are_blocking_on_qa_assets():
    (shards,) = qa_shards_quality.check_specs
    (dataset,) = qa_dataset_quality.check_specs
    assert shards.asset_key == dg.AssetKey("qa_shards") and shards.blocking
    assert shards.partitions_def == scene_partitions
    assert dataset.asset_key == dg.AssetKey("qa_dataset") and dataset.blocking and dataset.partitions_def is None
