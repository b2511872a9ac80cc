"""The QA assets on two small synthetic scenes whose visibility and view tables are made here, outside
Dagster, where ``mosaic_pipeline.paths`` puts them, and never recorded in the instance: what a checkout whose
upstream tables DVC restored looks like. The assets find them from the parameters alone."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import dagster as dg
import pytest

from mosaic_assets.defs.assets.qa import qa_dataset, qa_shards
from mosaic_assets.defs.resources import MosaicParams
from mosaic_pipeline import paths
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import load_params
from mosaic_pipeline.qa.generate import SPLIT_GROUPS, task_specs
from mosaic_pipeline.qa.records import as_frame, read_table
from mosaic_pipeline.scene.scannetpp import load_scene
from mosaic_pipeline.synth import generate_scene
from mosaic_pipeline.visibility.overlap import compute_overlap
from mosaic_pipeline.visibility.table import compute_visibility, write_visibility
from mosaic_pipeline.visibility.views import eligible_frames, sample_views, write_views


def _root_conftest():
    """tests/conftest.py under its own module name (tests/qa has a conftest too)."""
    path = Path(__file__).parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("tests_root_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

pytestmark = pytest.mark.slow


def _upstream(params, entry) -> None:
    generate_scene(entry.release_root, entry.scene_id, seed=entry.synth_seed, index=entry.synth_index,
                   params=params.synthetic)
    scene = load_scene(entry.scene_dir)
    vp = params.visibility
    table = compute_visibility(scene, vp).table
    overlap = compute_overlap(scene, vp.long_side, vp.near_plane, params.views.voxel_size)
    views = sample_views(scene.scene_id, overlap, eligible_frames(table, overlap.frame_ids), params.views,
                         vp.overlap_level_edges)
    write_visibility(table, paths.visibility(params, entry.scene_id))
    write_views(views, paths.view_samples(params, entry.scene_id))


def test_shards_and_dataset(tmp_path):
    params_file = _root_conftest().write_small_params(tmp_path, extra={"views": {"max_overlap": 0.6}})
    params = load_params(params_file)
    resources = {"mosaic": MosaicParams(params_file=str(params_file))}
    entries = load_catalog(params)
    with dg.instance_for_test() as instance:
        for entry in entries:
            _upstream(params, entry)
            result = dg.materialize([qa_shards], partition_key=entry.scene_id, instance=instance,
                                    resources=resources)
            assert result.success
            meta = result.asset_materializations_for_node("qa_shards")[0].metadata
            shard = as_frame(read_table(paths.qa_shard(params, entry.scene_id)))
            assert meta["n_qa"].value == len(shard) > 0 and set(shard["split"]) == {entry.split}
        result = dg.materialize([qa_dataset], instance=instance, resources=resources)
        assert result.success
    meta = result.asset_materializations_for_node("qa_dataset")[0].metadata
    dataset = as_frame(read_table(Path(meta["path"].value)))
    group_of = {s.question_type: s.group for s in task_specs(params)}
    assert sorted(dataset["scene_id"].unique()) == sorted(e.scene_id for e in entries)
    for split, rows in dataset.groupby("split"):
        assert {group_of[t] for t in rows["question_type"]} <= set(SPLIT_GROUPS[split])
        assert meta[f"n_qa_{split}"].value == len(rows)
    # the judged splits are debiased (docs/audit.md): the report counts what the dataset kept of the generated QA
    generated = as_frame(read_table(paths.qa_generated(params)))
    kept = dataset.groupby(["split", "question_type"]).size()
    report = json.loads(paths.qa_debias_report(params).read_text())
    assert report and {r["split"] for r in report} <= set(params.audit.splits) and len(dataset) <= len(generated)
    for r in report:
        assert r["kept"] == kept.get((r["split"], r["question_type"]), 0)
        assert r["generated"] == ((generated["split"] == r["split"]) & (generated["question_type"] == r["question_type"])).sum()
    exports = meta["exports"].value
    llava = json.loads(Path(exports["train_llava"]).read_text())
    assert len(llava) == meta["n_qa_train"].value
