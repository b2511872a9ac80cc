"""The bias audit's blocking check in a small Dagster graph: the ``bias_audit`` asset audits a hand-made QA
dataset (no text shortcut) where ``mosaic_pipeline.paths`` puts the dataset, the check judges it with the
``audit`` thresholds of params.yaml, a toy asset downstream stands for training. The same data blocks the
toy asset once a threshold is lowered below what the data reach.

(No `from __future__ import annotations`: Dagster inspects the context annotation.)
"""

import dagster as dg
import pandas as pd
import pytest
from audit_data import qa_table
from small_params import write_small_params

from mosaic_assets.defs.assets.quality import bias_audit, bias_audit_thresholds
from mosaic_assets.defs.resources import MosaicParams
from mosaic_pipeline import paths
from mosaic_pipeline.params import load_params
from mosaic_pipeline.quality.audit_io import read_audit_table
from mosaic_pipeline.quality.review_audit import audit_view


@dg.asset(deps=[bias_audit])
def toy_training() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"trained": True})


def _run(tmp_path, audit_overrides: dict) -> tuple[dg.ExecuteInProcessResult, object]:
    params_file = write_small_params(tmp_path, extra={"audit": audit_overrides})
    params = load_params(params_file)
    train = qa_table(shortcut_share=0.0, seed=1, split="train")
    qa = pd.concat([qa_table(shortcut_share=0.0, split="bench"), train.assign(scene_id=train["scene_id"] + "_train")],
                   ignore_index=True)
    paths.qa_dataset(params).parent.mkdir(parents=True, exist_ok=True)
    qa.to_parquet(paths.qa_dataset(params))
    result = dg.materialize([bias_audit, bias_audit_thresholds, toy_training],
                            resources={"mosaic": MosaicParams(params_file=str(params_file))},
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    return result, params


def _materialized(result) -> set[str]:
    return {e.event_specific_data.materialization.asset_key.to_user_string()
            for e in result.get_asset_materialization_events()}


@pytest.mark.slow
def test_check_passes_and_training_runs(tmp_path):
    result, params = _run(tmp_path, {})
    assert result.success and _materialized(result) == {"bias_audit", "toy_training"}
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["n_failed"].value == 0
    assert "| bench | obj_count_occ | 240 |" in evaluation.metadata["audit"].value
    assert "data:image/png;base64," in evaluation.metadata["figure"].value
    table = read_audit_table(paths.bias_audit_dir(params))
    assert set(table["split"]) == {"bench", "train"} and (paths.bias_audit_dir(params) / "audit.png").is_file()
    # the per-question rows a shard's review page reads (mosaic_pipeline.quality.review_audit)
    questions = pd.read_parquet(paths.bias_audit_questions(params))
    assert len(questions) == 960 and {"scene_id", "question_type", "text_only_correct", "chance"} <= set(questions)
    view = audit_view(paths.bias_audit_questions(params), "scene_00", questions[questions["scene_id"] == "scene_00"])
    assert {r.question_type for r in view.rows} == {"obj_count_occ", "obj_attribute_occ_ab"}


@pytest.mark.slow
def test_check_blocks_when_a_threshold_is_lowered(tmp_path):
    # the clean data's per-type gaps are a few points either way; no gap is below -50
    result, _ = _run(tmp_path, {"max_gap_type": -50.0})
    assert not result.success and _materialized(result) == {"bias_audit"}  # toy_training never ran
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    # two question types in each of bench and train, and the bench's two again by the model trained on train
    assert evaluation.metadata["n_failed"].value == 6
    failures = evaluation.metadata["failures"].value
    assert "bench obj_count_occ: text-only gap" in failures
    assert "bench obj_count_occ: text-only gap of a model trained on train" in failures


def test_the_check_is_blocking():
    (spec,) = bias_audit_thresholds.check_specs
    assert spec.asset_key == dg.AssetKey("bias_audit") and spec.blocking
