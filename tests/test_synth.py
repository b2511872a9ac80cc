"""The synthetic scene generator: determinism, vocabulary, layout physics, camera path, rendering checked
independently of the renderer (mesh vertices projected with the written colmap poses vs the written depth),
real occlusions, tight boxes, and a round trip through the project's ScanNet++ reader."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import trimesh
from PIL import Image
from scipy import ndimage

from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.colmap import read_cameras, read_images
from mosaic_pipeline.synth import CATEGORIES, benchmark_params, generate_scene, write_release_metadata
from mosaic_pipeline.synth.assemble import assemble
from mosaic_pipeline.synth.categories import VARIANTS, build
from mosaic_pipeline.synth.room import build_room

REQUIRED = {"chair", "table", "desk", "sofa", "pillow", "lamp", "monitor", "laptop", "mouse", "keyboard", "book", "cup",
            "plant", "container", "bed", "cabinet", "shelf", "tv", "trash can", "box"}
ON_SURFACES = {"book", "cup", "laptop", "mouse", "keyboard", "monitor", "bowl", "bottle", "vase", "pillow", "towel",
               "tv", "printer"}  # categories that only ever stand on another object
SUPPORTS = {"table", "desk", "shelf", "cabinet", "nightstand", "bed", "sofa", "box"}
TINY = {"synthetic": {"n_frames": 12, "image_width": 160, "image_height": 120, "depth_width": 128, "depth_height": 96}}


def _files(scene: Path) -> dict[str, str]:
    return {str(p.relative_to(scene)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(scene.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def default_scene(tmp_path_factory) -> Path:
    """Default parameters (frame count, room, furniture, camera path) at a smaller image size."""
    params = load_params(overrides={"synthetic": {"image_width": 320, "image_height": 240}}).synthetic
    root = tmp_path_factory.mktemp("release")
    scene = generate_scene(root, "synth_0003", seed=0, index=3, params=params)
    write_release_metadata(root, {"train": ["synth_0003"]})
    return scene


class Written:
    """The scene as files say it is, read without the project's reader."""

    def __init__(self, scene: Path):
        self.mesh = trimesh.load(scene / "scans/mesh_aligned_0.05.ply", process=False)
        self.vertices = np.asarray(self.mesh.vertices)
        self.faces = np.asarray(self.mesh.faces)
        self.groups = json.loads((scene / "scans/segments_anno.json").read_text())["segGroups"]
        self.vertex_instance = np.full(len(self.vertices), -1)
        for g in self.groups:
            self.vertex_instance[g["segments"]] = g["objectId"]
        self.face_instance = self.vertex_instance[self.faces[:, 0]]
        self.label = {g["objectId"]: g["label"] for g in self.groups}
        cam = next(iter(read_cameras(scene / "iphone/colmap/cameras.txt").values()))
        self.width, self.height = cam.width, cam.height
        self.fx, self.fy, self.cx, self.cy = cam.params
        self.images = read_images(scene / "iphone/colmap/images.txt")
        self.scene = scene

    def depth(self, name: str) -> np.ndarray:
        return np.asarray(Image.open(self.scene / "iphone/depth" / f"{Path(name).stem}.png")).astype(float) / 1000.0

    def raycaster(self, faces: np.ndarray) -> o3d.t.geometry.RaycastingScene:
        rc = o3d.t.geometry.RaycastingScene()
        rc.add_triangles(o3d.core.Tensor(self.vertices.astype(np.float32)), o3d.core.Tensor(faces.astype(np.uint32)))
        return rc


@pytest.fixture(scope="module")
def written(default_scene) -> Written:
    return Written(default_scene)


# --- determinism ---------------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_files_and_another_seed_another_room(tmp_path):
    params = load_params(overrides=TINY).synthetic
    a = _files(generate_scene(tmp_path / "a", "synth_0000", seed=5, index=1, params=params))
    b = _files(generate_scene(tmp_path / "b", "synth_0000", seed=5, index=1, params=params))
    c = _files(generate_scene(tmp_path / "c", "synth_0000", seed=6, index=1, params=params))
    assert len(a) == 6 + 2 * 12  # mesh, 2 json, 2 colmap, pose json; 12 jpg + 12 png
    assert a == b
    assert c["scans/mesh_aligned_0.05.ply"] != a["scans/mesh_aligned_0.05.ply"]
    assert not list((tmp_path / "a" / "data").glob(".*")), "no temporary folders left behind"


def test_impossible_room_fails_alone_with_a_scene_error(tmp_path):
    params = load_params(overrides={"synthetic": {**TINY["synthetic"], "room_size_min": [1.0, 1.0],
                                                  "room_size_max": [1.0, 1.0]}}).synthetic
    with pytest.raises(SceneError, match="synth_0007"):
        generate_scene(tmp_path, "synth_0007", seed=0, index=0, params=params)
    assert not (tmp_path / "data" / "synth_0007").exists()


# --- vocabulary ----------------------------------------------------------------------------------

def test_vocabulary_has_the_required_categories_and_every_one_is_built():
    assert len(CATEGORIES) >= 25 and len(set(CATEGORIES)) == len(CATEGORIES)
    assert REQUIRED <= set(CATEGORIES)
    rng = np.random.default_rng(0)
    built = {}
    for variant in VARIANTS:
        model = build(variant, rng, 12)
        built.setdefault(model.label, []).append(variant)
        lo, hi = model.bounds
        assert abs(lo[2]) < 1e-9, f"{variant} does not stand on z = 0"
        assert np.all(hi - lo > 0.005) and np.all(hi - lo < 2.5), f"{variant} has implausible size {hi - lo}"
    assert set(built) == set(CATEGORIES)


def test_release_metadata_lists_splits_and_vocabulary(tmp_path):
    write_release_metadata(tmp_path, {"train": ["s0", "s1"], "bench": ["s2"], "transfer": ["s3"]})
    assert (tmp_path / "splits/nvs_sem_train.txt").read_text().split() == ["s0", "s1"]
    assert (tmp_path / "splits/nvs_sem_val.txt").read_text().split() == ["s2", "s3"]
    assert (tmp_path / "metadata/instance_classes.txt").read_text().splitlines() == list(CATEGORIES)
    assert (tmp_path / "metadata/semantic_classes.txt").read_text().splitlines() == list(CATEGORIES)
    with pytest.raises(ValueError, match="val"):
        write_release_metadata(tmp_path, {"val": ["s4"]})


# --- the default scene ---------------------------------------------------------------------------

def test_default_scene_has_many_objects_and_repeated_categories(written):
    counts = Counter(g["label"] for g in written.groups)
    assert len(written.groups) >= 20
    assert max(counts.values()) >= 3, counts
    assert set(counts) <= set(CATEGORIES)
    assert len(written.faces) >= 10_000
    ids = [g["objectId"] for g in written.groups]
    assert len(set(ids)) == len(ids) and min(ids) >= 1


def test_small_objects_rest_on_a_support_surface(written):
    """Below the centre of each small object's bottom, within 1 cm, there is the top of a support."""
    checked = 0
    for g in written.groups:
        if g["label"] not in ON_SURFACES:
            continue
        own = np.asarray(g["segments"])
        v = written.vertices[own]
        bottom = v[:, 2].min()
        centre = v[v[:, 2] < bottom + 1e-3, :2].mean(axis=0)  # middle of the face it stands on
        others = written.faces[written.face_instance != g["objectId"]]
        hit = written.raycaster(others).cast_rays(o3d.core.Tensor(
            np.array([[*centre, bottom + 0.005, 0, 0, -1]], dtype=np.float32)))
        t = float(hit["t_hit"].numpy()[0])
        below = written.face_instance[written.face_instance != g["objectId"]][int(hit["primitive_ids"].numpy()[0])]
        assert t < 0.015, f"{g['label']} {g['objectId']} floats {t - 0.005:.3f} m above what is below it"
        assert written.label.get(below) in SUPPORTS, f"{g['label']} stands on {written.label.get(below, 'the floor')}"
        checked += 1
    assert checked >= 5


def test_camera_path_is_a_handheld_scan_inside_the_room(written):
    params = load_params().synthetic
    assert len(written.images) >= 100 and len(written.images) == params.n_frames
    names = [im.name for im in written.images]
    assert names == [f"frame_{i * params.frame_stride:06d}.jpg" for i in range(params.n_frames)]
    centres = np.array([-im.world_to_cam[:3, :3].T @ im.world_to_cam[:3, 3] for im in written.images])
    assert np.all(centres[:, 2] >= params.eye_height_min - 1e-6) and np.all(centres[:, 2] <= params.eye_height_max + 1e-6)
    shell = written.vertices[written.vertex_instance == -1]
    assert np.all(centres[:, :2] > shell[:, :2].min(axis=0) + 0.2) and np.all(centres[:, :2] < shell[:, :2].max(axis=0) - 0.2)
    clearance = written.raycaster(written.faces).compute_distance(o3d.core.Tensor(centres.astype(np.float32))).numpy()
    assert clearance.min() > 0.1, "the camera passes through or touches an object"
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert steps.max() < 0.5, "the path jumps"
    forward = np.array([im.world_to_cam[2, :3] for im in written.images])
    yaw = np.unwrap(np.arctan2(forward[:, 1], forward[:, 0]))
    assert yaw.max() - yaw.min() > np.pi / 2, "the camera does not look around"


def test_image_conventions_of_the_written_poses(written):
    """A point ahead of the camera has z > 0; a point to the camera's right (seen with z up) has larger u."""
    for im in written.images[::17]:
        T = im.world_to_cam
        centre, forward = -T[:3, :3].T @ T[:3, 3], T[2, :3]
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        ahead, to_right = centre + 2 * forward, centre + 2 * forward + 0.3 * right
        za, zr = (T[:3, :3] @ p + T[:3, 3] for p in (ahead, to_right))
        assert za[2] > 0
        assert written.fx * zr[0] / zr[2] > written.fx * za[0] / za[2]


def test_depth_images_agree_with_mesh_vertices_projected_with_the_colmap_poses(written):
    """Project every vertex with the written pose and intrinsics (scaled to the depth size) and read the
    depth PNG at its nearest pixel. Vertices of the first surface agree within 3 cm; the rare misses are
    silhouette vertices whose pixel shows what lies behind, so away from depth edges all must agree."""
    agree = total = agree_smooth = total_smooth = 0
    for im in written.images[::6]:
        depth = written.depth(im.name)
        h, w = depth.shape
        sx, sy = w / written.width, h / written.height
        pc = written.vertices @ im.world_to_cam[:3, :3].T + im.world_to_cam[:3, 3]
        z = pc[:, 2]
        front = z > 0.05
        u = written.fx * sx * pc[front, 0] / z[front] + written.cx * sx
        v = written.fy * sy * pc[front, 1] / z[front] + written.cy * sy
        inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
        row, col = v[inside].astype(int), u[inside].astype(int)
        d, zi = depth[row, col], z[front][inside]
        first = (d > 0) & (zi <= d + 0.02)  # vertices that are the first surface along their pixel
        ok = np.abs(zi - d) < 0.03
        spread = ndimage.maximum_filter(depth, 3) - ndimage.minimum_filter(depth, 3)
        smooth = spread[row, col] < 0.03  # no depth step in the pixel's 3x3 neighbourhood
        agree, total = agree + int(np.sum(first & ok)), total + int(first.sum())
        agree_smooth += int(np.sum(first & smooth & ok))
        total_smooth += int(np.sum(first & smooth))
    assert total > 1000 and total_smooth > 1000
    assert agree / total > 0.85, f"only {agree}/{total} first-surface vertices agree with the depth images"
    assert agree_smooth / total_smooth > 0.99, f"{agree_smooth}/{total_smooth} agree away from depth edges"


def test_objects_really_occlude_each_other(written):
    """Some instance is partly hidden by another: fewer first-hit pixels than when rendered alone."""
    K = np.array([[written.fx, 0, written.cx], [0, written.fy, written.cy], [0, 0, 1]])
    u, v = np.meshgrid(np.arange(written.width) + 0.5, np.arange(written.height) + 0.5)
    pix = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(K).T
    full = written.raycaster(written.faces)
    occluded = []
    for im in written.images[::10]:
        R, t = im.world_to_cam[:3, :3], im.world_to_cam[:3, 3]
        rays = np.concatenate([np.broadcast_to(-R.T @ t, pix.shape), pix @ R], axis=-1).astype(np.float32)
        hit = full.cast_rays(o3d.core.Tensor(rays))
        hit_any = np.isfinite(hit["t_hit"].numpy())
        first = np.where(hit_any, written.face_instance[np.where(hit_any, hit["primitive_ids"].numpy(), 0)], -1)
        visible = Counter(first[first > 0].tolist())
        for oid, n_visible in visible.most_common(6):
            alone = written.raycaster(written.faces[written.face_instance == oid]).cast_rays(o3d.core.Tensor(rays))
            n_alone = int(np.isfinite(alone["t_hit"].numpy()).sum())
            assert n_alone >= n_visible
            if n_alone - n_visible > max(20, 0.1 * n_alone):
                occluded.append((im.name, written.label[oid], n_visible, n_alone))
    assert occluded, "no instance is ever partly hidden by another"


def test_boxes_tightly_contain_their_instances(written):
    for g in written.groups:
        R = np.reshape(g["obb"]["normalizedAxes"], (3, 3)).T
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1.0)
        assert np.allclose(R[:, 2], [0, 0, 1]), "boxes turn about z only (the object's yaw)"
        local = (written.vertices[g["segments"]] - g["obb"]["centroid"]) @ R
        half = np.asarray(g["obb"]["axesLengths"]) / 2
        assert np.all(np.abs(local) <= half + 1e-5), g["label"]
        assert np.allclose(np.abs(local).max(axis=0), half, atol=1e-3), f"{g['label']} box is not tight"


def test_benchmark_parameters_give_a_big_scene():
    params = benchmark_params(load_params())
    assert params.n_frames >= 100
    room = build_room(np.random.default_rng(np.random.SeedSequence([0, 0]).spawn(3)[0]), params)
    mesh = assemble(room, np.random.default_rng(1), params)
    assert len(mesh.instances) >= 80 and len(mesh.faces) >= 200_000


# --- the project's reader ------------------------------------------------------------------------

def test_the_reader_loads_the_generated_scene(default_scene, written):
    from mosaic_pipeline.scene.scannetpp import load_scene

    scene = load_scene(default_scene)
    assert scene.source == "synthetic"
    assert len(scene.instances) == len(written.groups)
    assert Counter(i.label for i in scene.instances.values()) == Counter(g["label"] for g in written.groups)
    assert [f.frame_id for f in scene.frames] == [Path(im.name).stem for im in written.images]
    assert (scene.frames[0].camera.width, scene.frames[0].camera.height) == (320, 240)
    assert len(scene.faces) == len(written.faces)
    assert np.array_equal(scene.vertex_instance, written.vertex_instance)
