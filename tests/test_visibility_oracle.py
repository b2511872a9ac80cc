"""An independent, slow oracle for the visibility engine: per-instance brute-force rendering with
trimesh's Embree ray caster (embreex), rays built here from K and the pose without project code.

For every frame: the whole mesh over every image pixel (first hit -> visible_px); then each instance
ALONE, as its own trimesh mesh, over every pixel of the image (unoccluded_px) and over every pixel
of a lattice that covers its whole projection (full_px). The lattice is the pixel box of the
instance's projected vertices; the scene is chosen so that no instance straddles the near plane
(asserted), which makes that box a true bound.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import trimesh
from visibility_scenes import camera, furnished_room

from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.scannetpp import load_scene
from mosaic_pipeline.synth import generate_scene
from mosaic_pipeline.visibility.table import compute_visibility

W, H = 96, 72
TOLERANCE = 0.02


def _rays(cam, pose: np.ndarray, near: float, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d_cam = np.column_stack([(cols + 0.5 - cam.cx) / cam.fx, (rows + 0.5 - cam.cy) / cam.fy, np.ones(len(cols))])
    R, t = pose[:3, :3], pose[:3, 3]
    d = d_cam @ R  # rows of R are the camera axes in world coordinates
    return -R.T @ t + near * d, d


def _lattice(c0: int, c1: int, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
    rr, cc = np.mgrid[r0:r1 + 1, c0:c1 + 1]
    return cc.ravel(), rr.ravel()


def oracle_rows(scene, near: float) -> pd.DataFrame:
    face_instance = scene.face_instance()
    whole = trimesh.Trimesh(scene.vertices, scene.faces, process=False)
    rows = []
    for frame in scene.frames:
        cam, pose = frame.camera, frame.world_to_cam
        cols, rws = _lattice(0, W - 1, 0, H - 1)
        first = whole.ray.intersects_first(*_rays(cam, pose, near, cols, rws))
        first_instance = np.where(first >= 0, face_instance[first], -1)
        for iid in scene.instances:
            faces = scene.faces[face_instance == iid]
            if len(faces) == 0:
                continue
            z = (scene.vertices[np.unique(faces)] @ pose[:3, :3].T + pose[:3, 3])[:, 2]
            assert (z > near).all() or (z < near).all(), f"instance {iid} straddles the near plane of {frame.frame_id}"
            if (z < near).all():
                continue
            alone = trimesh.Trimesh(scene.vertices, faces, process=False)
            p = scene.vertices[np.unique(faces)] @ pose[:3, :3].T + pose[:3, 3]
            u, v = cam.fx * p[:, 0] / p[:, 2] + cam.cx, cam.fy * p[:, 1] / p[:, 2] + cam.cy
            lat_c, lat_r = _lattice(int(np.floor(u.min())) - 1, int(np.ceil(u.max())) + 1,
                                    int(np.floor(v.min())) - 1, int(np.ceil(v.max())) + 1)
            covered = alone.ray.intersects_any(*_rays(cam, pose, near, lat_c, lat_r))
            full = int(covered.sum())
            if full == 0:
                continue
            inside = (lat_c >= 0) & (lat_c < W) & (lat_r >= 0) & (lat_r < H)
            unoccluded = int((covered & inside).sum())
            visible = int((first_instance == iid).sum())
            rows.append({"frame_id": frame.frame_id, "instance_id": iid, "visible_px": visible,
                         "unoccluded_px": unoccluded, "full_px": full,
                         "occlusion_ratio": 1 - visible / unoccluded if unoccluded else np.nan,
                         "fov_ratio": 1 - unoccluded / full})
    return pd.DataFrame(rows).set_index(["frame_id", "instance_id"]).sort_index()


def test_engine_agrees_with_the_brute_force_oracle():
    scene = furnished_room(seed=11, n_objects=12, n_frames=5, cam=camera(W, H, 60.0), scene_id="oracle").build()
    params = load_params().visibility.model_copy(update={"long_side": W, "full_px_max_outside_rays": 10**9,
                                                       "full_px_max_offscreen_rays": 10**9})
    engine = compute_visibility(scene, params).table.set_index(["frame_id", "instance_id"]).sort_index()
    oracle = oracle_rows(scene, params.near_plane)
    assert engine.index.equals(oracle.index)
    assert len(oracle) >= 40
    assert (oracle.fov_ratio > 0.05).sum() >= 3 and (oracle.occlusion_ratio > 0.2).sum() >= 3  # both effects occur
    assert (engine.occlusion_ratio.isna() == oracle.occlusion_ratio.isna()).all()
    disagreement = {col: float((engine[col] - oracle[col]).abs().max()) for col in ("occlusion_ratio", "fov_ratio")}
    print(f"oracle max |engine - oracle| over {len(oracle)} rows: {disagreement}")
    assert max(disagreement.values()) <= TOLERANCE
    assert (engine.full_px - oracle.full_px).abs().max() <= 0.01 * oracle.full_px.max()



# ---- a second oracle without ray casting: a numpy z-buffer rasterizer (near-plane clipping, edge functions) ----

def _clip_near(tri: np.ndarray, near: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip camera-frame triangles (T, 3, 3) to z >= near: the pieces (T', 3, 3) and each piece's source index."""
    front = tri[:, :, 2] >= near
    n_front = front.sum(axis=1)
    out, source = [tri[n_front == 3]], [np.flatnonzero(n_front == 3)]
    for lone_is_front, n in ((True, 1), (False, 2)):
        src = np.flatnonzero(n_front == n)
        sel = tri[src]
        mask = front[src] if lone_is_front else ~front[src]
        roll = np.argmax(mask, axis=1)  # index of the vertex on its own side
        idx = (roll[:, None] + np.arange(3)) % 3
        a, b, c = (sel[np.arange(len(sel)), idx[:, k]] for k in range(3))

        def cut(p, q):
            s = (near - p[:, 2]) / (q[:, 2] - p[:, 2])
            return p + s[:, None] * (q - p)

        ab, ac = cut(a, b), cut(a, c)
        if lone_is_front:
            out.append(np.stack([a, ab, ac], axis=1))
            source.append(src)
        else:
            out += [np.stack([ab, b, c], axis=1), np.stack([ab, c, ac], axis=1)]
            source += [src, src]
    return np.concatenate(out), np.concatenate(source)


def _rasterize(cam, tri: np.ndarray, limit: tuple[int, int, int, int] | None) -> tuple[np.ndarray, ...]:
    """(col, row, depth, triangle) of every pixel centre inside each camera-frame triangle (z >= near)."""
    uv = np.stack([cam.fx * tri[:, :, 0] / tri[:, :, 2] + cam.cx, cam.fy * tri[:, :, 1] / tri[:, :, 2] + cam.cy], -1)
    c0, r0 = np.ceil(uv.min(axis=1) - 0.5).astype(np.int64).T
    c1, r1 = np.floor(uv.max(axis=1) - 0.5).astype(np.int64).T
    if limit is not None:
        c0, r0, c1, r1 = np.maximum(c0, limit[0]), np.maximum(r0, limit[1]), np.minimum(c1, limit[2]), np.minimum(r1, limit[3])
    w, h = np.maximum(c1 - c0 + 1, 0), np.maximum(r1 - r0 + 1, 0)
    t = np.repeat(np.arange(len(tri)), w * h)
    k = np.arange(len(t)) - np.repeat(np.cumsum(w * h) - w * h, w * h)
    col, row = c0[t] + k % w[t], r0[t] + k // w[t]
    p = np.column_stack([col + 0.5, row + 0.5])
    a, b, c = uv[t, 0], uv[t, 1], uv[t, 2]

    def edge(p0, p1, q):
        return (p1[:, 0] - p0[:, 0]) * (q[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (q[:, 0] - p0[:, 0])

    e = np.stack([edge(b, c, p), edge(c, a, p), edge(a, b, p)], axis=1)
    area = e.sum(axis=1)
    inside = (area != 0) & ((e >= 0).all(axis=1) | (e <= 0).all(axis=1))
    lam = e[inside] / area[inside, None]
    depth = 1.0 / (lam / tri[t[inside], :, 2]).sum(axis=1)  # perspective-correct: 1/z is affine in the image
    return col[inside], row[inside], depth, t[inside]


# The rasterizer counts full_px only where it is cheap: instances entirely in front of the near plane
# whose projection spans at most this many times the image area (others: full_px and fov_ratio NaN).
RASTER_MAX_EXTENT = 25


def raster_rows(scene, near: float, long_side: int) -> pd.DataFrame:
    face_instance = scene.face_instance()
    rows = []
    for frame in scene.frames:
        cam, pose = frame.camera.scaled_to_long_side(long_side), frame.world_to_cam
        image = (0, 0, cam.width - 1, cam.height - 1)
        cam_v = scene.vertices @ pose[:3, :3].T + pose[:3, 3]
        tri, source = _clip_near(cam_v[scene.faces], near)
        owner = face_instance[source]
        col, row, depth, t = _rasterize(cam, tri, image)
        pixel = row * cam.width + col
        order = np.lexsort((depth, pixel))
        first = order[np.r_[True, pixel[order][1:] != pixel[order][:-1]]]
        visible = pd.Series(owner[t[first]]).value_counts()
        for iid in scene.instances:
            mine = tri[owner == iid]
            if len(mine) == 0:
                continue
            fc, fr, _, _ = _rasterize(cam, mine, image)
            unoccluded = len(np.unique(fr * cam.width + fc))
            z = cam_v[np.unique(scene.faces[face_instance == iid])][:, 2]
            uv = mine[:, :, :2] / mine[:, :, 2:] * [cam.fx, cam.fy]
            extent = np.ptp(uv[:, :, 0]) * np.ptp(uv[:, :, 1])
            full = np.nan
            if (z >= near).all() and extent <= RASTER_MAX_EXTENT * cam.width * cam.height:
                fc, fr, _, _ = _rasterize(cam, mine, None)
                full = len(np.unique(np.column_stack([fc, fr]), axis=0))
                if full == 0:
                    continue
            elif unoccluded == 0:
                continue  # full_px unknown here, and nothing to compare
            vis = int(visible.get(iid, 0))
            rows.append({"frame_id": frame.frame_id, "instance_id": iid, "visible_px": vis, "unoccluded_px": unoccluded,
                         "full_px": full, "occlusion_ratio": 1 - vis / unoccluded if unoccluded else np.nan,
                         "fov_ratio": 1 - unoccluded / full})
    return pd.DataFrame(rows).set_index(["frame_id", "instance_id"]).sort_index()


def compare_with_raster(engine: pd.DataFrame, raster: pd.DataFrame) -> dict[str, float]:
    """Rows and ratios of the engine against the rasterizer: max |difference| of each ratio."""
    known = raster.full_px.notna()
    assert raster.index.isin(engine.index).all()
    extra = engine.index.difference(raster.index)  # instances the rasterizer could not bound and saw nothing of
    assert (engine.loc[extra, "unoccluded_px"] == 0).all()
    both = engine.loc[raster.index]
    assert (both.occlusion_ratio.isna() == raster.occlusion_ratio.isna()).all()
    assert (both.unoccluded_px == raster.unoccluded_px).mean() > 0.9
    return {"occlusion_ratio": float((both.occlusion_ratio - raster.occlusion_ratio).abs().max()),
            "fov_ratio": float((both.fov_ratio - raster.fov_ratio)[known].abs().max()),
            "rows": len(raster), "rows_with_full_px": int(known.sum())}


def test_engine_agrees_with_the_numpy_rasterizer():
    scene = furnished_room(seed=11, n_objects=12, n_frames=5, cam=camera(W, H, 60.0), scene_id="oracle").build()
    params = load_params().visibility.model_copy(update={"long_side": W, "full_px_max_outside_rays": 10**9,
                                                       "full_px_max_offscreen_rays": 10**9})
    engine = compute_visibility(scene, params).table.set_index(["frame_id", "instance_id"]).sort_index()
    raster = raster_rows(scene, params.near_plane, W)
    assert engine.index.equals(raster.index) and raster.full_px.notna().all()
    result = compare_with_raster(engine, raster)
    print(f"rasterizer vs engine, furnished room: {result}")
    assert max(result["occlusion_ratio"], result["fov_ratio"]) <= TOLERANCE


def test_engine_agrees_with_the_numpy_rasterizer_on_a_generated_room(tmp_path):
    """A room of the synthetic generator: furniture beside and behind the camera straddles the near plane."""
    params = load_params(overrides={"synthetic": {"n_frames": 8, "image_width": 128, "image_height": 96}})
    scene = load_scene(generate_scene(tmp_path, "synth_0000", 0, 0, params.synthetic), params=params.scannetpp)
    vis = params.visibility.model_copy(update={"long_side": W})
    engine = compute_visibility(scene, vis).table.set_index(["frame_id", "instance_id"]).sort_index()
    result = compare_with_raster(engine, raster_rows(scene, vis.near_plane, W))
    print(f"rasterizer vs engine, generated room: {result}")
    assert result["rows"] >= 40 and result["rows_with_full_px"] >= 20
    assert max(result["occlusion_ratio"], result["fov_ratio"]) <= TOLERANCE
