"""Visibility engine: analytic scenes with exactly known pixel counts, table contract, bad input.

The camera of most scenes sits at (0, 0, 1) looking along +x: camera x = -world y, camera y =
1 - world z, depth = world x. A face x = d spanning world y in [y0, y1] and z in [z0, z1] projects
to the pixel rectangle u in cx - f [y1, y0] / d, v in cy + f [1 - z1, 1 - z0] / d, whose pixel-centre
count the tests compute independently.
"""
from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import trimesh
from visibility_scenes import SceneBuilder, box, camera, furnished_room, grid_plane, quad, room

from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.annotations import assign_smallest
from mosaic_pipeline.scene.geometry import camera_rays, look_at
from mosaic_pipeline.scene.types import Frame, Instance, OrientedBox
from mosaic_pipeline.visibility.raycast import image_rays, pixel_rays
from mosaic_pipeline.visibility.table import SCHEMA, compute_visibility, read_visibility, write_visibility

W, H, F = 160, 120, 100.0
CAM = camera(W, H, F)
EYE, AHEAD = [0.0, 0.0, 1.0], [1.0, 0.0, 1.0]


def vis_params(**overrides):
    return load_params().visibility.model_copy(update={"long_side": W, **overrides})


def centres(lo: float, hi: float, size: int | None = None) -> int:
    """Pixel centres (index + 0.5) inside [lo, hi], optionally only those of an image of ``size`` pixels."""
    first, last = math.ceil(lo - 0.5), math.floor(hi - 0.5)
    if size is not None:
        first, last = max(first, 0), min(last, size - 1)
    return max(0, last - first + 1)


def face_rect(d: float, y: tuple[float, float], z: tuple[float, float]) -> tuple[float, float, float, float]:
    """Pixel rectangle (u0, u1, v0, v1) of the face x = d, world y in y, world z in z."""
    return (W / 2 - F * y[1] / d, W / 2 - F * y[0] / d, H / 2 + F * (1 - z[1]) / d, H / 2 + F * (1 - z[0]) / d)


def rect_pixels(rect, clip: bool = False) -> int:
    u0, u1, v0, v1 = rect
    return centres(u0, u1, W if clip else None) * centres(v0, v1, H if clip else None)


def plate(d: float, y: tuple[float, float], z: tuple[float, float], depth: float = 0.002) -> trimesh.Trimesh:
    """A thin box whose front face is x = d."""
    return box([d + depth / 2, sum(y) / 2, sum(z) / 2], [depth, y[1] - y[0], z[1] - z[0]])


def rows(scene, **overrides):
    return compute_visibility(scene, vis_params(**overrides)).table.set_index(["frame_id", "instance_id"])


def test_box_fully_behind_a_wall_is_fully_occluded():
    b = SceneBuilder().add(plate(2.0, (-3, 3), (-1, 3), depth=0.1))
    b.add(box([3.5, 0, 1], [1.0, 1.0, 1.0]), 1, "hidden").add(plate(1.5, (0.3, 0.6), (0.9, 1.2)), 2, "front")
    t = rows(b.look(EYE, AHEAD, CAM).build()).loc["frame_000000"]
    hidden, front = t.loc[1], t.loc[2]
    assert hidden.visible_px == 0 and hidden.unoccluded_px == rect_pixels(face_rect(3.0, (-0.5, 0.5), (0.5, 1.5)))
    assert hidden.occlusion_ratio == 1.0 and hidden.visibility == 0.0 and hidden.fov_ratio == 0.0
    assert hidden.bbox_2d is None and np.isnan(hidden.depth_median) and not hidden.is_visible
    expected = rect_pixels(face_rect(1.5, (0.3, 0.6), (0.9, 1.2)))
    assert front.visible_px == front.unoccluded_px == front.full_px == expected
    assert front.occlusion_ratio == 0.0 and front.is_visible
    assert front.depth_median == pytest.approx(1.5, abs=1e-4)


def test_box_half_outside_the_image():
    d, half = 2.0, 0.3
    y_edge = (W / 2) * d / F  # world y of the left image border at depth d
    b = SceneBuilder().add(plate(d, (y_edge - half, y_edge + half), (0.8, 1.2)), 1, "half")
    row = rows(b.look(EYE, AHEAD, CAM).build()).loc[("frame_000000", 1)]
    rect = face_rect(d, (y_edge - half, y_edge + half), (0.8, 1.2))
    assert row.full_px == rect_pixels(rect)
    assert row.unoccluded_px == row.visible_px == rect_pixels(rect, clip=True)
    assert row.fov_ratio == pytest.approx(0.5, abs=0.02)
    assert row.occlusion_ratio == 0.0
    assert row.bbox_2d[0] == 0.0  # clipped at the image border


def _straddle_area(x: tuple[float, float], h: float, z_far: float, near: float, a_range=None, b_half=None) -> float:
    """Area (normalized image units) of the projection of the camera-frame box x in [x0, x1], |y| <= h,
    z in [-inf, z_far] clipped at z >= near: for a = x/z, the reachable |b| = |y/z| <= h / max(near, x0/a)."""
    a_lo, a_hi = x[0] / z_far, x[1] / near
    if a_range is not None:
        a_lo, a_hi = max(a_lo, a_range[0]), min(a_hi, a_range[1])
    a = np.linspace(a_lo, a_hi, 400_001)
    half = h / np.maximum(near, x[0] / a)
    if b_half is not None:
        half = np.minimum(half, b_half)
    return float(np.trapezoid(2 * half, a))


def test_box_straddling_the_camera_plane():
    # camera frame: x in [0.5, 1.5], |y| <= 0.5, z in [-1, 2]  ->  world x in [-1, 2], y in [-1.5, -0.5], z in [0.5, 1.5]
    b = SceneBuilder().add(box([0.5, -1.0, 1.0], [3.0, 1.0, 1.0]), 1, "straddling")
    b.add(box([-2.0, 0.0, 1.0], [0.5, 0.5, 0.5]), 2, "behind")
    b.add(box([0.03, 0.0, 1.0], [0.01, 0.2, 0.2]), 3, "inside the near plane")
    p = vis_params()
    t = rows(b.look(EYE, AHEAD, CAM).build())
    assert list(t.index.get_level_values("instance_id")) == [1]
    row = t.iloc[0]
    full = F * F * _straddle_area((0.5, 1.5), 0.5, 2.0, p.near_plane)
    inside = F * F * _straddle_area((0.5, 1.5), 0.5, 2.0, p.near_plane, a_range=(-W / 2 / F, W / 2 / F), b_half=H / 2 / F)
    assert row.unoccluded_px == pytest.approx(inside, rel=0.02)
    assert row.full_px == pytest.approx(full, rel=0.02)
    assert row.fov_ratio == pytest.approx(1 - inside / full, abs=0.002)
    assert row.occlusion_ratio == 0.0
    assert row.min_cam[2] == pytest.approx(-1.0) and row.max_cam[2] == pytest.approx(2.0)


def test_thin_objects():
    poster = quad([[1.999, 0.4, 0.8], [1.999, 0.4, 1.2], [1.999, 0.0, 1.2], [1.999, 0.0, 0.8]])
    edge_on = quad([[1.5, -0.3, 0.8], [1.5, -0.3, 1.2], [2.0, -0.3, 1.2], [2.0, -0.3, 0.8]])
    edge_on.apply_translation([0, 0.3, 0])  # the plane y = 0 contains the camera centre: zero projected area
    b = SceneBuilder().add(plate(2.0, (-3, 3), (-1, 3), depth=0.1)).add(poster, 1, "poster").add(edge_on, 2, "sheet")
    pole = trimesh.creation.cylinder(radius=0.02, height=0.6, sections=8)
    pole.apply_translation([1.8, -0.5, 1.0])
    b.add(pole, 3, "pole")
    t = rows(b.look(EYE, AHEAD, CAM).build()).loc["frame_000000"]
    expected = rect_pixels(face_rect(1.999, (0.0, 0.4), (0.8, 1.2)))
    assert t.loc[1].visible_px == t.loc[1].unoccluded_px == t.loc[1].full_px == expected
    assert 2 not in t.index  # seen exactly edge-on: covers no pixel centre
    pole_row = t.loc[3]  # 2.2 px wide (4 cm at 1.8 m): 2 or 3 pixel columns over its height
    assert 0 < pole_row.visible_px == pole_row.unoccluded_px == pole_row.full_px
    rows_far, rows_near = (centres(*face_rect(depth, (0, 0), (0.7, 1.3))[2:]) for depth in (1.82, 1.78))
    assert 2 * rows_far <= pole_row.full_px <= 3 * rows_near


def test_object_seen_through_a_gap():
    # wall x = 2 (zero thickness) with a hole |y| <= 0.2, |z - 1| <= 0.14, built from four quads
    def wall(y0, y1, z0, z1):
        return quad([[2, y0, z0], [2, y0, z1], [2, y1, z1], [2, y1, z0]])
    b = SceneBuilder()
    for part in (wall(-3, 3, 1.14, 3), wall(-3, 3, -1, 0.86), wall(-3, -0.2, 0.86, 1.14), wall(0.2, 3, 0.86, 1.14)):
        b.add(part)
    b.add(box([3.25, 0, 1], [0.5, 1.2, 0.9]), 1, "behind the gap")
    row = rows(b.look(EYE, AHEAD, CAM).build()).loc[("frame_000000", 1)]
    hole = face_rect(2.0, (-0.2, 0.2), (0.86, 1.14))
    assert row.visible_px == rect_pixels(hole)
    assert row.unoccluded_px == row.full_px == rect_pixels(face_rect(3.0, (-0.6, 0.6), (0.55, 1.45)))
    assert row.occlusion_ratio == pytest.approx(1 - rect_pixels(hole) / row.unoccluded_px)
    u0, u1, v0, v1 = hole
    assert list(row.bbox_2d) == [math.ceil(u0 - 0.5), math.ceil(v0 - 0.5), math.floor(u1 - 0.5) + 1, math.floor(v1 - 0.5) + 1]
    assert row.depth_median == pytest.approx(3.0, abs=1e-4)


def test_instances_sharing_vertices_follow_the_smallest_instance_rule():
    # a 20 x 20 cell grid plane x = 2 facing the camera: instance 1 lists every vertex, instance 2 the
    # central ones; the grid is offset 4 mm so that no pixel centre falls exactly on a mesh edge
    n, d, y0, z0 = 21, 2.0, -0.504, 0.504
    plane = grid_plane(d, (y0, y0 + 1), (z0, z0 + 1), n)
    b = SceneBuilder().add(plane, 1, "table")
    b.instances[2] = ("book", OrientedBox(np.array([d, 0, 1]), np.array([0, 0.4, 0.4]), np.eye(3)))
    scene = b.look(EYE, AHEAD, CAM).build()
    y, z = plane.vertices[:, 1], plane.vertices[:, 2]
    book = np.flatnonzero((np.abs(y) <= 0.2) & (np.abs(z - 1) <= 0.2))
    scene.vertex_instance = assign_smallest(len(y), np.array([1, 2]), [np.arange(len(y)), book])
    scene.instances = {i: Instance(i, inst.label, inst.box, np.flatnonzero(scene.vertex_instance == i))
                       for i, inst in scene.instances.items()}
    # expected owner of every pixel: the grid triangle under its centre (plane point from the pixel, by hand)
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    gy, gz = (-(u - W / 2) * d / F - y0) * (n - 1), (1 - (v - H / 2) * d / F - z0) * (n - 1)  # in grid cells
    i, j = np.floor(gy).astype(int), np.floor(gz).astype(int)
    on = (i >= 0) & (i < n - 1) & (j >= 0) & (j < n - 1)
    upper = (gy - i) < (gz - j)  # second triangle of the cell (a, a+n+1, a+1)
    face = np.where(upper, (n - 1) ** 2, 0) + i * (n - 1) + j
    owner = np.where(on, scene.face_instance()[np.where(on, face, 0)], -1)
    t = rows(scene).loc["frame_000000"]
    for iid in (1, 2):
        assert t.loc[iid].visible_px == int((owner == iid).sum())
    assert t.loc[2].visible_px > 0.1 * t.loc[1].visible_px  # the book keeps its contact vertices


def _furnished(**kw):
    return furnished_room(seed=3, n_objects=10, n_frames=4, cam=CAM, **kw).build()


def test_table_contract_and_identities(tmp_path):
    scene = _furnished()
    table = compute_visibility(scene, vis_params()).table
    assert list(table.columns) == SCHEMA.names and len(table) > 0
    assert (table.visible_px <= table.unoccluded_px).all() and (table.unoccluded_px <= table.full_px).all()
    assert (table.full_px > 0).all()
    defined = table.occlusion_ratio.notna()
    np.testing.assert_allclose(table.visibility[defined],
                               (1 - table.occlusion_ratio[defined]) * (1 - table.fov_ratio[defined]))
    assert (table.occlusion_ratio.isna() == (table.unoccluded_px == 0)).all()
    assert (table.bbox_2d.isna() == (table.visible_px == 0)).all()
    assert table[["frame_id", "instance_id"]].apply(tuple, axis=1).is_monotonic_increasing
    threshold = max(vis_params().min_visible_fraction * W * H, vis_params().min_visible_px)
    assert (table.is_visible == (table.visible_px >= threshold)).all()
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_visibility(table, a)
    write_visibility(compute_visibility(scene, vis_params()).table, b)
    assert a.read_bytes() == b.read_bytes()
    assert pq.read_schema(a).remove_metadata() == SCHEMA
    assert read_visibility(a).equals(table)


def test_bbox_is_in_original_pixels_and_boxes_in_camera_frame():
    b = SceneBuilder().add(plate(2.0, (-0.3, 0.1), (0.8, 1.1)), 1, "plate")
    scene = b.look(EYE, AHEAD, camera(2 * W, 2 * H, 2 * F)).build()  # original 320x240, working 160x120
    row = rows(scene).loc[("frame_000000", 1)]
    u0, u1, v0, v1 = face_rect(2.0, (-0.3, 0.1), (0.8, 1.1))
    assert (row.render_width, row.render_height, row.image_width, row.image_height) == (W, H, 2 * W, 2 * H)
    assert list(row.bbox_2d) == [2 * math.ceil(u0 - 0.5), 2 * math.ceil(v0 - 0.5),
                           2 * (math.floor(u1 - 0.5) + 1), 2 * (math.floor(v1 - 0.5) + 1)]
    # box corners: world x in [2, 2.002], y in [-0.3, 0.1], z in [0.8, 1.1] -> camera (-y, 1 - z, x)
    np.testing.assert_allclose(row.min_cam, [-0.1, -0.1, 2.0], atol=1e-9)
    np.testing.assert_allclose(row.max_cam, [0.3, 0.2, 2.002], atol=1e-9)
    np.testing.assert_allclose(row.center_cam, [0.1, 0.05, 2.001], atol=1e-9)


def test_coarse_outside_sampling_stays_close_to_exact():
    scene = furnished_room(seed=5, n_objects=12, n_frames=3, cam=CAM).build()
    exact = rows(scene, full_px_max_outside_rays=10**9)
    coarse = rows(scene, full_px_max_outside_rays=64)
    assert exact.index.equals(coarse.index)
    assert (exact.unoccluded_px == coarse.unoccluded_px).all()
    sampled = exact.full_px != exact.unoccluded_px
    assert sampled.sum() >= 3  # the scene has truncated objects
    assert (coarse.fov_ratio - exact.fov_ratio).abs().max() <= 0.02


def test_rays_go_from_the_camera_through_pixel_centres_with_unit_depth():
    cam = camera(20, 15, 17.0)
    pose = look_at(np.array([1.0, 2.0, 1.5]), np.array([4.0, 3.0, 0.5]))
    origins, directions = camera_rays(cam, pose)
    expected = np.concatenate([origins, directions], axis=-1).reshape(-1, 6)
    u, v = np.meshgrid(np.arange(20) + 0.5, np.arange(15) + 0.5)
    np.testing.assert_allclose(pixel_rays(cam, pose, u.ravel(), v.ravel()), expected, atol=1e-5)
    np.testing.assert_allclose(image_rays(cam, pose).numpy().reshape(-1, 6), expected, atol=1e-5)
    np.testing.assert_allclose((directions.reshape(-1, 3) @ pose[:3, :3].T)[:, 2], 1.0)  # t is the camera depth


# ---- bad input: defined output or a clear SceneError, never a crash ----

def test_camera_inside_an_object_sees_only_that_object():
    b = SceneBuilder().add(box([0.2, 0, 1], [1.0, 1.0, 1.0]), 1, "wardrobe").add(box([3, 0, 1], [0.5, 0.5, 0.5]), 2, "ball")
    t = rows(b.look(EYE, AHEAD, CAM).build()).loc["frame_000000"]
    assert t.loc[1].visible_px == W * H and t.loc[1].occlusion_ratio == 0.0
    assert t.loc[2].visible_px == 0 and t.loc[2].occlusion_ratio == 1.0


def test_camera_outside_the_room_and_frames_without_instances():
    b = room(SceneBuilder()).add(box([3, 2.5, 1], [0.6, 0.6, 0.6]), 1, "crate")
    b.look([-2, 2.5, 1.2], [3, 2.5, 1])  # outside, looking at the wall
    b.look([5.5, 2.5, 1.2], [5.9, 2.5, 1.2])  # inside, facing the wall with the crate behind
    b.look([1, 2.5, 1.2], [3, 2.5, 1])  # inside, sees the crate
    t = compute_visibility(b.build(), vis_params()).table
    outside = t[t.frame_id == "frame_000000"]
    assert list(outside.instance_id) == [1] and outside.visible_px.iloc[0] == 0
    assert "frame_000010" not in set(t.frame_id)
    assert t[t.frame_id == "frame_000020"].is_visible.all()


def test_degenerate_triangles_and_faceless_instances_change_nothing():
    clean = _furnished()
    b = furnished_room(seed=3, n_objects=10, n_frames=4, cam=CAM)
    v0 = b.n_vertices
    junk = trimesh.Trimesh(np.array([[3, 1, 1], [3, 1, 1], [3.5, 1.5, 1.5], [4, 2, 2]], float),
                           np.array([[0, 1, 2], [0, 2, 3], [2, 2, 2]]), process=False)  # zero-area faces
    b.add(junk, 100, "ball")  # joins instance 100's vertex set
    b.instances[100] = clean.instances[100].label, clean.instances[100].box
    b.add_instance_without_faces(999)
    dirty = b.build()
    assert len(dirty.faces) == len(clean.faces) + 3 and dirty.vertex_instance[v0] == 100
    a = compute_visibility(clean, vis_params()).table
    c = compute_visibility(dirty, vis_params()).table
    assert 999 not in set(c.instance_id)
    assert a.drop(columns=["min_cam", "max_cam", "center_cam"]).equals(c.drop(columns=["min_cam", "max_cam", "center_cam"]))


def test_empty_mesh_gives_an_empty_table(tmp_path):
    scene = SceneBuilder().add_instance_without_faces(1).look(EYE, AHEAD, CAM).build()
    table = compute_visibility(scene, vis_params()).table
    assert table.empty and list(table.columns) == SCHEMA.names
    write_visibility(table, tmp_path / "empty.parquet")
    assert read_visibility(tmp_path / "empty.parquet").empty


@pytest.mark.parametrize("corrupt, field", [
    (lambda s: setattr(s, "faces", np.vstack([s.faces, [[0, 1, len(s.vertices)]]])), "faces"),
    (lambda s: s.vertices.__setitem__((0, 0), np.nan), "vertices"),
    (lambda s: setattr(s, "vertex_instance", s.vertex_instance[:-1]), "vertex_instance"),
    (lambda s: s.frames.__setitem__(1, Frame("frame_000010", CAM, 2 * s.frames[1].world_to_cam)),
     "frame_000010.world_to_cam"),
    (lambda s: s.frames.__setitem__(0, Frame("frame_000000", camera(W, H, -F), s.frames[0].world_to_cam)),
     "frame_000000.camera"),
])
def test_corrupt_scenes_raise_a_scene_error_naming_the_field(corrupt, field):
    scene = _furnished()
    corrupt(scene)
    with pytest.raises(SceneError) as err:
        compute_visibility(scene, vis_params())
    assert err.value.field == field and err.value.scene_id == scene.scene_id
