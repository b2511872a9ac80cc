"""Frame overlap (voxel IoU) and the low-overlap view sampler; the `mosaic visibility` / `mosaic views` CLI."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
import trimesh
from click.testing import CliRunner
from scenes_by_hand import write_hand_scene
from visibility_scenes import SceneBuilder, box, camera, furnished_room, room

from mosaic_cli import main
from mosaic_pipeline.params import load_params
from mosaic_pipeline.visibility.overlap import (
    FrameOverlap,
    compute_overlap,
    overlap_matrix,
    overlap_sample,
    read_frame_voxels,
    read_overlap,
    write_overlap,
)
from mosaic_pipeline.visibility.table import SCHEMA as VIS_SCHEMA
from mosaic_pipeline.visibility.views import SCHEMA, overlap_level, read_views, sample_views, write_views

CAM = camera(80, 60, 50.0)
LEVELS = (0.1, 0.3)


def views_params(**overrides):
    return load_params().views.model_copy(update=overrides)


def overlap_of(scene, voxel=0.05):
    return overlap_sample(compute_overlap(scene, long_side=CAM.width, near=0.05, voxel_size=voxel), None)


# ---- overlap ----

def test_self_overlap_is_one_and_opposite_views_are_disjoint():
    b = room(SceneBuilder()).add(box([1, 2.5, 0.5], [0.4, 0.4, 0.4]), 1, "crate")
    b.look([3, 2.5, 1.3], [6, 2.5, 1.3], CAM).look([3, 2.5, 1.3], [6, 2.5, 1.3], CAM).look([3, 2.5, 1.3], [0, 2.5, 1.3], CAM)
    ov = overlap_of(b.build())
    np.testing.assert_array_equal(np.diag(ov.matrix), 1.0)
    assert ov.matrix[0, 1] == 1.0  # the same pose twice
    assert ov.matrix[0, 2] == 0.0 and ov.matrix[1, 2] == 0.0  # back to back: no shared surface
    np.testing.assert_array_equal(ov.matrix, ov.matrix.T)
    assert (ov.n_voxels > 100).all()


def _voxel_set(scene, frame, voxel: float, near: float) -> set[tuple[int, int, int]]:
    """Independent V_i: trimesh/Embree first hits of every pixel centre, floored to voxel triples."""
    cam, pose = frame.camera, frame.world_to_cam
    rows, cols = np.mgrid[0:cam.height, 0:cam.width]
    d_cam = np.stack([(cols.ravel() + 0.5 - cam.cx) / cam.fx, (rows.ravel() + 0.5 - cam.cy) / cam.fy,
                      np.ones(cols.size)], axis=1)
    d = d_cam @ pose[:3, :3]
    origin = -pose[:3, :3].T @ pose[:3, 3]
    mesh = trimesh.Trimesh(scene.vertices, scene.faces, process=False)
    points, _, _ = mesh.ray.intersects_location(origin + near * d, d, multiple_hits=False)
    origin_grid = scene.vertices.min(axis=0) - voxel / 2  # voxel centres on the mesh minimum (walls mid-voxel)
    return set(map(tuple, np.floor((points - origin_grid) / voxel).astype(int)))


def test_overlap_matrix_matches_python_sets_of_independent_first_hits():
    scene = furnished_room(seed=7, n_objects=8, n_frames=5, cam=CAM).build()
    ov = overlap_of(scene, voxel=0.1)
    sets = [_voxel_set(scene, f, 0.1, 0.05) for f in scene.frames]
    expected = np.array([[len(a & b) / len(a | b) for b in sets] for a in sets])
    assert np.abs(ov.matrix - expected).max() <= 0.005
    assert np.abs(ov.n_voxels - [len(s) for s in sets]).max() <= 0.01 * max(len(s) for s in sets)
    assert 0.05 < ov.matrix[~np.eye(5, dtype=bool)].max() < 1  # the check compares non-trivial overlaps


def test_overlap_matrix_of_hand_made_sets_and_empty_frames():
    sets = [np.array([1, 2, 3, 4]), np.array([3, 4, 5, 6]), np.array([], dtype=np.int64), np.array([7])]
    m = overlap_matrix(sets)
    assert m[0, 1] == pytest.approx(2 / 6) and m[0, 3] == 0 and m[2, 3] == 0 and m[2, 2] == 1


def test_overlap_cache_round_trip(tmp_path):
    ov = FrameOverlap(["frame_000000", "frame_000010"], np.array([5, 7]), np.array([[1.0, 0.25], [0.25, 1.0]]))
    write_overlap(ov, tmp_path / "o.parquet")
    back = read_overlap(tmp_path / "o.parquet")
    assert back.frame_ids == ov.frame_ids and (back.n_voxels == ov.n_voxels).all()
    np.testing.assert_array_equal(back.matrix, ov.matrix)


# ---- sampler ----

def random_overlap(n: int, seed: int, high: float = 0.6) -> FrameOverlap:
    rng = np.random.default_rng(seed)
    m = rng.uniform(0, high, (n, n))
    m = np.triu(m, 1)
    m = m + m.T
    np.fill_diagonal(m, 1.0)
    return FrameOverlap([f"frame_{10 * i:06d}" for i in range(n)], np.full(n, 100), m)


def test_samples_respect_the_cap_and_record_their_overlaps():
    ov = random_overlap(40, seed=1)
    eligible = np.ones(40, bool)
    eligible[[3, 17]] = False
    p = views_params()
    t = sample_views("s", ov, eligible, p, LEVELS)
    assert list(t.columns) == SCHEMA.names and len(t) == p.samples_per_scene
    assert list(t.sample_id) == list(range(len(t)))
    seen = set()
    for row in t.itertuples():
        idx = ov.index(list(row.frame_ids))
        assert list(idx) == sorted(idx) and len(idx) == row.n_frames and p.min_frames <= row.n_frames <= p.max_frames
        assert not {3, 17} & set(idx.tolist())
        i, j = np.triu_indices(len(idx), k=1)
        assert row.pairwise_overlaps == pytest.approx(ov.matrix[idx[i], idx[j]].tolist())
        assert max(row.pairwise_overlaps) <= p.max_overlap
        assert row.max_overlap == max(row.pairwise_overlaps)
        assert row.mean_overlap == pytest.approx(np.mean(row.pairwise_overlaps))
        assert row.overlap_level == overlap_level(row.mean_overlap, LEVELS)
        seen.add(tuple(idx))
    assert len(seen) == len(t)


def test_frame_count_is_uniform_when_every_set_is_possible():
    ov = random_overlap(60, seed=2, high=0.0)
    t = sample_views("s", ov, np.ones(60, bool), views_params(samples_per_scene=800), LEVELS)
    counts = Counter(t.n_frames)
    assert set(counts) == {2, 3, 4, 5} and all(abs(c - 200) <= 45 for c in counts.values())


def test_sampler_is_deterministic_and_seeded(tmp_path):
    ov, eligible = random_overlap(30, seed=3), np.ones(30, bool)
    a = sample_views("scene_a", ov, eligible, views_params(), LEVELS)
    write_views(a, tmp_path / "a.parquet")
    write_views(sample_views("scene_a", ov, eligible, views_params(), LEVELS), tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert read_views(tmp_path / "a.parquet").frame_ids.map(list).tolist() == a.frame_ids.map(list).tolist()
    other_seed = sample_views("scene_a", ov, eligible, views_params(seed=1), LEVELS)
    other_scene = sample_views("scene_b", ov, eligible, views_params(), LEVELS)
    for other in (other_seed, other_scene):
        assert other.frame_ids.map(tuple).tolist() != a.frame_ids.map(tuple).tolist()


def test_impossible_and_scarce_samples():
    crowded = random_overlap(10, seed=4)
    crowded.matrix[:] = 0.9
    empty = sample_views("s", crowded, np.ones(10, bool), views_params(), LEVELS)
    assert empty.empty and list(empty.columns) == SCHEMA.names
    scarce = random_overlap(10, seed=5)
    scarce.matrix[:] = 0.9
    for i in (1, 4, 7):
        for j in (1, 4, 7):
            scarce.matrix[i, j] = 1.0 if i == j else 0.2
    t = sample_views("s", scarce, np.ones(10, bool), views_params(), LEVELS)
    assert 0 < len(t) <= 4  # {1,4}, {1,7}, {4,7}, {1,4,7}: never above the cap, never more frames than possible
    assert set(t.frame_ids.map(tuple)) <= {("frame_000010", "frame_000040"), ("frame_000010", "frame_000070"),
                                           ("frame_000040", "frame_000070"),
                                           ("frame_000010", "frame_000040", "frame_000070")}
    assert (t.overlap_level == "medium").all()


@pytest.mark.parametrize("mean, level", [(0.0, "low"), (0.0999, "low"), (0.1, "medium"), (0.2999, "medium"), (0.3, "high")])
def test_overlap_level_edges(mean, level):
    assert overlap_level(mean, LEVELS) == level


# ---- CLI ----

def test_cli_visibility_and_views_on_a_real_layout_scene(tmp_path):
    hand = write_hand_scene(tmp_path / "release")
    runner = CliRunner()
    vis = tmp_path / "out" / "visibility.parquet"
    res = runner.invoke(main, ["visibility", str(hand.scene_dir), "--out", str(vis), "--long-side", "64"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rows"] == pq.read_metadata(vis).num_rows > 0
    assert json.loads(res.output)["voxels"] == str(tmp_path / "out" / "visibility.voxels.parquet")
    assert len(read_frame_voxels(tmp_path / "out" / "visibility.voxels.parquet").frame_ids) == 3
    assert pq.read_schema(vis).remove_metadata() == VIS_SCHEMA
    out_a, out_b = tmp_path / "out" / "views_a.parquet", tmp_path / "out" / "views_b.parquet"
    res = runner.invoke(main, ["views", str(hand.scene_dir), "--out", str(out_a), "--visibility", str(vis),
                               "--long-side", "64"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["views", str(hand.scene_dir), "--out", str(out_b), "--long-side", "64"])
    assert res.exit_code == 0, res.output
    assert out_a.read_bytes() == out_b.read_bytes()
    assert pq.read_schema(out_a).remove_metadata() == SCHEMA
    overlap = read_overlap(tmp_path / "out" / "views_a.overlap.parquet")
    assert len(overlap.frame_ids) == 3 and (np.diag(overlap.matrix) == 1).all()
    views = read_views(out_a)
    assert (views.max_overlap <= load_params().views.max_overlap).all()


def test_cli_reports_a_bad_scene_and_exits_1(tmp_path):
    hand = write_hand_scene(tmp_path / "release")
    (hand.scene_dir / "scans" / "segments_anno.json").write_text("{not json")
    res = CliRunner().invoke(main, ["visibility", str(hand.scene_dir), "--out", str(tmp_path / "v.parquet")])
    assert res.exit_code == 1 and "error: scene" in res.output and hand.scene_id in res.output
    assert not (tmp_path / "v.parquet").exists()


# ---- Dagster assets ----

@pytest.mark.slow
def test_visibility_assets_materialize_one_partition(small_params_file, monkeypatch):
    import dagster as dg

    from mosaic_assets.defs.assets.scenes import frames, scene_catalog, scenes
    from mosaic_assets.defs.assets.visibility import view_samples, visibility
    from mosaic_assets.defs.resources import MosaicParams
    from mosaic_pipeline import paths
    from mosaic_pipeline.visibility.raycast import MeshCaster

    params = load_params(small_params_file)
    resources = {"mosaic": MosaicParams(params_file=str(small_params_file))}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([scene_catalog], resources=resources, instance=instance).success
    assets = [scene_catalog, scenes, frames, visibility, view_samples]
    first = dg.materialize(assets, selection=[scenes, frames, visibility], partition_key="synth_0000",
                           resources=resources, instance=instance)
    assert first.success
    assert paths.frame_voxels(params, "synth_0000").exists()

    def no_second_cast(*_):
        raise AssertionError("view_samples cast a frame again")

    monkeypatch.setattr(MeshCaster, "first_hits", no_second_cast)  # one cast per frame: visibility's
    result = dg.materialize(assets, selection=[view_samples], partition_key="synth_0000", resources=resources,
                            instance=instance)
    assert result.success
    meta = {m.asset_key.to_user_string(): m.metadata for r, node in ((first, "visibility"), (result, "view_samples"))
            for m in r.asset_materializations_for_node(node)}
    vis, views = meta["visibility"], meta["view_samples"]
    assert vis["voxels_path"].value == str(paths.frame_voxels(params, "synth_0000"))
    table = pq.read_table(paths.visibility(params, "synth_0000")).to_pandas()
    assert vis["path"].value == str(paths.visibility(params, "synth_0000"))
    assert vis["n_rows"].value == len(table) > 0 and vis["n_visible_rows"].value == int(table.is_visible.sum())
    assert "data:image/png;base64," in vis["occlusion_truncation_histogram"].value
    assert vis["seconds_per_frame_median"].value > 0
    samples = read_views(paths.view_samples(params, "synth_0000"))
    assert views["n_samples"].value == len(samples) > 0
    assert (samples.max_overlap <= params.views.max_overlap).all()
    assert "data:image/png;base64," in views["overlap_heatmap"].value
    assert len(read_overlap(paths.overlap(params, "synth_0000")).frame_ids) == 12
