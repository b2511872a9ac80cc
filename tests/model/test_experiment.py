"""The paper experiment's plumbing: what travels between GPU commands (the encoder export, the VLM part of
the bundle), per-run seeds, and the paired treatment - control comparison of the report."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mosaic_model.config import load_run_config
from mosaic_model.data import frame_path, read_qa
from mosaic_model.experiment.bundle import FRAMES, GEOMETRY, MANIFEST, QA, qa_frames_bundle
from mosaic_model.experiment.report import comparisons, paired_differences, verdict
from mosaic_model.experiment.runs import ENCODER, eval_dir, run_config, write_encoder
from mosaic_model.modeling import GeometryEncoder
from mosaic_model.vggt import VGGT
from mosaic_pipeline.params import ExperimentParams, load_params


def _encoder(weights: Path) -> GeometryEncoder:
    cfg = load_run_config(load_params().experiment.config).model.geometry
    return GeometryEncoder(cfg.model_copy(update={"weights": str(weights)})).eval()


def test_exported_encoder_gives_identical_tokens_under_bf16_autocast(tmp_path):
    params = load_params()
    vggt_cfg = load_run_config(params.experiment.config).model.geometry.vggt
    torch.manual_seed(0)
    model = VGGT(vggt_cfg)  # with its heads, as pretraining saves it
    for p in model.parameters():  # trained-looking values, not the tiny initial LayerScale / token values
        p.data.normal_(0, 0.05)
    fp32 = tmp_path / "vggt.safetensors"
    save_file(model.state_dict(), str(fp32))
    exported = write_encoder(fp32, tmp_path / "geometry" / ENCODER, params)  # what the geometry step leaves

    assert exported.stat().st_size < 0.6 * sum(
        v.numel() * 4 for k, v in model.state_dict().items() if k.startswith("aggregator."))
    frames = torch.randint(0, 256, (2, 2, 3, vggt_cfg.img_size, vggt_cfg.img_size), dtype=torch.uint8)
    full, compact = _encoder(fp32), _encoder(exported)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(full(frames), compact(frames))
    assert not torch.equal(full(frames), compact(frames))  # fp32 reads the rounded tensors: not the same


    full = run_config("full-s0", params.experiment, tmp_path)  # the full arm reads the exported encoder
    assert Path(full.model.geometry.weights) == exported.resolve()


def test_a_full_run_without_the_geometry_step_s_encoder_fails_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"geometry/{ENCODER}"):
        run_config("full-s1", load_params().experiment, tmp_path)


def test_runs_are_arms_times_seeds_each_with_its_seed(tmp_path):
    exp = load_params().experiment.model_copy(update={"seeds": (0, 7)})
    assert list(exp.runs()) == [f"{a}-s{s}" for s in (0, 7) for a in exp.arms]  # seed after seed
    assert run_config("no_geometry-s7", exp, tmp_path).train.seed == 7
    assert not run_config("no_geometry-s7", exp, tmp_path).model.geometry.enabled
    with pytest.raises(KeyError, match="no run 'no_geometry-s1'"):
        run_config("no_geometry-s1", exp, tmp_path)


def _predictions(path: Path, scores: dict[str, float]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    family = {"a": "obj_count_occ", "b": "obj_count_occ", "c": "obj_spatial_occ_lr", "d": "obj_spatial_occ_ab"}
    path.write_text("".join(json.dumps({"id": q, "question_type": family[q], "score": s,
                                        "slices": {"occ_level": "high" if q == "a" else "low"}}) + "\n"
                            for q, s in scores.items()))
    return path


def test_paired_difference_averages_the_seeds_per_question(tmp_path):
    params = load_params()
    t0 = _predictions(tmp_path / "t0.jsonl", {"a": 1, "b": 0, "c": 1, "d": 1})
    t1 = _predictions(tmp_path / "t1.jsonl", {"a": 1, "b": 1, "c": 0, "d": 1})
    c0 = _predictions(tmp_path / "c0.jsonl", {"a": 0, "b": 0, "c": 0, "d": 1})
    c1 = _predictions(tmp_path / "c1.jsonl", {"a": 0, "b": 0, "c": 1, "d": 1})
    diffs = paired_differences([t0, t1], [c0, c1], params)
    # per question (mean of seeds): a 1-0, b 0.5-0, c 0.5-0.5, d 1-1 -> 1, 0.5, 0, 0
    assert diffs["all"]["diff"] == pytest.approx(37.5) and diffs["all"]["n"] == 4
    assert diffs["family=obj_count"]["diff"] == pytest.approx(75.0)
    assert diffs["family=obj_spatial"] == {"diff": 0.0, "ci": [0.0, 0.0], "n": 2}
    assert diffs["occ_level=high"]["diff"] == pytest.approx(100.0)
    lo, hi = diffs["all"]["ci"]
    assert 0.0 <= lo <= 37.5 <= hi <= 100.0


def test_comparison_pairs_seeds_and_pools_them(tmp_path):
    params = load_params()
    exp = params.experiment.model_copy(update={"seeds": (0, 1)})
    params = params.model_copy(update={"experiment": exp})
    for name, scores in {"full-s0": [1, 0, 1, 1], "no_geometry-s0": [0, 0, 0, 1],
                         "full-s1": [1, 1, 0, 1], "no_geometry-s1": [0, 0, 1, 1]}.items():
        _predictions(eval_dir(tmp_path, "training", name, "bench") / "predictions.jsonl", dict(zip("abcd", scores)))
    out = comparisons(tmp_path, "bench", "training", params)
    pooled = "mean(full) - mean(no_geometry) over seeds [0, 1]"
    assert list(out) == ["full-s0 - no_geometry-s0", "full-s1 - no_geometry-s1", pooled]
    assert out["full-s0 - no_geometry-s0"]["all"]["diff"] == pytest.approx(50.0)
    assert out["full-s1 - no_geometry-s1"]["all"]["diff"] == pytest.approx(25.0)
    assert out[pooled]["all"]["diff"] == pytest.approx(37.5)


def test_arms_that_answered_different_questions_are_refused(tmp_path):
    a = _predictions(tmp_path / "a.jsonl", {"a": 1, "b": 0})
    b = _predictions(tmp_path / "b.jsonl", {"a": 1, "c": 0})
    with pytest.raises(ValueError, match="same questions"):
        paired_differences([a], [b], load_params())


def test_qa_frames_bundle_holds_what_vlm_runs_read(tmp_path, qa_set):
    bundle = tmp_path / "bundle"
    shutil.copytree(qa_set.image_root, bundle / FRAMES)
    shutil.copyfile(qa_set.parquet, bundle / QA)
    (bundle / MANIFEST).write_text("{}")
    (bundle / GEOMETRY).mkdir()
    (bundle / GEOMETRY / "synth_0000.npz").write_bytes(b"depth")
    unread = next((bundle / FRAMES).rglob("*.jpg")).with_name("frame_999999.jpg")
    unread.write_bytes(b"a registered frame no QA refers to")

    out = qa_frames_bundle(bundle, tmp_path / "vlm")
    wanted = {frame_path(bundle / FRAMES, item, f).relative_to(bundle) for item in read_qa(bundle / QA, None)
              for f in item.frame_ids}
    written = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    assert written == wanted | {Path(QA), Path(MANIFEST)}
    assert all((out / p).read_bytes() == (bundle / p).read_bytes() for p in written)

    missing = sorted(wanted)[0]
    (bundle / missing).unlink()
    with pytest.raises(FileNotFoundError, match=str(missing)):
        qa_frames_bundle(bundle, tmp_path / "vlm2")
    assert not (tmp_path / "vlm2").exists()


def test_comparison_must_name_two_arms_and_seeds_be_distinct():
    raw = load_params().experiment.model_dump()
    with pytest.raises(ValueError, match="experiment.comparison.*unknown: \\['full9'\\]"):
        ExperimentParams.model_validate({**raw, "comparison": {"treatment": "full9", "control": "no_geometry"}})
    with pytest.raises(ValueError, match="two different"):
        ExperimentParams.model_validate({**raw, "comparison": {"treatment": "full", "control": "full"}})
    with pytest.raises(ValueError, match="distinct and non-empty"):
        ExperimentParams.model_validate({**raw, "seeds": [0, 0]})


def _overall(score: float, lo: float, hi: float) -> dict:
    return {"overall": {"score": score, "ci": [lo, hi], "n": 100}}


def test_the_verdict_needs_the_best_seeing_arm_above_both_the_prior_and_the_blind_arm():
    params = load_params()
    tables = {"answer_prior": _overall(31.0, 29.0, 33.0), "blind": _overall(32.0, 30.0, 34.0),
              "no_geometry": _overall(36.0, 34.5, 37.5), "full": _overall(35.0, 33.0, 37.0)}
    v = verdict(tables, params)
    assert v["best_vlm"] == "no_geometry" and v["looks"] and v["ci_high_of"] == {"answer_prior": 33.0, "blind": 34.0}
    tables["blind"] = _overall(33.0, 31.0, 34.6)  # the blind arm's CI reaches into the best arm's
    assert not verdict(tables, params)["looks"]


def test_a_frame_ablation_on_a_split_never_scored_is_refused_naming_both():
    with pytest.raises(ValueError, match=r"experiment.frame_ablation: \['train'\] must be among experiment.eval_splits"):
        load_params().experiment.model_validate({**load_params().experiment.model_dump(), "frame_ablation": ["train"]})
