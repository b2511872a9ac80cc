"""A handheld scan of the room: one smooth loop through the walkable floor, looking around.

Waypoints are drawn in angular sectors around the centre of the free space (so the loop goes once around
the room, counter-clockwise), preferring cells far from obstacles; a periodic cubic spline through them
is resampled at equal arc length and snapped back into the free space where it cuts a corner. The eye
height follows a spline through heights drawn in [eye_height_min, eye_height_max].

Where it looks: like a person scanning a room, the camera turns from one piece of furniture to the next.
At ``look_targets`` key frames along the loop it picks a target (a floor or wall object at least
``MIN_TARGET_DISTANCE`` away, favouring nearer ones that carry other objects) and turns towards it with
a smooth ease between key frames; a small sinusoidal yaw sweep and pitch/roll jitter add the hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.interpolate import CubicSpline

from ..params import SyntheticParams
from ..scene.geometry import look_at
from ..scene.types import Camera
from .footprint import FreeSpace

DENSE_SAMPLES_PER_FRAME = 20  # spline samples per frame used to measure arc length
PITCH_CYCLES = (2, 5)  # slow and fast components of the pitch/roll jitter over the loop
MIN_TARGET_DISTANCE = 1.0  # metres: look targets closer than this to the camera are not chosen
PITCH_LIMITS_DEG = (-40.0, 10.0)  # the camera never looks steeper down or up than this


class CameraPathError(ValueError):
    """The walkable floor cannot hold a camera loop."""


@dataclass(frozen=True)
class CameraPath:
    centers: np.ndarray  # (n, 3) camera centres, world
    world_to_cam: np.ndarray  # (n, 4, 4) OpenCV world-to-camera


def pinhole(params: SyntheticParams) -> Camera:
    """The synthetic iPhone camera: square pixels, principal point at the image centre."""
    fx = params.image_width / 2 / np.tan(np.deg2rad(params.hfov_deg) / 2)
    return Camera(params.image_width, params.image_height, fx, fx, params.image_width / 2, params.image_height / 2)


def _waypoints(free: FreeSpace, n: int, rng: np.random.Generator) -> np.ndarray:
    pts = free.points()
    if len(pts) < n:
        raise CameraPathError(f"only {free.area:.2f} m^2 of walkable floor for the camera path")
    clearance = ndimage.distance_transform_edt(free.mask)[free.mask]  # same (row-major) order as points()
    centre = pts.mean(axis=0)
    angle = np.mod(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]) - rng.uniform(0, 2 * np.pi), 2 * np.pi)
    sector = np.minimum((angle / (2 * np.pi) * n).astype(int), n - 1)
    chosen = []
    for k in range(n):
        members = np.flatnonzero(sector == k)
        if len(members):
            w = clearance[members]
            chosen.append(pts[rng.choice(members, p=w / w.sum())])
    if len(chosen) < 3:
        raise CameraPathError("the walkable floor is too small to walk a loop around the room")
    return np.array(chosen)


def _smooth_noise(rng: np.random.Generator, s: np.ndarray) -> np.ndarray:
    """A periodic signal in [-1, 1] over the loop parameter s in [0, 1)."""
    phases = rng.uniform(0, 2 * np.pi, size=len(PITCH_CYCLES))
    return sum(np.sin(2 * np.pi * c * s + p) for c, p in zip(PITCH_CYCLES, phases)) / len(PITCH_CYCLES)


def _rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray, centers: np.ndarray) -> np.ndarray:
    out = []
    for y, p, r, eye in zip(yaw, pitch, roll, centers):
        forward = np.array([np.cos(p) * np.cos(y), np.cos(p) * np.sin(y), np.sin(p)])
        T = look_at(eye, eye + forward)
        c, s = np.cos(r), np.sin(r)
        T[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ T[:3, :3]  # roll about the optical axis
        T[:3, 3] = -T[:3, :3] @ eye
        out.append(T)
    return np.array(out)


def _ease(closed: np.ndarray, n: int) -> np.ndarray:
    """Values at n frames from K + 1 keys at frames 0, n/K, ..., n (the last one closes the loop): each
    key is held briefly, then the value turns smoothly to the next one (smoothstep)."""
    k = len(closed) - 1
    pos = np.arange(n) * k / n
    i = np.floor(pos).astype(int)
    tau = pos - i
    ease = tau * tau * (3 - 2 * tau)
    return closed[i] + (closed[i + 1] - closed[i]) * ease


def _look_keys(centers: np.ndarray, targets: np.ndarray, weights: np.ndarray, k: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and pitch (radians) towards a target drawn at each of k key frames, closed with the first key
    again (k + 1 values each); yaw unwrapped so that every turn, the closing one too, is the short way."""
    n = len(centers)
    yaws, pitches = [], []
    for key in range(k):
        eye = centers[key * n // k]
        offset = targets - eye
        dist = np.linalg.norm(offset[:, :2], axis=1)
        w = np.where(dist >= MIN_TARGET_DISTANCE, weights / (dist + 1.0), 0.0)
        j = int(rng.choice(len(targets), p=w / w.sum())) if w.sum() > 0 else int(np.argmax(dist))
        yaws.append(np.arctan2(offset[j, 1], offset[j, 0]))
        pitches.append(np.arctan2(offset[j, 2], max(dist[j], 1e-6)))
    yaws = np.array(yaws)
    steps = np.angle(np.exp(1j * np.diff(np.append(yaws, yaws[0]))))
    return yaws[0] + np.concatenate([[0.0], np.cumsum(steps)]), np.append(pitches, pitches[0])


def camera_path(free: FreeSpace, targets: np.ndarray, weights: np.ndarray, params: SyntheticParams,
                rng: np.random.Generator) -> CameraPath:
    """Camera loop through ``free``, looking at ``targets`` ((T, 3) points, drawn with ``weights``)."""
    if len(targets) == 0:
        raise CameraPathError("nothing to look at: the room has no objects")
    way = _waypoints(free, params.path_waypoints, rng)
    heights = rng.uniform(params.eye_height_min, params.eye_height_max, size=len(way))
    knots = np.concatenate([np.column_stack([way, heights]), [[*way[0], heights[0]]]])
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(knots[:, :2], axis=0), axis=1))])
    spline = CubicSpline(chord, knots, bc_type="periodic")
    n = params.n_frames
    dense = np.linspace(0.0, chord[-1], n * DENSE_SAMPLES_PER_FRAME, endpoint=False)
    xy = spline(dense)[:, :2]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    t = np.interp(np.linspace(0.0, arc[-1], n, endpoint=False), arc, dense)  # equal steps along the path
    pos = spline(t)
    centers = np.column_stack([free.snap(pos[:, :2]), np.clip(pos[:, 2], params.eye_height_min, params.eye_height_max)])
    s = np.arange(n) / n
    key_yaw, key_pitch = _look_keys(centers, targets, weights, min(params.look_targets, n), rng)
    yaw = _ease(key_yaw, n) + np.deg2rad(params.yaw_sweep_deg) * np.sin(
        2 * np.pi * params.yaw_sweeps * s + rng.uniform(0, 2 * np.pi))
    pitch_deg = np.rad2deg(_ease(key_pitch, n)) + params.pitch_deg + params.pitch_jitter_deg * _smooth_noise(rng, s)
    pitch = np.deg2rad(np.clip(pitch_deg, *PITCH_LIMITS_DEG))
    roll = np.deg2rad(params.roll_jitter_deg * _smooth_noise(rng, s))
    return CameraPath(centers, _rotation(yaw, pitch, roll, centers))
