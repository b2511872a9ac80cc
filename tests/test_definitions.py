"""The Dagster definitions load, and the scene assets materialize one partition end to end."""
from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest
from PIL import Image

from mosaic_assets.definitions import defs
from mosaic_assets.defs.assets.scenes import frames, scene_catalog, scenes
from mosaic_assets.defs.partitions import scene_partitions
from mosaic_assets.defs.resources import MosaicParams
from mosaic_assets.runner import failure_message
from mosaic_pipeline import paths
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import load_params


def test_definitions_load_with_scene_partitions():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"scene_catalog", "scenes", "frames"} <= keys
    assert scene_partitions.get_partition_keys() == [e.scene_id for e in load_catalog(load_params())]
    assert {"catalog", "per_scene"} <= {j.name for j in repo.get_all_jobs()}


@pytest.mark.slow
def test_scene_assets_materialize_one_partition(small_params_file, tmp_path):
    params = load_params(small_params_file)
    resources = {"mosaic": MosaicParams(params_file=str(small_params_file))}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([scene_catalog], resources=resources, instance=instance).success
    result = dg.materialize([scene_catalog, scenes, frames], selection=[scenes, frames], partition_key="synth_0000",
                            resources=resources, instance=instance)
    assert result.success
    meta = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("scenes")}
    scene_meta = meta["scenes"]
    assert scene_meta["n_frames"].value == 12 and scene_meta["n_instances"].value > 5
    assert "data:image/png;base64," in scene_meta["preview"].value

    cams = pd.read_parquet(paths.frames_dir(params, "synthetic", "synth_0000") / "cameras.parquet")
    assert len(cams) == 12 and set(cams[["width", "height"]].iloc[0]) == {160, 120}
    first = paths.frames_dir(params, "synthetic", "synth_0000") / "images" / f"{cams.frame_id.iloc[0]}.jpg"
    assert Image.open(first).size == (160, 120)
    catalog = json.loads(paths.catalog(params).read_text())
    assert [c["split"] for c in catalog] == ["train", "bench"]


@pytest.mark.slow
def test_bad_scene_fails_alone(small_params_file):
    """A corrupted scene fails its own partition with a message naming scene and file; the other succeeds."""
    params = load_params(small_params_file)
    resources = {"mosaic": MosaicParams(params_file=str(small_params_file))}
    instance = dg.DagsterInstance.ephemeral()
    dg.materialize([scene_catalog], resources=resources, instance=instance)
    ok = dg.materialize([scene_catalog, scenes], selection=[scenes], partition_key="synth_0000",
                        resources=resources, instance=instance)
    assert ok.success
    entry = {e.scene_id: e for e in load_catalog(params)}["synth_0000"]
    anno = entry.scene_dir / "scans" / "segments_anno.json"
    anno.unlink()
    broken = dg.materialize([scene_catalog, frames], selection=[frames], partition_key="synth_0000",
                            resources=resources, instance=instance, raise_on_error=False)
    assert not broken.success
    (failure,) = [e for e in broken.all_events if e.is_step_failure]
    message = failure_message(failure)
    assert "synth_0000" in message and "segments_anno.json" in message
    other = dg.materialize([scene_catalog, scenes], selection=[scenes], partition_key="synth_0001",
                           resources=resources, instance=instance)
    assert other.success
