"""Generate one synthetic scene in the ScanNet++ release layout, deterministically from (seed, index).

The scene's generator is ``np.random.SeedSequence([seed, index])``, spawned into independent streams
for the room layout, the colours and the camera path, so the same inputs give byte-identical files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..errors import SceneError
from ..params import Params, SyntheticParams
from ..scene.layout import scene_dir
from .assemble import assemble
from .camera_path import CameraPathError, camera_path, pinhole
from .render import Renderer
from .room import RoomError, build_room, look_targets
from .writer import (
    frame_ids,
    write_colmap,
    write_frame,
    write_mesh,
    write_pose_json,
    write_segments,
    write_segments_anno,
)

LIGHT_BELOW_CEILING = 0.3  # metres: the point light hangs this far under the ceiling centre


def benchmark_params(params: Params) -> SyntheticParams:
    """The BIG scene of the visibility benchmark: ``synthetic`` overridden by params.yaml ``synthetic_benchmark``."""
    overrides = getattr(params, "synthetic_benchmark", None) or {}
    return SyntheticParams.model_validate({**params.synthetic.model_dump(), **overrides})


def generate_scene(release_root: Path, scene_id: str, seed: int, index: int, params: SyntheticParams) -> Path:
    """Write ``release_root/data/<scene_id>/`` (atomically: complete or absent) and return that folder."""
    target = scene_dir(release_root, scene_id)
    if seed < 0 or index < 0:
        raise SceneError(scene_id, target, f"seed and index must be >= 0, got seed={seed}, index={index}", field="seed")
    layout_rng, color_rng, path_rng = (np.random.default_rng(s) for s in np.random.SeedSequence([seed, index]).spawn(3))
    try:
        room = build_room(layout_rng, params)
        targets, weights = look_targets(room)
        path = camera_path(room.free, targets, weights, params, path_rng)
    except (RoomError, CameraPathError) as exc:
        raise SceneError(scene_id, target, str(exc), field="synthetic") from exc
    mesh = assemble(room, color_rng, params)
    camera = pinhole(params)
    depth_camera = camera.scaled(params.depth_width, params.depth_height)
    light = np.array([0.0, 0.0, room.height - LIGHT_BELOW_CEILING])
    renderer = Renderer(mesh.vertices, mesh.faces, mesh.colors, light, params.light_ambient, params.light_diffuse)
    names = frame_ids(params.n_frames, params.frame_stride)
    # "generator" names the old module on purpose: the scenes stay byte-identical across the layout move
    provenance = {"generator": "mosaic_assets.synth", "seed": seed, "index": index, "roomType": room.room_type}
    with atomic_dir(target) as tmp:
        write_mesh(tmp, mesh)
        write_segments(tmp, scene_id, mesh, provenance)
        write_segments_anno(tmp, scene_id, mesh, provenance)
        write_colmap(tmp, camera, names, path.world_to_cam)
        write_pose_json(tmp, camera, names, path.world_to_cam)
        for name, T in zip(names, path.world_to_cam):
            write_frame(tmp, name, renderer.rgb(camera, T), renderer.depth(depth_camera, T), params.jpeg_quality)
    return target
