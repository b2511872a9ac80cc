"""``mosaic experiment run`` (mosaic_model.experiment.command): every arm x seed trained and scored, results
written naming one commit; resumable after the budget runs out; run again, it changes nothing.

The data step is the hand-written QA set (the pipeline's own tests cover the data; bundles theirs)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from model_fixtures import write_geometry_bundle

from mosaic_model.experiment.bundle import FRAMES, MANIFEST, QA
from mosaic_model.checkpoint import latest_checkpoint, read_meta
from mosaic_model.experiment import command
from mosaic_model.experiment.command import CHECKOUT, BUNDLE, VLM_BUNDLE, DataOutputs, Experiment, checkout_commit
from mosaic_model.experiment.runs import ENCODER, GEOMETRY_DIR, run_config
from mosaic_model.geometry_pretrain import WEIGHTS
from mosaic_model.experiment.ledger import Ledger, sha256_of
from mosaic_pipeline.params import REPO_ROOT, Params, load_params
from mosaic_pipeline.provenance import COMMIT_TAG, DIRTY_TAG, blob_id, file_sha256, git_tags, tree_differences
from mosaic_pipeline.repro.results import check_results

ARMS = {"blind": {"model": {"geometry": {"enabled": False}}, "pretrained_geometry": False, "blank_frames": True},
        "no_geometry": {"model": {"geometry": {"enabled": False}}, "pretrained_geometry": False,
                        "blank_frames": False}}


class HandWrittenData(Experiment):
    """The experiment over the hand-written QA set: its bundle step copies the set (no releases to read)."""

    def bundle(self) -> bool:
        vlm = self.work / VLM_BUNDLE
        if (vlm / QA).is_file():
            return False
        facts = self.ledger.facts("data")
        shutil.copytree(facts["frames"], vlm / FRAMES)
        shutil.copyfile(facts["qa"], vlm / QA)
        (vlm / MANIFEST).write_text(json.dumps({"qa_sha256": self.qa_sha256}))
        return True


@pytest.fixture()
def exp_params(params, tmp_path) -> Params:
    overrides = {**params.model_dump(mode="json"),
                 "experiment": {"config": "tiny", "train": {"max_steps": 4, "save_every": 2, "batch_size": 8,
                                                            "global_batch_size": 8},
                                "eval_splits": ["train"], "eval_prompts": ["training", "official"],
                                "frame_ablation": ["train"], "seeds": [0, 1],
                                "arms": ARMS, "comparison": {"treatment": "no_geometry", "control": "blind"},
                                "work": str(tmp_path / "work"), "results": str(tmp_path / "results")}}
    return load_params(overrides=overrides)


def _experiment(exp_params, qa_set, tmp_path, kind: type[Experiment] | None = None, **kwargs) -> Experiment:
    def data(params, artifacts, resume):
        return DataOutputs(qa_set.parquet, qa_set.image_root, {})

    commit = checkout_commit(tmp_path / "work", allow_dirty=True)
    return (kind or HandWrittenData)(exp_params, tmp_path / "work", tmp_path / "results", commit, data,
                                     log=lambda _: None, **kwargs)


def _device_carry():
    """scripts/device_carry.py as a module (the script the device commands run)."""
    spec = importlib.util.spec_from_file_location("device_carry", REPO_ROOT / "scripts" / "device_carry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_arm_and_seed_is_trained_scored_and_reported_then_nothing_changes(exp_params, qa_set, tmp_path,
                                                                                   monkeypatch):
    from mosaic_model import evaluate

    frames_seen, scored = {}, evaluate.evaluate

    def recording(checkpoint, qa_path, image_root, out_dir, *args, **kwargs):
        frames_seen[out_dir.relative_to(tmp_path / "work" / "eval").parts[:2]] = image_root
        return scored(checkpoint, qa_path, image_root, out_dir, *args, **kwargs)

    monkeypatch.setattr(evaluate, "evaluate", recording)
    first = _experiment(exp_params, qa_set, tmp_path).run()
    assert first.finished
    runs = ["blind-s0", "no_geometry-s0", "blind-s1", "no_geometry-s1"]  # seed after seed
    assert [s for s in first.ran if s.startswith("train/")] == [f"train/{r}" for r in runs]
    ablations = ["eval/blank_frames/no_geometry-s0/train", "eval/blank_frames/no_geometry-s1/train"]
    assert sum(s.startswith("eval/") for s in first.ran) == 4 * 2 + 2  # runs x prompt forms + seeing runs' ablation
    assert [s for s in first.ran if s.startswith("eval/blank_frames/")] == ablations
    blank, real = tmp_path / "work" / "blank_frames", tmp_path / "work" / VLM_BUNDLE / FRAMES
    assert frames_seen == {(form, r): blank if r.startswith("blind") or form == "blank_frames" else real
                           for r in runs for form in ("training", "official", "blank_frames")
                           if form != "blank_frames" or r.startswith("no_geometry")}

    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    commit = checkout_commit(tmp_path / "work", allow_dirty=True)
    assert summary["commit"] == commit and summary["qa_sha256"] == file_sha256(qa_set.parquet)
    train = summary["splits"]["train"]
    assert set(train["models"]) == {"chance", "answer_prior", "blind", "no_geometry", "blind [official prompt]",
                                    "no_geometry [official prompt]", "no_geometry [blank frames]"}
    assert set(train["runs"]) == set(runs) | {f"{r} [official prompt]" for r in runs} | {
        "no_geometry-s0 [blank frames]", "no_geometry-s1 [blank frames]"}
    assert train["verdict"]["best_vlm"] == "no_geometry"
    # what the frames are worth: per question, frames - blank frames, seeds pooled; over all questions it is the
    # difference of the two columns' micro scores (every question weighs the same in both)
    worth = train["frame_ablation"]["no_geometry"]["all"]
    micro = {m: train["models"][m]["micro"]["score"] for m in ("no_geometry", "no_geometry [blank frames]")}
    assert worth["diff"] == pytest.approx(micro["no_geometry"] - micro["no_geometry [blank frames]"], abs=0.01)
    assert train["verdict"]["blank_frames_drop"] == worth
    assert train["verdict"]["uses_frames"] == (worth["ci"][0] > 0)
    assert "no_geometry - no_geometry [blank frames]" in (tmp_path / "results" / "table.md").read_text()
    assert "no_geometry-s0 - blind-s0" in train["comparisons"]["training"]
    curves = summary["learning_curves"]  # training loss per type, first and last window, seeds' mean
    assert set(curves) == {"blind", "no_geometry"} and curves["blind"].keys() == curves["no_geometry"].keys()
    assert "training loss per question type" in (tmp_path / "results" / "table.md").read_text()
    mlflow_runs = json.loads((tmp_path / "results" / "mlflow_runs.json").read_text())
    assert len(mlflow_runs) == 4 + 4 * 2 + 2  # training runs + evaluation runs
    t = next(iter(curves["blind"]))  # against the two blind runs' own histories
    seeds = [r["history"][f"loss_by_type.{t}"] for r in mlflow_runs if r["store"] in ("blind-s0.db", "blind-s1.db")]
    assert len(seeds) == 2 and curves["blind"][t]["last"] == pytest.approx(sum(h[-1][1] for h in seeds) / 2)
    assert {r["tags"][COMMIT_TAG] for r in mlflow_runs} == {commit}
    assert len(summary["mlflow_run_ids"]) == len(mlflow_runs)  # every run listed under its own name
    assert (summary["seeds"], summary["planned_seeds"], summary["complete"]) == ([0, 1], [0, 1], True)
    ablation = next(r for r in mlflow_runs if r["store"] == "eval-no_geometry-s0.db"
                    and r["run_name"] == "eval-train-blank_frames")
    assert ablation["params"]["image_root"] == str(blank) and ablation["params"]["prompt"] == "training"
    minutes = summary["run_minutes"]  # what each store's runs took, from the MLflow start and end times
    assert set(minutes["by_store"]) == set(runs) | {f"eval-{r}" for r in runs}
    assert minutes["by_store"]["eval-blind-s0"] == pytest.approx(sum(
        (r["end_time"] - r["start_time"]) / 60_000 for r in mlflow_runs if r["store"] == "eval-blind-s0.db"), abs=0.01)
    assert minutes["total"] == pytest.approx(sum(minutes["by_store"].values()), abs=0.05)
    dirty = git_tags()[DIRTY_TAG] == "true"  # a developer's trial; CI's clone is clean
    problems = check_results(tmp_path / "results")  # what `mosaic runs --check-results` reports
    assert all(DIRTY_TAG in p for p in problems) and bool(problems) == dirty

    results, ledger = _files(tmp_path / "results"), (tmp_path / "work" / "ledger.json").read_bytes()
    again = _experiment(exp_params, qa_set, tmp_path).run()
    assert again.ran == ["report"] and again.finished
    assert _files(tmp_path / "results") == results
    assert (tmp_path / "work" / "ledger.json").read_bytes() == ledger


def test_a_cut_run_continues_from_its_checkpoint_and_a_new_identity_starts_over(exp_params, qa_set, tmp_path,
                                                                                   monkeypatch):
    out_of_time = _experiment(exp_params, qa_set, tmp_path, budget_s=0).run()
    assert out_of_time.ran == [] and out_of_time.pending[0] == "data"

    cpu_part = _experiment(exp_params, qa_set, tmp_path).run(until="bundle")
    assert cpu_part.ran == ["data", "bundle"] and cpu_part.pending[0] == "train/blind-s0"

    cut = _experiment(exp_params, qa_set, tmp_path, budget_s=0)
    monkeypatch.setattr(cut, "out_of_time", lambda: False)  # every step starts; training stops at a checkpoint
    outcome = cut.run()
    assert outcome.skipped == ["data", "bundle"] and outcome.pending[0] == "train/blind-s0"
    entry = Ledger(tmp_path / "work").entries["train/blind-s0"]
    assert entry["status"] == "running"
    assert read_meta(latest_checkpoint(tmp_path / "work" / "runs" / "blind-s0"))["step"] == 2  # of 4: saved, stopped

    resumed = _experiment(exp_params, qa_set, tmp_path).run()
    assert resumed.finished and resumed.skipped[:2] == ["data", "bundle"]
    stores = json.loads((tmp_path / "results" / "mlflow_runs.json").read_text())
    assert len([r for r in stores if r["run_name"] == "blind-s0"]) == 1  # the cut run continued, not a new one

    steps_changed = exp_params.model_copy(update={"experiment": exp_params.experiment.model_copy(
        update={"train": {**exp_params.experiment.train, "max_steps": 2}})})
    changed = _experiment(steps_changed, qa_set, tmp_path).run()
    assert [s for s in changed.ran if s.startswith("train/")] == [f"train/{r}" for r in
                                                                  ("blind-s0", "no_geometry-s0", "blind-s1",
                                                                   "no_geometry-s1")]


def test_a_run_is_scored_before_the_next_trains_and_one_whose_checkpoint_left_unscored_trains_again(
        exp_params, qa_set, tmp_path):
    first = _experiment(exp_params, qa_set, tmp_path).run(until="train/blind-s1")
    scorings = {r: [name for name, _ in _experiment(exp_params, qa_set, tmp_path).evaluations(r)]
                for r in ("blind-s0", "no_geometry-s0")}
    assert first.ran == ["data", "bundle", "train/blind-s0", *scorings["blind-s0"], "train/no_geometry-s0",
                         *scorings["no_geometry-s0"], "train/blind-s1"]

    # an interim report: seed 0 is trained and scored in both arms, seed 1 is not (blind-s1 trained, unscored)
    earlier = tmp_path / "results" / "scores" / "train" / "no_geometry-s7.json"  # a model of an earlier report
    earlier.parent.mkdir(parents=True)
    earlier.write_text("{}")
    assert _experiment(exp_params, qa_set, tmp_path).interim_report() == [0]
    assert not earlier.exists()
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert (summary["seeds"], summary["planned_seeds"], summary["complete"]) == ([0], [0, 1], False)
    train = summary["splits"]["train"]
    assert set(train["runs"]) == {f"{r}{form}" for r in ("blind-s0", "no_geometry-s0")
                                  for form in ("", " [official prompt]")} | {"no_geometry-s0 [blank frames]"}
    assert train["models"]["no_geometry"]["overall"] == train["runs"]["no_geometry-s0"]  # one seed pooled: itself
    assert (tmp_path / "results" / "table.md").read_text().startswith("**Interim report**: seeds [0] of the planned")

    shutil.rmtree(tmp_path / "work" / "runs")  # the GPU machine is given back: both checkpoints go with it
    again = _experiment(exp_params, qa_set, tmp_path).run()
    assert again.finished
    assert {"train/blind-s0", "train/no_geometry-s0"} <= set(again.skipped)  # scored: checkpoints not needed
    assert again.ran[0] == "train/blind-s1"  # finished but never scored: trained again, then scored
    runs = json.loads((tmp_path / "results" / "mlflow_runs.json").read_text())
    assert [r["store"] for r in runs if r["run_name"] == "blind-s1"] == ["blind-s1.db"]  # the first one retired
    from mlflow.tracking import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=f"sqlite:///{(tmp_path / 'work' / 'mlflow' / 'blind-s1.db').resolve()}")
    stages = sorted(r.info.lifecycle_stage for r in client.search_runs(
        [e.experiment_id for e in client.search_experiments()], run_view_type=ViewType.ALL))
    assert stages == ["active", "deleted"]


def test_an_interim_report_needs_a_seed_finished_in_every_arm(exp_params, qa_set, tmp_path):
    from click.testing import CliRunner

    _experiment(exp_params, qa_set, tmp_path).run(until="train/no_geometry-s0")  # blind-s0 scored, not the other
    config = tmp_path / "experiment.yaml"  # the experiment as a config over params.yaml, as users pass it
    config.write_text(json.dumps(exp_params.model_dump(mode="json")))
    report = CliRunner().invoke(command.report_command, ["--config", str(config), "--work", str(tmp_path / "work"),
                                                         "--results", str(tmp_path / "results"), "--allow-dirty"])
    assert report.exit_code == 2 and "no seed of [0, 1] is trained and scored in every arm" in report.output
    assert not (tmp_path / "results").exists()


def test_a_copy_without_git_runs_as_the_commit_its_files_are_shown_to_be(tmp_path, monkeypatch):
    files = ["params.yaml", "mosaic_model/experiment/command.py"]
    blobs = {f: subprocess.run(["git", "hash-object", f], cwd=REPO_ROOT, capture_output=True, text=True,
                               check=True).stdout.strip() for f in files}  # git's own blob ids of the files here
    assert {f: blob_id(REPO_ROOT / f) for f in files} == blobs
    copy = tmp_path / "copy"
    for f in files:
        (copy / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / f, copy / f)
    assert tree_differences(blobs, copy) == []
    (copy / files[1]).write_text((copy / files[1]).read_text() + "# changed on the GPU machine\n")
    (copy / files[0]).unlink()
    assert tree_differences(blobs, copy) == sorted(files)

    work = tmp_path / "work"
    monkeypatch.setattr(command, "git_tags", lambda: {COMMIT_TAG: "unknown", DIRTY_TAG: "unknown"})
    with pytest.raises(click.UsageError, match="no git history"):
        checkout_commit(work, allow_dirty=False)
    work.mkdir()
    (work / CHECKOUT).write_text(json.dumps({"commit": "c0ffee", "blobs": blobs}))
    assert checkout_commit(work, allow_dirty=False) == "c0ffee"  # the files here are that commit's
    (work / CHECKOUT).write_text(json.dumps({"commit": "c0ffee", "blobs": {**blobs, "params.yaml": "0" * 40}}))
    with pytest.raises(click.UsageError, match="not commit c0ffee: 1 files differ \\(params.yaml\\)"):
        checkout_commit(work, allow_dirty=False)


def test_a_data_step_cut_off_resumes_only_under_the_same_identity(exp_params, qa_set, tmp_path):
    seen = []

    def data(params, artifacts, resume):
        seen.append(resume)
        return DataOutputs(qa_set.parquet, qa_set.image_root, {})

    def experiment(params):
        return HandWrittenData(params, tmp_path / "work", tmp_path / "results", "c0ffee", data, log=lambda _: None)

    cut = experiment(exp_params)
    Ledger(tmp_path / "work").record("data", cut.data_identity(), "running")  # killed inside the data step
    experiment(exp_params).run(until="data")
    other = exp_params.model_copy(update={"qa": exp_params.qa.model_copy(update={"seed": 1})})
    Ledger(tmp_path / "work").record("data", cut.data_identity(), "running")
    experiment(other).run(until="data")
    experiment(exp_params).run(until="data")  # finished under the first identity before: now another: runs
    assert seen == [True, False, False]


class WithGeometryBundle(HandWrittenData):
    """The hand-written QA set, and a geometry bundle for the pretraining of the full arm's encoder."""

    def bundle(self) -> bool:
        made = super().bundle()
        if made:
            write_geometry_bundle(self.work / BUNDLE, 28, 7, 6)  # the tiny config's encoder size
        return made


def test_the_full_arm_reads_the_encoder_the_geometry_step_writes_and_only_it_comes_back(exp_params, qa_set,
                                                                                         tmp_path):
    arms = {"no_geometry": ARMS["no_geometry"],
            "full": {"model": {"geometry": {"enabled": True}}, "pretrained_geometry": True, "blank_frames": False}}
    dumped = exp_params.model_dump(mode="json")
    params = load_params(overrides={
        **dumped, "experiment": {**dumped["experiment"], "arms": arms, "seeds": [0], "eval_prompts": ["training"],
                                 "comparison": {"treatment": "full", "control": "no_geometry"}},
        "geometry_pretrain": {**dumped["geometry_pretrain"], "steps": 2, "batch_size": 2, "frames_per_sample": 2,
                              "frame_window": 4, "eval_samples": 2, "bf16": False}})
    work, carry = tmp_path / "work", _device_carry()
    assert _experiment(params, qa_set, tmp_path, WithGeometryBundle).run(until="bundle").ran == ["data", "bundle"]
    carry.snapshot(work)  # what a device command was carried
    done = _experiment(params, qa_set, tmp_path, WithGeometryBundle)
    outcome = done.run()
    assert outcome.finished and outcome.ran[0] == "geometry" and "train/full-s0" in outcome.ran

    encoder = work / GEOMETRY_DIR / ENCODER
    cfg = run_config("full-s0", params.experiment, work)
    assert Path(cfg.model.geometry.weights) == encoder.resolve()
    by_content = cfg.model_dump(mode="json")  # the run's identity names the encoder by the bytes it read
    by_content["model"]["geometry"]["weights"] = file_sha256(encoder)
    assert Ledger(work).entries["train/full-s0"]["identity"]["config_sha256"] == sha256_of(by_content)
    back = carry.to_return(work)  # what the command brings back
    assert f"{GEOMETRY_DIR}/{ENCODER}" in back and f"{GEOMETRY_DIR}/{WEIGHTS}" not in back
    assert not [f for f in back if "/checkpoint/" in f] and "ledger.json" in back
    assert not [f for f in back if f.startswith(("vlm-bundle", "bundle", "runs"))]
