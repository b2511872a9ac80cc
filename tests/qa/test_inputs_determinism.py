"""Bad inputs fail with the scene, file and field named; the same inputs give the same bytes."""
from __future__ import annotations

from pathlib import Path

import pytest

from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.params import load_params
from mosaic_pipeline.qa.generate import generate_scene_qa
from mosaic_pipeline.qa.records import to_table, write_parquet


@pytest.mark.parametrize("corrupt, field", [
    (lambda vis, views: (vis.drop(columns=["is_visible"]), views), "is_visible"),
    (lambda vis, views: (vis.assign(frame_id=vis["frame_id"].where(vis.index > 0, "frame_999999")), views), "frame_id"),
    (lambda vis, views: (vis.assign(label="sofa"), views), "instance_id"),
    (lambda vis, views: (vis.assign(visible_px=vis["visible_px"].astype(float)), views), "visible_px"),
    (lambda vis, views: (vis, views.assign(frame_ids=[["frame_000000"]] * len(views))), "frame_ids"),
    (lambda vis, views: (vis, views.assign(sample_id=0)), "sample_id"),
    (lambda vis, views: (vis, views.assign(scene_id="other")), "scene_id"),
])
def test_bad_tables_name_scene_file_and_field(shards, params, corrupt, field):
    shard = shards[0]
    vis, views = corrupt(shard.visibility.copy(), shard.views.copy())
    with pytest.raises(SceneError) as err:
        generate_scene_qa(shard.scene, vis, views, params, visibility_path=Path("vis.parquet"),
                          views_path=Path("views.parquet"))
    assert err.value.field == field and shard.scene.scene_id in str(err.value) and err.value.path is not None


def test_same_inputs_same_bytes(shards, params, tmp_path):
    shard = shards[0]
    for name in ("a", "b"):
        write_parquet(to_table(generate_scene_qa(shard.scene, shard.visibility, shard.views, params)),
                      tmp_path / f"{name}.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_seed_changes_the_draw(shards, params):
    shard = shards[0]
    other = load_params(overrides={"qa": {"seed": 1}})
    a = {r.question for r in generate_scene_qa(shard.scene, shard.visibility, shard.views, params)}
    b = {r.question for r in generate_scene_qa(shard.scene, shard.visibility, shard.views, other)}
    assert a != b
