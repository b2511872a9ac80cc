"""dvc.yaml names the same files as ``mosaic_pipeline.paths``, the one owner of output paths: every stage's
outputs and the files its command reads, with the ``${...}`` values of params.yaml substituted."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from mosaic_pipeline import paths
from mosaic_pipeline.params import REPO_ROOT, load_params, params_path

ANY_SCENE = "synth_0000"


def _resolved_stages() -> dict:
    values = yaml.safe_load(params_path().read_text())

    def lookup(match: re.Match) -> str:
        node = values
        for key in match.group(1).split("."):
            node = node[key]
        return str(node)

    text = re.sub(r"\$\{([A-Za-z_][\w.]*)\}", lookup, (REPO_ROOT / "dvc.yaml").read_text())
    return yaml.safe_load(text)["stages"]


def _outs(stage: dict) -> set[Path]:
    return {(REPO_ROOT / (o if isinstance(o, str) else next(iter(o)))).resolve() for o in stage.get("outs", [])}


def test_stage_outputs_are_the_paths_module_outputs():
    params, stages = load_params(), _resolved_stages()
    expected = {
        "scenes": {paths.catalog(params), paths.synthetic_release(params), paths.frames_root(params)},
        "visibility": {paths.visibility(params, ANY_SCENE).parent, paths.view_samples(params, ANY_SCENE).parent},
        "qa": {paths.qa_shard(params, ANY_SCENE).parent},
        "dataset": {paths.qa_dataset_dir(params)},
        "geometry": {paths.geometry_encoder(params)},
        "train": {paths.dvc_train_run(params)},
        "evaluate": {paths.reports(params) / "bench" / "predictions.jsonl"},
    }
    assert {name: _outs(stage) for name, stage in stages.items()} == {
        name: {p.resolve() for p in ps} for name, ps in expected.items()}


def _args(stage: dict) -> dict[str, str]:
    command = " ".join(stage["cmd"]) if isinstance(stage["cmd"], list) else stage["cmd"]
    return dict(re.findall(r"--([\w-]+) (\S+)", command))


def test_training_and_evaluation_read_the_dataset_and_frames_the_assets_write():
    params, stages = load_params(), _resolved_stages()
    for name in ("train", "evaluate"):
        args = _args(stages[name])
        assert (REPO_ROOT / args["qa"]).resolve() == paths.qa_dataset(params).resolve()
        assert (REPO_ROOT / args["images"]).resolve() == paths.frames_root(params).resolve()


def test_training_fuses_the_geometry_encoder_the_asset_writes_as_the_checkpoint_asset_does():
    params, stages = load_params(), _resolved_stages()
    field, weights = _args(stages["train"])["set"].split("=", 1)
    assert field == "model.geometry.weights"
    assert (REPO_ROOT / weights).resolve() == paths.geometry_encoder(params).resolve()
    assert weights in stages["train"]["deps"]
