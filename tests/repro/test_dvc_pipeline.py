"""The DVC pipeline for real, on two tiny scenes in a temporary git repository (tests/repro/pipeline_repo.py).

One repository serves every test, in order: the first `dvc repro` (in the fixture) is committed and
pushed to the folder remote (`mosaic dvc-remote --push`); later tests work from that commit. Times are
long on the shared 2-core machine; each test has its own bound.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from pipeline_repo import dvc, file_hashes, git, make_pipeline_repo, sh

from mosaic_pipeline.provenance import DAGSTER_PROVENANCE_TAGS
from mosaic_pipeline.repro.lock_status import lock_staleness
from mosaic_pipeline.repro.versions import lock_outputs, read_lock

pytestmark = pytest.mark.slow

STAGES = ["scenes", "visibility", "qa", "dataset", "geometry", "train", "evaluate"]
SCORES = "results/pipeline/bench/scores.json"
ENCODER = "artifacts/model/geometry/ci/encoder/vggt.safetensors"  # the geometry stage's output (model.config ci)
MODEL_ASSETS = ("geometry_encoder", "checkpoint", "bench_scores")  # the Dagster `model` job


def ran(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def stale(repo: Path) -> set[str]:
    return set(json.loads(dvc(repo, "status", "--json").stdout or "{}"))


def mosaic(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """The ``mosaic`` command with the repository's own code (as the DVC stages run it)."""
    return sh(repo, sys.executable, "-m", "mosaic_cli", *args, check=False)


def cached_outputs(repo: Path) -> list[str]:
    """dvc.lock outputs kept in the DVC cache (not in git: metrics and plots are committed)."""
    tracked = set(git(repo, "ls-files").splitlines())
    return [p for p in lock_outputs(read_lock((repo / "dvc.lock").read_text())) if p not in tracked]


def output_hashes(repo: Path, paths: list[str]) -> dict[str, str]:
    hashes = {}
    for p in paths:
        target = repo / p
        hashes.update({f"{p}/{k}": v for k, v in file_hashes(target).items()} if target.is_dir()
                      else {p: file_hashes(target.parent)[target.name]})
    return hashes


def changed_paths(report: str) -> set[str]:
    """Paths listed by `mosaic reproduce` under "outputs not byte-identical"."""
    section = report.split("outputs not byte-identical", 1)[1].split("score differences", 1)[0]
    return set(re.findall(r"^  (\S+): ", section, flags=re.M))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = make_pipeline_repo(tmp_path_factory.mktemp("repro"))
    first = dvc(repo, "repro")
    assert ran(first.stdout) == STAGES, first.stdout[-3000:]
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "result on tiny scenes")
    pushed = mosaic(repo, "dvc-remote", "--push")  # creates the folder remote of params.yaml repro.remote
    assert pushed.returncode == 0 and (repo / ".dvc-remote").is_dir(), pushed.stdout + pushed.stderr[-3000:]
    return repo


@pytest.mark.timeout(1200)  # includes the fixture's first run of every stage
def test_second_repro_changes_nothing_and_the_lock_is_current(repo):
    out = dvc(repo, "repro").stdout
    assert ran(out) == []
    assert all(f"Stage '{s}' didn't change, skipping" in out for s in STAGES)
    assert git(repo, "status", "--porcelain") == ""
    assert lock_staleness(repo) == []  # the check of tests/repro/test_dvc_lock.py on a lock the pipeline wrote


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dagster_runs(repo: Path) -> list[dict[str, str]]:
    """The tags of every run in the repository's Dagster instance (.dagster_home/, as `mosaic run` sets it)."""
    with dg.DagsterInstance.from_config(str(repo / ".dagster_home")) as instance:
        return [dict(run.tags) for run in instance.get_runs()]


@pytest.mark.timeout(300)
def test_dagster_model_job_gives_the_scores_of_the_dvc_path_for_the_same_commit(repo):
    """The Dagster `model` job (geometry_encoder -> checkpoint -> bench_scores) on the data the DVC stages
    made (they are the Dagster data assets): the same encoder bytes and the same scores as the DVC
    geometry -> train -> evaluate stages, and every Dagster run tagged with its commit and hashes."""
    commit, dvc_commit = git(repo, "rev-parse", "HEAD").strip(), git(repo, "rev-parse", "HEAD~1").strip()
    encoder = sha256(repo / ENCODER)
    proc = mosaic(repo, "run", *[a for name in MODEL_ASSETS for a in ("--asset", name)])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert sha256(repo / ENCODER) == encoder
    # the same training: trained weights depend on the fused encoder's features (frozen ones are not saved)
    (dagster_weights,) = (repo / "artifacts/model/runs").glob("*/checkpoints/step_0000004/model.safetensors")
    assert sha256(dagster_weights) == sha256(repo / "artifacts/model/dvc/checkpoints/step_0000004/model.safetensors")
    (dagster_scores,) = (repo / "artifacts/model/runs/eval").glob("bench-*/scores.json")
    assert json.loads(dagster_scores.read_text()) == json.loads((repo / SCORES).read_text())
    assert stale(repo) == set()  # the DVC outputs the Dagster run rewrote are byte-identical
    runs = dagster_runs(repo)
    assert {r["mosaic/git_commit"] for r in runs} == {dvc_commit, commit}  # the DVC stages' runs, then this one
    assert all(set(DAGSTER_PROVENANCE_TAGS) <= set(r) for r in runs)
    latest = [r for r in runs if r["mosaic/git_commit"] == commit]
    assert latest and all(r["mosaic/dvc_lock_sha256"] == sha256(repo / "dvc.lock")
                          and r["mosaic/params_sha256"] == sha256(repo / "params.yaml") for r in latest)


@pytest.mark.timeout(300)
def test_pull_restores_byte_identical_outputs_after_wiping_cache_and_outputs(repo):
    outputs = cached_outputs(repo)
    assert {"artifacts/qa/shards", ENCODER, "artifacts/model/dvc", "results/pipeline/bench/predictions.jsonl"} <= set(outputs)
    before = output_hashes(repo, outputs)
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "artifacts")
    (repo / "results/pipeline/bench/predictions.jsonl").unlink()
    assert stale(repo) == set(STAGES)
    assert lock_staleness(repo) == []  # as in a clean clone: no data, the lock still current
    dvc(repo, "pull")
    assert output_hashes(repo, outputs) == before
    assert stale(repo) == set()


@pytest.mark.timeout(1500)
def test_reproduce_from_scratch_gives_identical_data_weights_predictions_and_scores(repo, tmp_path):
    """Two runs of the whole pipeline from one commit: the fixture's, and this one in a fresh worktree."""
    workdir = tmp_path / "worktree"
    proc = mosaic(repo, "reproduce", "HEAD", "--from", "scenes", "--workdir", str(workdir), "--keep")
    try:
        report = proc.stdout
        assert proc.returncode == 0, report + proc.stderr[-3000:]
        assert "score differences: 0" in report and "MATCH: the bench scores reproduce" in report
        # not byte-identical: catalog.json (absolute scene folders) and the checkpoint folder (its
        # config.json names its own MLflow run); QA shards, dataset and predictions are identical
        assert changed_paths(report) == {"artifacts/catalog.json", "artifacts/model/dvc"}, report
        step = Path("artifacts/model/dvc/checkpoints/step_0000004")
        for name in ("model.safetensors", "train_state.pt"):  # CPU training is deterministic
            assert (workdir / step / name).read_bytes() == (repo / step / name).read_bytes(), name
    finally:
        git(repo, "worktree", "remove", "--force", str(workdir))


@pytest.mark.timeout(600)
def test_reproduce_of_tampered_scores_exits_nonzero(repo):
    scores = json.loads((repo / SCORES).read_text())
    scores["overall"]["score"] += 5.0
    (repo / SCORES).write_text(json.dumps(scores, indent=2))
    git(repo, "commit", "-q", "-am", "tampered scores")
    try:
        proc = mosaic(repo, "reproduce", "HEAD", "--from", "evaluate")
    finally:
        git(repo, "reset", "-q", "--hard", "HEAD~1")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert re.search(r"overall\.score .* MISMATCH \(tolerance 0\.5\)", proc.stdout), proc.stdout
    assert "MISMATCH: the bench scores do not reproduce" in proc.stdout


@pytest.mark.timeout(120)
def test_runs_by_commit_lists_the_geometry_training_and_evaluation_runs_with_their_data(repo):
    pipeline_commit = git(repo, "rev-parse", "HEAD~1").strip()  # the fixture's repro ran at this commit
    proc = mosaic(repo, "runs", "--commit", pipeline_commit[:10], "--json")
    assert proc.returncode == 0, proc.stderr
    runs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {r["name"] for r in runs} >= {"geometry-ci", "dvc", "eval-bench-training"}
    assert all(r["commit"] == pipeline_commit and len(r["tags"]["mosaic.data.sha256"]) == 64 for r in runs)
    result_commit = git(repo, "rev-parse", "HEAD").strip()  # reproduced in a worktree, tracked in this store
    reproduced = mosaic(repo, "runs", "--commit", result_commit, "--json")
    assert {json.loads(line)["name"] for line in reproduced.stdout.splitlines()} >= {"dvc", "eval-bench-training"}
    assert mosaic(repo, "runs", "--commit", "0" * 40).returncode == 1


@pytest.mark.timeout(900)
def test_qa_parameter_change_reruns_only_the_affected_stages(repo):
    params = repo / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("max_per_scene_task: 10", "max_per_scene_task: 9"))  # TINY: 10 (pipeline_repo.py)
    try:
        assert stale(repo) == {"qa", "dataset"}  # the stages that read params.yaml qa
        out = dvc(repo, "repro", "dataset").stdout
        assert ran(out) == ["qa", "dataset"]
        assert "Stage 'scenes' didn't change" in out and "Stage 'visibility' didn't change" in out
        assert stale(repo) == {"geometry", "train", "evaluate"}  # their input qa.parquet changed
    finally:
        git(repo, "checkout", "--", "params.yaml", "dvc.lock", "results/pipeline")
        dvc(repo, "checkout")
