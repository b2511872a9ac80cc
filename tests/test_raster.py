"""The torch backend of the visibility casts (``visibility.backend: torch``, visibility/raster.py) against Open3D's
(visibility/raycast.py) and against hand-computed pixels: first hits, near-plane clipping, coverage, the table.

Measured tolerance (docs/labels_performance.md, "Backends"): the two differ only on pixel centres within
float32 rounding of a triangle edge; on the furnished test room (5,836 faces; 6 frames at 96x72, 2 at
320x240) 1 pixel of 195,072 has another first face (an adjacent face of the same instance), depths agree
to 3e-5 m, 0 of 10,800 coverage rays differ and the visibility table's three counts are equal. The
assertions leave that margin, no more.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from visibility_scenes import SceneBuilder, camera, furnished_room, quad

from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.types import Frame, Scene
from mosaic_pipeline.visibility.backend import make_caster
from mosaic_pipeline.visibility.coverage import ExtremePoints, pixel_boxes, projected_extents
from mosaic_pipeline.visibility.raster import TorchCaster, ragged_chunks, resolve_device
from mosaic_pipeline.visibility.table import compute_visibility

CAM = camera(96, 72, 60.0)
NEAR = 0.05
MIN_PIXEL_AGREEMENT = 0.9999  # measured: 1 - 5e-6 here; 0.99990 on the 373k-face benchmark room
MAX_DEPTH_DIFFERENCE = 1e-4  # metres where the faces agree (measured 3e-5: float32 rounding at ~5 m)
NO_CUDA = "no CUDA device: the GPU backend's figure comes from a device run, see benchmarks/labels_gpu.py"


def open3d_caster(scene):
    pytest.importorskip("open3d", reason="the Open3D backend is the reference")
    from mosaic_pipeline.visibility.raycast import MeshCaster
    return MeshCaster(scene)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tensors this small gain nothing from more threads, only barrier waits (seconds on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def room():
    return furnished_room(seed=11, n_objects=12, n_frames=6, cam=CAM, subdivisions=1, scene_id="raster").build()


def facing(scene_builder: SceneBuilder, cam) -> Scene:
    """The builder's scene seen by one camera at the origin looking along +z (world = camera frame)."""
    return replace(scene_builder.build(), frames=[Frame("frame_000000", cam, np.eye(4))])


def compare_first_hits(scene, ours, frames_cams) -> tuple[float, float]:
    """Share of pixels with the same first face (hit or miss) and the largest depth difference where they agree."""
    reference = open3d_caster(scene)
    same = total = 0
    depth = 0.0
    for frame, cam in frames_cams:
        a = ours.first_hits(cam, frame.world_to_cam, NEAR)
        b = reference.first_hits(cam, frame.world_to_cam, NEAR)
        assert a.depth.dtype == np.float32 and a.face.dtype == np.int32 and a.face.shape == (cam.height, cam.width)
        np.testing.assert_array_equal(np.isnan(a.depth), a.face < 0)
        eq = a.face == b.face
        same, total = same + int(eq.sum()), total + eq.size
        both = eq & a.hit
        depth = max(depth, float(np.abs(a.depth[both] - b.depth[both]).max(initial=0.0)))
    return same / total, depth


def test_quad_facing_the_camera_covers_the_pixel_centres_inside_at_its_depth():
    # z = 2, x in [-0.5, 0.5], y in [-0.25, 0.25], f = 40, centre (32, 24): u in [22, 42], v in [19, 29]
    cam = camera(64, 48, 40.0)
    scene = facing(SceneBuilder().add(quad([[-0.5, -0.25, 2], [0.5, -0.25, 2], [0.5, 0.25, 2], [-0.5, 0.25, 2]]), 7),
                   cam)
    hits = TorchCaster(scene, "cpu").first_hits(cam, np.eye(4), NEAR)
    expected = np.zeros((48, 64), bool)
    expected[19:29, 22:42] = True  # the pixel centres c + 0.5 in [22, 42], r + 0.5 in [19, 29]
    np.testing.assert_array_equal(hits.hit, expected)
    np.testing.assert_allclose(hits.depth[expected], 2.0, rtol=1e-6)
    assert set(np.unique(hits.face[expected])) == {0, 1}
    np.testing.assert_array_equal(hits.face, open3d_caster(scene).first_hits(cam, np.eye(4), NEAR).face)


def test_ties_go_to_the_lowest_face_id():
    cam = camera(64, 48, 40.0)
    corners = [[-0.5, -0.25, 2], [0.5, -0.25, 2], [0.5, 0.25, 2], [-0.5, 0.25, 2]]
    scene = facing(SceneBuilder().add(quad(corners)).add(quad(corners)), cam)  # faces 2, 3 repeat faces 0, 1
    face = TorchCaster(scene, "cpu").first_hits(cam, np.eye(4), NEAR).face
    assert set(np.unique(face[face >= 0])) == {0, 1}


def straddling_scene(cam):
    """A quad rising from depth 0.01 (x = -0.1) to 1.0 (x = 1) in front of a wall at depth 3.

    Its plane is z = 0.01 + 0.9 (x + 0.1): the ray (dx, dy, 1) meets it at z = 0.1 / (1 - 0.9 dx), at
    or beyond a near plane of 0.2 where dx >= 5/9, i.e. at pixel centres u >= 32 + 40 * 5/9 = 54.2.
    """
    b = SceneBuilder().add(quad([[-0.1, -1, 0.01], [1, -1, 1.0], [1, 1, 1.0], [-0.1, 1, 0.01]]), 1)
    b.add(quad([[-5, -5, 3], [5, -5, 3], [5, 5, 3], [-5, 5, 3]]), 2)
    return facing(b, cam)


def test_a_quad_crossing_the_near_plane_is_cut_there_and_what_lies_behind_shows():
    cam, near = camera(64, 48, 40.0), 0.2
    scene = straddling_scene(cam)
    caster = TorchCaster(scene, "cpu")
    hits = caster.first_hits(cam, np.eye(4), near)
    cols = np.arange(64)
    on_quad = cols >= 54  # 54.5 is the first pixel centre beyond u = 54.2
    np.testing.assert_array_equal(hits.face < 2, np.broadcast_to(on_quad, (48, 64)))
    dx = (cols[on_quad] + 0.5 - 32) / 40
    np.testing.assert_allclose(hits.depth[:, on_quad], np.broadcast_to(0.1 / (1 - 0.9 * dx), (48, on_quad.sum())),
                               rtol=1e-5)
    np.testing.assert_allclose(hits.depth[:, ~on_quad], 3.0, rtol=1e-6)
    np.testing.assert_array_equal(hits.face, open3d_caster(scene).first_hits(cam, np.eye(4), near).face)
    u = np.repeat(np.arange(-10, 80) + 0.5, 2).astype(np.float32)  # both instances, pixels in and beyond the image
    v = np.full(len(u), 20.5, np.float32)
    iid = np.tile([1, 2], len(u) // 2)
    order = np.argsort(iid, kind="stable")
    covered = caster.covered([1, 2], np.bincount(iid)[1:], cam, np.eye(4), near, u[order], v[order])
    quad_u = u[order][:90]
    np.testing.assert_array_equal(covered[:90], (quad_u > 54.2) & (quad_u < 72))  # the quad ends at dx = 1 (u = 72)
    assert covered[90:].all()
    np.testing.assert_array_equal(covered, open3d_caster(scene).covered([1, 2], np.bincount(iid)[1:], cam, np.eye(4),
                                                                        near, u[order], v[order]))


def test_first_hits_agree_with_open3d(room):
    cams = [(f, f.camera) for f in room.frames] + [(f, f.camera.scaled(320, 240)) for f in room.frames[:2]]
    agreement, depth = compare_first_hits(room, TorchCaster(room, "cpu"), cams)
    assert agreement >= MIN_PIXEL_AGREEMENT and depth <= MAX_DEPTH_DIFFERENCE


def test_coverage_agrees_with_open3d(room):
    """Rays over each instance's pixel box grown by 2 pixels (in and beyond the image): Open3D's coverage answers."""
    ours, reference = TorchCaster(room, "cpu"), open3d_caster(room)
    rng = np.random.default_rng(0)
    meshes = ours.instances
    for frame in room.frames[:3]:
        extents = projected_extents(meshes, ExtremePoints.of(meshes), CAM, frame.world_to_cam, NEAR)
        boxes, nonempty = pixel_boxes(extents.uv)
        k = np.flatnonzero(nonempty)
        counts = np.full(len(k), 300)
        u, v = (np.concatenate([rng.integers(boxes[j, a] - 2, boxes[j, a + 2] + 3, 300) for j in k]) + 0.5
                for a in (0, 1))
        args = (meshes.ids[k].tolist(), counts, CAM, frame.world_to_cam, NEAR, u.astype(np.float32),
                v.astype(np.float32))
        a, b = ours.covered(*args), reference.covered(*args)
        assert 0.2 < b.mean() < 0.8 and (a != b).mean() <= 1 - MIN_PIXEL_AGREEMENT


def test_the_table_agrees_with_open3d(room):
    vp = load_params().visibility.model_copy(update={"long_side": CAM.width, "workers": 1})
    pytest.importorskip("open3d")
    a = compute_visibility(room, vp.model_copy(update={"backend": "torch", "device": "cpu"})).table
    b = compute_visibility(room, vp).table
    assert len(a) == len(b) > 20
    for column in ("instance_id", "visible_px", "unoccluded_px", "full_px"):
        np.testing.assert_array_equal(a[column], b[column])


def test_the_backend_parameter_picks_the_caster(room):
    vp = load_params().visibility
    assert vp.backend == "open3d"  # the default: the pipeline's outputs unchanged
    pytest.importorskip("open3d")
    assert type(make_caster(room, vp)).__name__ == "MeshCaster"
    assert isinstance(make_caster(room, vp.model_copy(update={"backend": "torch", "device": "cpu"})), TorchCaster)
    assert resolve_device("cpu").type == "cpu"


def test_ragged_chunks_cover_every_entry_once_whatever_the_budget():
    counts = torch.tensor([3, 0, 7, 1, 0, 12])
    expected = [(i, k) for i, n in enumerate(counts.tolist()) for k in range(n)]
    for budget in (1, 4, 5, 23, 100):
        got = [(int(o), int(k)) for owner, local in ragged_chunks(counts, budget) for o, k in zip(owner, local)]
        assert got == expected


def test_the_torch_backend_imports_no_open3d():
    code = ("import sys; sys.modules['open3d'] = None; import mosaic_pipeline.visibility.raster, "
            "mosaic_pipeline.visibility.table")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_cuda_first_hits_and_coverage_agree_with_the_cpu(room):
    cpu, cuda = TorchCaster(room, "cpu"), TorchCaster(room, "cuda")
    for frame in room.frames:
        for cam in (frame.camera, frame.camera.scaled(320, 240)):
            a, b = cpu.first_hits(cam, frame.world_to_cam, NEAR), cuda.first_hits(cam, frame.world_to_cam, NEAR)
            assert (a.face == b.face).mean() >= MIN_PIXEL_AGREEMENT
    vp = load_params().visibility.model_copy(update={"long_side": CAM.width, "workers": 1, "backend": "torch"})
    a = compute_visibility(room, vp.model_copy(update={"device": "cpu"})).table
    b = compute_visibility(room, vp.model_copy(update={"device": "cuda"})).table
    for column in ("instance_id", "visible_px", "unoccluded_px", "full_px"):
        np.testing.assert_array_equal(a[column], b[column])
