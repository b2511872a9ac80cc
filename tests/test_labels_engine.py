"""The labels engine at the physical limit (docs/labels_performance.md): one cast per frame serves the table
and the overlap, the shortcuts change no count, the sparse overlap equals the dense one, and the sampler
draws the same samples as the all-pairs matrix without ever forming it."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from visibility_scenes import camera, furnished_room

from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.geometry import transform_points
from mosaic_pipeline.visibility import raycast
from mosaic_pipeline.visibility.coverage import ExtremePoints, pixel_boxes, projected_extents
from mosaic_pipeline.visibility.overlap import (
    FrameOverlap,
    FrameVoxels,
    SparseOverlap,
    cast_frame_voxels,
    overlap_matrix,
    overlap_sample,
    read_frame_voxels,
    write_frame_voxels,
)
from mosaic_pipeline.visibility.frame_pool import cast_threads, frame_workers
from mosaic_pipeline.visibility.table import SceneVisibility, compute_visibility, write_visibility
from mosaic_pipeline.visibility.views import sample_views

CAM = camera(96, 72, 60.0)
LEVELS = (0.1, 0.3)


def vis_params(**overrides):
    return load_params().visibility.model_copy(update={"long_side": CAM.width, **overrides})


@pytest.fixture(scope="module")
def scene():
    return furnished_room(seed=11, n_objects=12, n_frames=6, cam=CAM, scene_id="engine").build()


# ---- one cast per frame ----

def test_one_cast_per_frame_gives_the_table_and_the_voxel_sets(scene, monkeypatch):
    casts = []
    original = raycast.MeshCaster.first_hits
    monkeypatch.setattr(raycast.MeshCaster, "first_hits", lambda self, *a: casts.append(a) or original(self, *a))
    result = compute_visibility(scene, vis_params(workers=1), voxel_size=0.1)  # in this process: casts counted
    assert len(casts) == len(scene.frames)  # the table's cast, nothing else
    monkeypatch.undo()
    separate = cast_frame_voxels(scene, CAM.width, vis_params().near_plane, 0.1)
    assert result.voxels.frame_ids == separate.frame_ids == [f.frame_id for f in scene.frames]
    np.testing.assert_array_equal(result.voxels.indptr, separate.indptr)
    np.testing.assert_array_equal(result.voxels.voxels, separate.voxels)
    assert (result.voxels.n_voxels > 50).all()
    without = compute_visibility(scene, vis_params())
    assert without.voxels is None and without.table.equals(result.table)


def test_frame_workers_give_the_serial_output_byte_for_byte(scene, tmp_path):
    """Frames labelled in worker processes: the same table and voxel files, frames in order."""
    files = []
    for workers in (1, 3):
        result = compute_visibility(scene, vis_params(workers=workers), voxel_size=0.1)
        assert len(result.seconds_per_frame) == len(scene.frames)
        write_visibility(result.table, tmp_path / f"{workers}.parquet")
        write_frame_voxels(result.voxels, tmp_path / f"{workers}.voxels.parquet")
        files.append([(tmp_path / f"{workers}{ext}").read_bytes() for ext in (".parquet", ".voxels.parquet")])
    assert files[0] == files[1]
    assert frame_workers(2) == 2 and frame_workers(None) >= 1 and cast_threads(1) == 0 and cast_threads(2) >= 1
    with pytest.raises(ValueError, match="workers"):
        frame_workers(0)
    bad = replace(scene, frames=[*scene.frames[:3], replace(scene.frames[3], world_to_cam=2 * np.eye(4))])
    with pytest.raises(SceneError, match="world_to_cam"):  # a worker's error, raised here as it is
        compute_visibility(bad, vis_params(workers=2))


def test_frame_voxels_round_trip(tmp_path):
    fv = FrameVoxels.of(["frame_000000", "frame_000010", "frame_000020"],
                        [np.array([3, 9, 2**40]), np.zeros(0, np.int64), np.array([1])])
    write_frame_voxels(fv, tmp_path / "v.parquet")
    back = read_frame_voxels(tmp_path / "v.parquet")
    assert back.frame_ids == fv.frame_ids
    np.testing.assert_array_equal(back.indptr, fv.indptr)
    np.testing.assert_array_equal(back.voxels, fv.voxels)


# ---- shortcuts that must not change a count ----

def _all_vertex_extents(meshes, cam, pose, near):
    """Brute force: every vertex in front and every edge crossing of each instance (no hull)."""
    p = transform_points(pose, meshes.points)
    out = np.full((len(meshes.ids), 4), [np.inf, np.inf, -np.inf, -np.inf])
    a, b = meshes.edges.T
    for j in range(len(meshes.ids)):
        own = np.arange(len(p))[meshes.vertex_start[j]:(meshes.vertex_start[j + 1] if j + 1 < len(meshes.ids) else len(p))]
        pts = p[own][p[own, 2] >= near]
        e = np.flatnonzero((meshes.edge_instance == j) & ((p[a, 2] - near) * (p[b, 2] - near) < 0))
        pa, pb = p[a[e]], p[b[e]]
        pts = np.concatenate([pts, pa + ((near - pa[:, 2]) / (pb[:, 2] - pa[:, 2]))[:, None] * (pb - pa)])
        if len(pts):
            u, v = cam.fx * pts[:, 0] / pts[:, 2] + cam.cx, cam.fy * pts[:, 1] / pts[:, 2] + cam.cy
            out[j] = [u.min(), v.min(), u.max(), v.max()]
    return out


def test_hull_point_extents_equal_all_vertex_extents(scene):
    engine = SceneVisibility(scene, vis_params())
    meshes = engine.caster.instances
    for frame in scene.frames:
        ext = projected_extents(meshes, ExtremePoints.of(meshes), CAM, frame.world_to_cam, 0.05)
        np.testing.assert_array_equal(pixel_boxes(ext.uv)[0], pixel_boxes(_all_vertex_extents(meshes, CAM, frame.world_to_cam, 0.05))[0])


def test_straddling_instances_use_their_edges(scene):
    """A camera inside the room's furniture cluster: some instances cross the near plane."""
    engine = SceneVisibility(scene, vis_params())
    meshes = engine.caster.instances
    straddled = 0
    for frame in scene.frames:
        pose = frame.world_to_cam.copy()
        pose[2, 3] -= 1.5  # 1.5 m further forward: objects reach behind the camera
        z = transform_points(pose, meshes.points)[:, 2]
        straddled += sum((z[s:e] < 0.05).any() and (z[s:e] >= 0.05).any()
                         for s, e in zip(meshes.vertex_start, np.append(meshes.vertex_start[1:], len(z))))
        ext = projected_extents(meshes, engine.extreme, CAM, pose, 0.05)
        np.testing.assert_array_equal(pixel_boxes(ext.uv)[0], pixel_boxes(_all_vertex_extents(meshes, CAM, pose, 0.05))[0])
    assert straddled >= 2


def test_parts_and_offscreen_budget_change_no_ratio(scene):
    exact = compute_visibility(scene, vis_params(coverage_part_size=None, full_px_max_offscreen_rays=None)).table
    parts = compute_visibility(scene, vis_params(coverage_part_size=0.3, full_px_max_offscreen_rays=None)).table
    assert parts.equals(exact)  # instance parts spare rays, never change a count
    coarse = compute_visibility(scene, vis_params(coverage_part_size=0.3, full_px_max_offscreen_rays=16)).table
    assert coarse[["frame_id", "instance_id"]].equals(exact[["frame_id", "instance_id"]])
    changed = coarse.full_px != exact.full_px
    assert changed.any()  # the scene has instances wholly outside some frame
    off = exact[changed]
    assert (off.visible_px == 0).all() and (off.unoccluded_px == 0).all() and (off.fov_ratio == 1).all()
    same = [c for c in exact.columns if c != "full_px"]
    assert coarse[same].equals(exact[same])


# ---- sparse overlap and the sampler ----

def random_sets(F: int, seed: int, universe: int = 400) -> list[np.ndarray]:
    """Voxel sets of frames along a loop: frame i sees a window of the universe around 10 i (plus noise)."""
    rng = np.random.default_rng(seed)
    sets = []
    for i in range(F):
        centre = (10 * i) % universe
        ids = (centre + rng.integers(-60, 60, rng.integers(0, 120))) % universe
        sets.append(np.unique(ids).astype(np.int64))
    sets[3] = np.zeros(0, np.int64)  # a frame that sees nothing
    return sets


def test_sparse_rows_and_submatrices_equal_the_dense_matrix():
    sets = random_sets(50, seed=1)
    dense = overlap_matrix(sets)
    expected = np.array([[len(np.intersect1d(a, b)) / len(np.union1d(a, b)) if len(np.union1d(a, b)) else 0.0
                          for b in sets] for a in sets])
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_array_equal(dense, expected)
    sparse = SparseOverlap(FrameVoxels.of([f"f{i}" for i in range(50)], sets))
    for i in range(50):
        np.testing.assert_array_equal(sparse.row(i), expected[i])
    idx = np.array([0, 3, 7, 49])
    np.testing.assert_array_equal(sparse.submatrix(idx), expected[np.ix_(idx, idx)])


def _dense_sampler(scene_id, matrix, eligible, p):
    """The sampler as it was with the all-pairs matrix (independent reference)."""
    from mosaic_pipeline.visibility.views import scene_rng

    rng = scene_rng(p.seed, scene_id)
    compatible = matrix <= p.max_overlap
    np.fill_diagonal(compatible, False)
    pool, drawn, samples = np.flatnonzero(eligible), set(), []
    for _ in range(p.samples_per_scene):
        n = int(rng.integers(p.min_frames, p.max_frames + 1))
        for _ in range(p.attempts_per_sample):
            order, free, kept = rng.permutation(pool), np.ones(len(matrix), bool), []
            for _ in range(n):
                candidates = order[free[order]]
                if len(candidates) == 0:
                    kept = None
                    break
                kept.append(candidates[0])
                free &= compatible[candidates[0]]
            if kept is not None and tuple(sorted(kept)) not in drawn:
                drawn.add(tuple(sorted(kept)))
                samples.append(sorted(kept))
                break
    return samples


class CountingOverlap(SparseOverlap):
    """Records the rows the sampler asks for; has no dense matrix at all."""

    def __init__(self, voxels):
        super().__init__(voxels)
        self.rows_asked = []

    def row(self, i):
        self.rows_asked.append(i)
        return super().row(i)


def test_sparse_sampler_draws_the_dense_samplers_samples_without_the_matrix():
    F = 800
    sets = random_sets(F, seed=2, universe=3200)
    ids = [f"frame_{10 * i:06d}" for i in range(F)]
    eligible = np.ones(F, bool)
    eligible[[5, 17]] = False
    p = load_params().views
    sparse = CountingOverlap(FrameVoxels.of(ids, sets))
    table = sample_views("s", sparse, eligible, p, LEVELS)
    expected = _dense_sampler("s", overlap_matrix(sets), eligible, p)
    assert len(table) == p.samples_per_scene
    assert [[ids.index(f) for f in frames] for frames in table.frame_ids] == expected
    print(f"rows asked: {len(sparse.rows_asked)} of {F}")
    assert len(set(sparse.rows_asked)) == len(sparse.rows_asked) < F / 2  # each row once, most never
    assert not hasattr(sparse, "matrix")
    dense = FrameOverlap(ids, sparse.n_voxels, overlap_matrix(sets))
    assert sample_views("s", dense, eligible, p, LEVELS).equals(table)


def test_overlap_sample_caps_the_written_matrix():
    sets = random_sets(50, seed=3)
    sparse = SparseOverlap(FrameVoxels.of([f"f{i}" for i in range(50)], sets))
    every = overlap_sample(sparse, None)
    assert every.frame_ids == sparse.frame_ids
    np.testing.assert_array_equal(every.matrix, overlap_matrix(sets))
    some = overlap_sample(sparse, 8)
    idx = [int(f[1:]) for f in some.frame_ids]
    assert len(idx) == 8 and idx[0] == 0 and idx[-1] == 49 and idx == sorted(idx)
    np.testing.assert_array_equal(some.matrix, every.matrix[np.ix_(idx, idx)])
    np.testing.assert_array_equal(some.n_voxels, sparse.n_voxels[idx])
