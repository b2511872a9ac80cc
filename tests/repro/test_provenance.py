"""Score comparison, and the provenance tags of every Dagster run (docs/reproducing.md, "Traceability")."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from small_params import write_small_params

from mosaic_assets.defs.resources import PARAMS_FILE_TAG, PARAMS_SHA256_TAG, MosaicParams
from mosaic_pipeline.params import REPO_ROOT, params_path
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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected_provenance(params_file: Path) -> dict[str, str]:
    """The tags computed independently: git's own answers and the files' hashes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    lock = REPO_ROOT / "dvc.lock"
    return {"mosaic/git_commit": git("rev-parse", "HEAD"),
            "mosaic/git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower(),
            "mosaic/params_sha256": _sha256(params_file),
            "mosaic/dvc_lock_sha256": _sha256(lock) if lock.is_file() else "none"}


@pytest.mark.timeout(300)
def test_a_job_run_carries_commit_and_hashes_and_the_params_file_of_its_run_config(tmp_path):
    from mosaic_assets.definitions import defs

    params_file = write_small_params(tmp_path)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("catalog").execute_in_process(
            instance=instance, run_config={"resources": {"mosaic": {"config": {"params_file": str(params_file)}}}})
        tags = instance.get_run_by_id(result.run_id).tags
    assert result.success and (tmp_path / "artifacts" / "catalog.json").is_file()
    assert tags[PARAMS_FILE_TAG] == str(params_file)
    assert tags[PARAMS_SHA256_TAG] == _sha256(params_file)
    expected = _expected_provenance(params_file)
    assert {k: tags.get(k) for k in expected} == expected and len(expected["mosaic/git_commit"]) == 40


@pytest.mark.timeout(300)
def test_an_asset_materialized_outside_any_job_carries_them_too(tmp_path):
    """The UI's Materialize button runs an ad-hoc asset job, without the job-level tags."""
    from mosaic_assets.defs.assets.scenes import scene_catalog

    params_file = write_small_params(tmp_path)
    with dg.instance_for_test() as instance:
        result = dg.materialize([scene_catalog], instance=instance,
                                resources={"mosaic": MosaicParams(params_file=str(params_file))})
        tags = instance.get_run_by_id(result.run_id).tags
    expected = _expected_provenance(params_file)
    assert result.success and {k: tags.get(k) for k in expected} == expected


def test_every_job_launched_from_the_ui_or_a_schedule_carries_them_from_its_launch():
    from mosaic_assets.definitions import defs, jobs

    expected = _expected_provenance(params_path())
    assert {j.name for j in jobs} >= {"catalog", "per_scene", "datasets", "model"}
    for job in jobs:
        tags = defs.resolve_job_def(job.name).tags
        assert {k: tags.get(k) for k in expected} == expected, job.name
