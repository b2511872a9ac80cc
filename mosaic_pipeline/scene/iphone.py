"""iPhone frames of a ScanNet++ scene: colmap-registered frames, their RGB (extracted from ``rgb.mkv``
when the ``rgb/`` folder is absent) and their depth (``depth/frame_%06d.png``, uint16 millimetres).

Frame ids are the image names of ``iphone/colmap/images.txt`` without extension (``frame_000120``);
the number is the frame's index in the video, counted from 0 in decoding order (ffmpeg's
``-start_number 0`` numbering of a constant-rate video). Image files are looked up by the name's
last path component under ``iphone/rgb/``.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable

import av
import numpy as np
from PIL import Image

from ..atomic import atomic_dir
from ..errors import SceneError
from ..params import ScanNetppParams, default_params
from .cameras import checked_pose, pinhole_camera, read_colmap_model
from .layout import IPHONE_CAMERAS, IPHONE_DEPTH_DIR, IPHONE_IMAGES, IPHONE_RGB_DIR, IPHONE_RGB_VIDEO
from .types import Frame

FRAME_ID = re.compile(r"frame_(\d+)")
DEPTH_UNITS_PER_METRE = 1000.0  # depth PNGs hold millimetres (docs/scenes.md)


def frame_index(frame_id: str) -> int:
    """120 for ``frame_000120``; ValueError for anything else."""
    match = FRAME_ID.fullmatch(frame_id)
    if match is None:
        raise ValueError(f"not a frame id like frame_000120: {frame_id!r}")
    return int(match.group(1))


def read_iphone_frames(scene_dir: Path, params: ScanNetppParams, extract: bool = True) -> list[Frame]:
    """The registered frames, sorted by frame index, with validated cameras and poses; ``depth_path`` is
    set where ``iphone/depth/<frame_id>.png`` exists.

    When ``iphone/rgb/`` is absent, the registered frames are first extracted from ``iphone/rgb.mkv``
    (``extract``), or the video is only probed (:func:`check_video`: a check that reads no whole video).
    """
    scene_id = scene_dir.name
    images_path = scene_dir / IPHONE_IMAGES
    model = read_colmap_model(scene_dir / IPHONE_CAMERAS, images_path, scene_id)
    if not model.images:
        raise SceneError(scene_id, images_path, "no registered frames (no image line)", field="images")
    cameras = {cid: pinhole_camera(model.cameras[cid], scene_id, scene_dir / IPHONE_CAMERAS)
               for cid in {im.camera_id for im in model.images}}
    indexed: dict[int, Frame] = {}
    for image in model.images:
        frame_id = Path(image.name).stem
        try:
            index = frame_index(frame_id)
        except ValueError as exc:
            raise SceneError(scene_id, images_path, str(exc), field=f"image {image.image_id} NAME") from exc
        if index in indexed:
            raise SceneError(scene_id, images_path, f"frame {frame_id} registered twice",
                             field=f"image {image.image_id} NAME")
        depth = scene_dir / IPHONE_DEPTH_DIR / f"{frame_id}.png"
        indexed[index] = Frame(frame_id, cameras[image.camera_id],
                               checked_pose(image, scene_id, images_path, params.pose_tolerance),
                               image_path=scene_dir / IPHONE_RGB_DIR / Path(image.name).name,
                               depth_path=depth if depth.is_file() else None)
    frames = [indexed[i] for i in sorted(indexed)]
    if not (scene_dir / IPHONE_RGB_DIR).is_dir():
        if not extract:
            check_video(scene_dir, frames)
            return frames
        extract_iphone_frames(scene_dir, [f.frame_id for f in frames], jpeg_quality=params.frame_jpeg_quality)
    _check_images(frames, scene_id)
    return frames


def check_video(scene_dir: Path, frames: list[Frame]) -> None:
    """``iphone/rgb.mkv`` opens, its first frame decodes at the colmap camera's size and, where the container
    states its length, the last registered frame lies within it. Decodes one frame, not the video."""
    scene_id, video = scene_dir.name, scene_dir / IPHONE_RGB_VIDEO
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise SceneError(scene_id, video, "no video stream", field="streams")
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            length = _stated_length(container, stream)
    except av.FFmpegError as exc:
        raise SceneError(scene_id, video, f"undecodable video ({exc})", field="video stream") from exc
    if first is None:
        raise SceneError(scene_id, video, "the video has no frame", field="frames")
    cam = frames[0].camera
    if (first.width, first.height) != (cam.width, cam.height):
        raise SceneError(scene_id, video, f"video is {first.width}x{first.height} but its colmap camera is "
                         f"{cam.width}x{cam.height}", field="size")
    last = frames[-1].frame_id
    if length is not None and frame_index(last) >= length:
        raise SceneError(scene_id, video, f"the video has about {length} frames; registered frame {last} is "
                         "beyond its end", field="frames")


def _stated_length(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int | None:
    """Frames in the stream as its header says, else from its duration and rate (rounded up: the check
    must never refuse a frame that is there); None when neither is stated."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate
    if stream.duration and stream.time_base and rate:
        return math.ceil(float(stream.duration * stream.time_base * rate))
    if container.duration and rate:
        return math.ceil(container.duration / av.time_base * float(rate))
    return None


def _check_images(frames: list[Frame], scene_id: str) -> None:
    """Every registered frame has its image, of its camera's size (PIL reads only the header)."""
    missing = [f.image_path.name for f in frames if not f.image_path.is_file()]
    if missing:
        raise SceneError(scene_id, frames[0].image_path.parent,
                         f"{len(missing)} registered frames have no image (first: {', '.join(missing[:5])})",
                         field=missing[0])
    for f in frames:
        try:
            with Image.open(f.image_path) as im:
                size = im.size
        except OSError as exc:
            raise SceneError(scene_id, f.image_path, f"unreadable image ({exc})", field="content") from exc
        if size != (f.camera.width, f.camera.height):
            raise SceneError(scene_id, f.image_path, f"image is {size[0]}x{size[1]} but its colmap camera is "
                             f"{f.camera.width}x{f.camera.height}", field="size")


def extract_iphone_frames(scene_dir: Path, frame_ids: Iterable[str], jpeg_quality: int | None = None) -> Path:
    """Decode ``iphone/rgb.mkv`` and write the given frames as ``iphone/rgb/<frame_id>.jpg`` (atomically:
    the folder appears complete or not at all). Returns the folder."""
    scene_dir = Path(scene_dir)
    scene_id, video, target = scene_dir.name, scene_dir / IPHONE_RGB_VIDEO, scene_dir / IPHONE_RGB_DIR
    quality = default_params().scannetpp.frame_jpeg_quality if jpeg_quality is None else jpeg_quality
    wanted = {frame_index(fid): fid for fid in frame_ids}
    if not wanted:
        raise SceneError(scene_id, video, "no frames requested")
    last, n_decoded = max(wanted), 0
    with atomic_dir(target) as tmp:
        try:
            with av.open(str(video)) as container:
                if not container.streams.video:
                    raise SceneError(scene_id, video, "no video stream", field="streams")
                for n_decoded, frame in enumerate(container.decode(container.streams.video[0]), start=1):
                    index = n_decoded - 1
                    if index in wanted:
                        frame.to_image().save(tmp / f"{wanted[index]}.jpg", quality=quality)
                    if index == last:
                        break
        except av.FFmpegError as exc:
            raise SceneError(scene_id, video, f"undecodable video ({exc})", field="video stream") from exc
        if n_decoded <= last:
            raise SceneError(scene_id, video, f"the video has {n_decoded} frames; registered frame "
                             f"{wanted[last]} is beyond its end", field="frames")
    return target


def read_depth(frame: Frame) -> np.ndarray:
    """Depth in metres, float32, at the depth image's own resolution (0 = no measurement)."""
    path = frame.depth_path
    if path is None:
        raise ValueError(f"frame {frame.frame_id} has no depth image")
    scene_id = path.parents[len(IPHONE_DEPTH_DIR.parts)].name
    try:
        with Image.open(path) as im:
            depth = np.asarray(im)
    except OSError as exc:
        raise SceneError(scene_id, path, f"unreadable depth image ({exc})") from exc
    if depth.dtype != np.uint16 or depth.ndim != 2:
        raise SceneError(scene_id, path, f"depth must be a single-channel uint16 PNG in millimetres, got "
                         f"{depth.dtype} with shape {depth.shape}")
    return (depth / DEPTH_UNITS_PER_METRE).astype(np.float32)
