"""A tiny scene in the real ScanNet++ layout, written WITHOUT any project code.

This stands for "a real-layout scene written by another tool": the PLY is packed with numpy record
arrays, the JSON and COLMAP text are written as plain strings, the poses come from a look-at written
here and scipy's quaternions. Tests compare what the reader returns with the ground truth kept in
``HandScene``, so a convention error in the reader and in this file would have to be the same error.

Contents: a floor slab, a table (axis-aligned), a chair (rotated 30 degrees about z) and a crate with
no annotation; three registered frames (file order 20, 0, 10) of a 64x48 OPENCV camera, JPEG frames,
uint16 millimetre depth PNGs.

``release_shaped=True`` writes what a real release ships instead: free-text raw labels (``desk``,
``office chair``, the annotation tool's ``REMOVE`` and ``SPLIT``, a label the map file lacks) and the
toolkit's ``metadata/semantic_benchmark/map_benchmark.csv`` and ``top100_instance.txt``. What the
benchmark makes of each raw label is written down here by hand (``RELEASE_EXPECTED``).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

WIDTH, HEIGHT = 64, 48
FX, FY, CX, CY = 50.0, 52.0, 32.0, 24.0
DISTORTION = (0.01, -0.002, 0.0005, -0.0003)  # OPENCV k1 k2 p1 p2
DEPTH_SIZE = (32, 24)
DEPTH_MM = 1234  # constant depth written to every depth PNG
# 8 box corners in the order (-,-,-), (-,-,+), (-,+,-), ... and 12 outward triangles.
SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
BOX_FACES = np.array([[0, 2, 3], [0, 3, 1], [4, 5, 7], [4, 7, 6], [0, 1, 5], [0, 5, 4],
                      [2, 6, 7], [2, 7, 3], [0, 4, 6], [0, 6, 2], [1, 3, 7], [1, 7, 5]])


@dataclass
class HandBox:
    object_id: int | None  # None: not annotated
    label: str
    centroid: np.ndarray
    size: np.ndarray  # full side lengths
    yaw_deg: float
    color: tuple[int, int, int]
    vertex_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def rotation(self) -> np.ndarray:
        """Columns are the box axes in world coordinates."""
        return Rotation.from_euler("z", self.yaw_deg, degrees=True).as_matrix()


@dataclass
class HandFrame:
    index: int
    eye: np.ndarray
    target: np.ndarray
    world_to_cam: np.ndarray


@dataclass
class HandScene:
    scene_dir: Path
    boxes: list[HandBox]
    frames: list[HandFrame]
    vertices: np.ndarray
    colors: np.ndarray
    faces: np.ndarray
    labels: set[str]

    @property
    def scene_id(self) -> str:
        return self.scene_dir.name

    def box(self, label: str) -> HandBox:
        return next(b for b in self.boxes if b.label == label)


def default_boxes() -> list[HandBox]:
    return [
        HandBox(1, "floor", np.array([0.0, 0.0, -0.05]), np.array([4.0, 4.0, 0.1]), 0.0, (120, 110, 100)),
        HandBox(3, "table", np.array([0.0, 0.5, 0.4]), np.array([1.2, 0.8, 0.8]), 0.0, (150, 90, 40)),
        HandBox(7, "chair", np.array([1.2, 0.2, 0.45]), np.array([0.5, 0.4, 0.9]), 30.0, (30, 60, 200)),
        HandBox(None, "crate", np.array([-1.3, 1.2, 0.25]), np.array([0.5, 0.5, 0.5]), 10.0, (20, 160, 20)),
    ]


# The toolkit's map file, as the release ships it: empty cell = keep, None = drop, else the new name.
RELEASE_MAP_CSV = """class,count,semantic_map_to,instance_map_to
table,1520,,
desk,690,table,table
chair,2210,,
office chair,415,chair,chair
floor,1000,,None
wall,3000,,
REMOVE,35,None,None
SPLIT,12,None,None
lamp,310,,
"""
TOP100_INSTANCE = ("table", "chair", "lamp", "sofa", "bookshelf")  # the instance benchmark's classes
# raw label -> (name questions use or None, status): what the toolkit's rules make of each label
RELEASE_EXPECTED = {
    "floor": (None, "dropped"), "desk": ("table", "mapped"), "office chair": ("chair", "mapped"),
    "REMOVE": (None, "dropped"), "table": ("table", "kept"), "wall": ("wall", "unlisted"),
    "whiteboard": (None, "unmapped"), "SPLIT": (None, "dropped"),
}


def release_boxes() -> list[HandBox]:
    """The default scene relabelled as a release annotates it, plus a second table, a wall, a whiteboard
    the map file does not know, and a SPLIT group (vertices listed again, see write_hand_scene)."""
    floor, table, chair, crate = default_boxes()
    floor.label, table.label, chair.label = "floor", "desk", "office chair"
    crate.object_id, crate.label = 9, "REMOVE"
    return [floor, table, chair, crate,
            HandBox(12, "table", np.array([-1.2, -0.6, 0.35]), np.array([0.8, 0.6, 0.7]), 0.0, (160, 100, 50)),
            HandBox(13, "wall", np.array([0.0, 2.0, 1.0]), np.array([4.0, 0.1, 2.0]), 0.0, (200, 200, 190)),
            HandBox(14, "whiteboard", np.array([1.5, 1.9, 1.4]), np.array([1.0, 0.05, 0.7]), 0.0, (240, 240, 240))]


SPLIT_OBJECT_ID = 15  # a segGroup "SPLIT" listing the desk's first 4 vertices again


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """OpenCV world-to-camera (x right, y down, z forward) for z-up worlds, written independently."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    T = np.eye(4)
    T[:3, :3] = np.stack([right, down, forward])
    T[:3, 3] = -T[:3, :3] @ eye
    return T


def write_ply(path: Path, vertices: np.ndarray, colors: np.ndarray, faces: np.ndarray) -> None:
    """Binary little-endian PLY: float xyz, uchar rgb, and an int triangle list."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("ply\nformat binary_little_endian 1.0\ncomment written by tests/scenes_by_hand.py\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    vrec = np.zeros(len(vertices), dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    vrec["xyz"], vrec["rgb"] = vertices, colors
    frec = np.zeros(len(faces), dtype=[("n", "u1"), ("idx", "<i4", 3)])
    frec["n"], frec["idx"] = 3, faces
    path.write_bytes(header.encode("ascii") + vrec.tobytes() + frec.tobytes())


def write_hand_scene(release_root: Path, scene_id: str = "0a1b2c3d4e", *, with_vocabulary: bool = True,
                     release_shaped: bool = False) -> HandScene:
    scene_dir = Path(release_root) / "data" / scene_id
    boxes = release_boxes() if release_shaped else default_boxes()
    for i, box in enumerate(boxes):
        box.vertex_ids = np.arange(8 * i, 8 * i + 8)
    corners = np.concatenate([(SIGNS * b.size / 2) @ b.rotation.T + b.centroid for b in boxes])
    scene = HandScene(scene_dir, boxes, _frames(),
                      vertices=corners.astype(np.float32).astype(float),  # as stored in the PLY
                      colors=np.concatenate([np.tile(b.color, (8, 1)) for b in boxes]).astype(np.uint8),
                      faces=np.concatenate([BOX_FACES + 8 * i for i in range(len(boxes))]),
                      labels={b.label for b in boxes if b.object_id is not None})
    write_ply(scene_dir / "scans/mesh_aligned_0.05.ply", scene.vertices, scene.colors, scene.faces)
    _write_json(scene_dir / "scans/segments.json",
                {"params": {"kThresh": 0.0001}, "sceneId": scene_id, "segIndices": list(range(len(scene.vertices)))})
    anno = segments_anno(scene_id, boxes)
    if release_shaped:
        desk = anno["segGroups"][1]
        anno["segGroups"].append({**desk, "id": SPLIT_OBJECT_ID, "objectId": SPLIT_OBJECT_ID, "label": "SPLIT",
                                  "segments": desk["segments"][:4]})
        _write_release_label_files(Path(release_root) / "metadata")
    _write_json(scene_dir / "scans/segments_anno.json", anno)
    _write_colmap(scene_dir / "iphone/colmap", scene.frames)
    _write_images(scene_dir / "iphone", scene.frames)
    if with_vocabulary and not release_shaped:
        vocab = release_root / "metadata/instance_classes.txt"
        vocab.parent.mkdir(parents=True, exist_ok=True)
        vocab.write_text("\n".join(sorted(scene.labels | {"lamp", "sofa"})) + "\n")
    return scene


def _write_release_label_files(metadata: Path) -> None:
    (metadata / "semantic_benchmark").mkdir(parents=True, exist_ok=True)
    (metadata / "semantic_benchmark/map_benchmark.csv").write_text(RELEASE_MAP_CSV)
    (metadata / "semantic_benchmark/top100_instance.txt").write_text("\n".join(TOP100_INSTANCE) + "\n")
    (metadata / "instance_classes.txt").write_text("\n".join(TOP100_INSTANCE) + "\n")


def segments_anno(scene_id: str, boxes: list[HandBox]) -> dict:
    groups = [{
        "id": b.object_id, "objectId": b.object_id, "label": b.label,
        "segments": [int(v) for v in b.vertex_ids],
        "obb": {"centroid": b.centroid.tolist(), "axesLengths": b.size.tolist(),
                "dominantNormal": [0.0, 0.0, 1.0], "normalizedAxes": b.rotation.T.reshape(-1).tolist()},
    } for b in boxes if b.object_id is not None]
    return {"sceneId": f"scannetpp.{scene_id}", "appId": "hand.v1", "annId": 1, "segGroups": groups}


def _frames() -> list[HandFrame]:
    spots = [(20, [2.5, -2.5, 1.6], [0.0, 0.5, 0.4]), (0, [0.0, -3.0, 1.5], [0.0, 0.5, 0.4]),
             (10, [-2.5, -2.0, 1.3], [0.5, 0.5, 0.5])]
    return [HandFrame(i, np.array(e), np.array(t), look_at(np.array(e), np.array(t))) for i, e, t in spots]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _write_colmap(folder: Path, frames: list[HandFrame]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.txt").write_text(
        "# Camera list with one line of data per camera:\n# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
        f"1 OPENCV {WIDTH} {HEIGHT} {FX} {FY} {CX} {CY} {' '.join(map(str, DISTORTION))}\n")
    lines = ["# Image list with two lines of data per image:",
             "# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME"]
    for image_id, f in enumerate(frames, start=1):
        x, y, z, w = Rotation.from_matrix(f.world_to_cam[:3, :3]).as_quat()
        numbers = " ".join(f"{v:.17g}" for v in (w, x, y, z, *f.world_to_cam[:3, 3]))
        lines += [f"{image_id} {numbers} 1 frame_{f.index:06d}.jpg", ""]
    (folder / "images.txt").write_text("\n".join(lines) + "\n")


def frame_pixels(index: int) -> np.ndarray:
    """A distinct, smooth RGB image per frame index (a gradient whose hue moves with the index)."""
    u, v = np.meshgrid(np.linspace(0, 1, WIDTH), np.linspace(0, 1, HEIGHT))
    phase = index / 7.0
    rgb = np.stack([np.sin(2 * np.pi * (u + phase)), np.cos(2 * np.pi * (v - phase)),
                    np.sin(np.pi * (u + v) + phase)], axis=-1)
    return ((rgb + 1) * 127.5).astype(np.uint8)


def _write_images(iphone: Path, frames: list[HandFrame]) -> None:
    (iphone / "rgb").mkdir(parents=True, exist_ok=True)
    (iphone / "depth").mkdir(parents=True, exist_ok=True)
    for f in frames:
        Image.fromarray(frame_pixels(f.index)).save(iphone / f"rgb/frame_{f.index:06d}.jpg", quality=95)
        depth = np.full(DEPTH_SIZE[::-1], DEPTH_MM, dtype=np.uint16)
        Image.fromarray(depth).save(iphone / f"depth/frame_{f.index:06d}.png")


# ---- a release-shaped copy of any scene in the layout (e.g. a generated one): raw labels + label files ----

# synthetic label -> the raw label a ScanNet++ annotator would have typed (chair: "office chair" for even ids)
RAW_LABELS = {"chair": "chair", "book": "books", "cup": "mug", "plant": "plant", "picture": "picture",
              "lamp": "lamp", "desk": "desk", "table": "table"}
# raw label -> instance_map_to cell of the copy's map file ("lamp" has no row: dropped as unmapped)
RAW_MAP = {"desk": "table", "office chair": "chair", "books": "book", "mug": "cup", "plant": "potted plant",
           "picture": "None", "REMOVE": "None", "SPLIT": "None", "wall": ""}
COPY_TOP100 = ("table", "chair", "book", "cup", "potted plant", "sofa", "monitor", "keyboard", "mouse", "laptop",
               "pillow", "clock", "container", "trash can", "cabinet", "vase", "box", "bottle", "bed", "shelf", "tv",
               "backpack", "towel", "bowl", "printer", "nightstand", "stool")
RAW_ONLY = ("desk", "office chair", "books", "mug", "picture", "lamp", "REMOVE", "SPLIT")  # never in a question


def release_shaped_copy(src_scene_dir: Path, release_root: Path, scene_id: str) -> dict[int, str]:
    """Copy a scene into ``release_root/data/scene_id`` with raw labels (RAW_LABELS), a REMOVE group over the
    first chair's vertices and a SPLIT group over half the first desk's, and the label files (RAW_MAP,
    COPY_TOP100). Returns objectId -> raw label."""
    dst = Path(release_root) / "data" / scene_id
    shutil.copytree(src_scene_dir, dst)
    anno_path = dst / "scans/segments_anno.json"
    anno = json.loads(anno_path.read_text())
    groups = anno["segGroups"]
    for g in groups:
        g["label"] = RAW_LABELS.get(g["label"], g["label"])
        if g["label"] == "chair" and g["objectId"] % 2 == 0:
            g["label"] = "office chair"
    next_id = max(g["objectId"] for g in groups) + 1
    chair = next(g for g in groups if g["label"] in ("chair", "office chair"))
    desk = next(g for g in groups if g["label"] == "desk")
    groups.append({**chair, "id": next_id, "objectId": next_id, "label": "REMOVE"})
    groups.append({**desk, "id": next_id + 1, "objectId": next_id + 1, "label": "SPLIT",
                   "segments": desk["segments"][: len(desk["segments"]) // 2]})
    anno["sceneId"] = f"scannetpp.{scene_id}"
    anno_path.write_text(json.dumps(anno))
    raw = {g["objectId"]: g["label"] for g in groups}
    rows = [f"{label},{10 + i},,{RAW_MAP.get(label, '')}" for i, label in enumerate(sorted(set(raw.values())))
            if label != "lamp"]
    bench = Path(release_root) / "metadata/semantic_benchmark"
    bench.mkdir(parents=True, exist_ok=True)
    (bench / "map_benchmark.csv").write_text("class,count,semantic_map_to,instance_map_to\n" + "\n".join(rows) + "\n")
    (bench / "top100_instance.txt").write_text("\n".join(COPY_TOP100) + "\n")
    return raw


def write_video(path: Path, n_frames: int) -> None:
    """``iphone/rgb.mkv`` as the release ships it (H.264, 60 fps), frame i = frame_pixels(i)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=60)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "8"}
        for i in range(n_frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame_pixels(i), format="rgb24")))
        container.mux(stream.encode())
