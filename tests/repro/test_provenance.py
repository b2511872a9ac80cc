"""Score comparison and the run tags of a parameter override."""
from __future__ import annotations

import hashlib

import dagster as dg
import pytest
from small_params import write_small_params

from mosaic_assets.defs.resources import PARAMS_FILE_TAG, PARAMS_SHA256_TAG
from mosaic_pipeline.repro.scores import compare_scores

RECORDED = {"overall": {"score": 40.0, "n": 50, "ci": [30.0, 50.0]}, "per_type": {"count": {"score": 20.0, "n": 10}},
            "ci_method": "percentile bootstrap"}


def _with(path: str, value):
    data = {"overall": dict(RECORDED["overall"]), "per_type": {"count": dict(RECORDED["per_type"]["count"])},
            "ci_method": RECORDED["ci_method"]}
    section, key = path.split(".")
    data[section][key] = value
    return data


def test_scores_within_tolerance_pass_and_beyond_it_fail():
    assert compare_scores(RECORDED, RECORDED, 0.5) == []
    (close,) = compare_scores(RECORDED, _with("overall.score", 40.4), 0.5)
    assert close.ok and close.key == "overall.score" and close.delta == pytest.approx(0.4)
    (far,) = compare_scores(RECORDED, _with("overall.score", 40.6), 0.5)
    assert not far.ok and far.delta == pytest.approx(0.6)


def test_counts_text_and_missing_keys_must_be_equal():
    (count,) = compare_scores(RECORDED, _with("overall.n", 51), 0.5)
    assert count.tolerance == 0.0 and not count.ok
    (text,) = compare_scores(RECORDED, {**RECORDED, "ci_method": "other"}, 0.5)
    assert text.delta is None and not text.ok
    diffs = compare_scores(RECORDED, {**RECORDED, "per_type": {}}, 0.5)
    assert {d.key for d in diffs} == {"per_type.count.score", "per_type.count.n"} and not any(d.ok for d in diffs)


@pytest.mark.timeout(300)
def test_run_config_params_file_is_recorded_in_the_run_tags(tmp_path):
    from mosaic_assets.definitions import defs

    params_file = write_small_params(tmp_path)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("catalog").execute_in_process(
            instance=instance, run_config={"resources": {"mosaic": {"config": {"params_file": str(params_file)}}}})
        tags = instance.get_run_by_id(result.run_id).tags
    assert result.success and (tmp_path / "artifacts" / "catalog.json").is_file()
    assert tags[PARAMS_FILE_TAG] == str(params_file)
    assert tags[PARAMS_SHA256_TAG] == hashlib.sha256(params_file.read_bytes()).hexdigest()
