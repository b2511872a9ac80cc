"""Low-overlap view samples (docs/views.md): sets of 2-5 frames whose pairwise overlaps are all small.

Sampler, per scene, with a numpy Generator seeded by (``views.seed``, CRC32 of the scene id):
- eligible frames: those with at least one visible instance (``is_visible`` in the visibility table);
- for each of ``samples_per_scene`` slots, the frame count n is drawn uniformly from
  {min_frames .. max_frames}; up to ``attempts_per_sample`` times, a random order of the eligible
  frames is walked greedily, keeping each frame whose overlap with every kept frame is
  <= ``max_overlap``, until n are kept; the first such set not drawn before is the slot's sample.
  A slot with no success is dropped, so a scene yields fewer samples when more are impossible.
- the walk asks the overlap for the rows of the frames it keeps only (``Overlap.row``: one sparse
  product over the frames that share a voxel with the kept one), and remembers each row as the few
  frames above the cap: the sampler's cost grows with the frames, never with their pairs.
- frames of a sample are listed in scene (temporal) order; "Frame k" in questions is position k.
- ``overlap_level`` applies ``visibility.overlap_level_edges`` to the sample's MEAN pairwise overlap
  (low < 0.1 <= medium < 0.3 <= high); with the default cap of 0.3, "high" means all pairs sit at the cap.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_file
from ..params import ViewsParams
from .overlap import FrameOverlap, FrameVoxels, Overlap, SparseOverlap, overlap_sample

SCHEMA = pa.schema([
    ("scene_id", pa.string()), ("sample_id", pa.int64()), ("frame_ids", pa.list_(pa.string())),
    ("n_frames", pa.int64()), ("pairwise_overlaps", pa.list_(pa.float64())),
    ("max_overlap", pa.float64()), ("mean_overlap", pa.float64()), ("overlap_level", pa.string()),
])
LEVELS = ("low", "medium", "high")


def overlap_level(mean_overlap: float, edges: tuple[float, float]) -> str:
    """low < edges[0] <= medium < edges[1] <= high."""
    return LEVELS[int(np.searchsorted(np.asarray(edges), mean_overlap, side="right"))]


def eligible_frames(visibility: pd.DataFrame, frame_ids: list[str]) -> np.ndarray:
    """(F,) bool: the frame has at least one visible instance."""
    seen = set(visibility.loc[visibility["is_visible"], "frame_id"])
    return np.array([f in seen for f in frame_ids], dtype=bool)


def scene_rng(seed: int, scene_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(scene_id.encode())])


class _Blocked:
    """Per frame, the frames that may not join a set holding it: overlap above the cap, and itself."""

    def __init__(self, overlap: Overlap, cap: float):
        self.overlap, self.cap = overlap, cap
        self._rows: dict[int, np.ndarray] = {}

    def __getitem__(self, i: int) -> np.ndarray:
        if i not in self._rows:
            blocked = self.overlap.row(i) > self.cap
            blocked[i] = True
            self._rows[i] = np.flatnonzero(blocked)
        return self._rows[i]


def _greedy_set(order: np.ndarray, blocked: _Blocked, n: int, n_frames: int) -> np.ndarray | None:
    """Walk ``order``, keeping frames compatible with all kept ones, until n are kept (None if fewer)."""
    free = np.ones(n_frames, dtype=bool)
    kept = []
    for _ in range(n):
        candidates = order[free[order]]
        if len(candidates) == 0:
            return None
        kept.append(candidates[0])
        free[blocked[int(candidates[0])]] = False
    return np.sort(np.array(kept, dtype=np.int64))


def sample_views(scene_id: str, overlap: Overlap, eligible: np.ndarray, params: ViewsParams,
                 level_edges: tuple[float, float]) -> pd.DataFrame:
    """The view samples of one scene (columns of SCHEMA, sample_id 0..n-1)."""
    if not 2 <= params.min_frames <= params.max_frames:
        raise ValueError(f"views: need 2 <= min_frames <= max_frames, got {params.min_frames}..{params.max_frames}")
    rng = scene_rng(params.seed, scene_id)
    blocked = _Blocked(overlap, params.max_overlap)
    pool = np.flatnonzero(eligible)
    drawn: set[tuple[int, ...]] = set()
    samples = []
    for _ in range(params.samples_per_scene):
        n = int(rng.integers(params.min_frames, params.max_frames + 1))
        for _ in range(params.attempts_per_sample):
            kept = _greedy_set(rng.permutation(pool), blocked, n, len(overlap.frame_ids))
            if kept is not None and tuple(kept) not in drawn:
                drawn.add(tuple(kept))
                samples.append(kept)
                break
    return _table(scene_id, overlap, samples, level_edges)


def _table(scene_id: str, overlap: Overlap, samples: list[np.ndarray],
           level_edges: tuple[float, float]) -> pd.DataFrame:
    rows = []
    for sample_id, kept in enumerate(samples):
        i, j = np.triu_indices(len(kept), k=1)
        pairs = overlap.submatrix(kept)[i, j]
        rows.append({"scene_id": scene_id, "sample_id": sample_id,
                     "frame_ids": [overlap.frame_ids[k] for k in kept], "n_frames": len(kept),
                     "pairwise_overlaps": pairs.tolist(), "max_overlap": float(pairs.max()),
                     "mean_overlap": float(pairs.mean()), "overlap_level": overlap_level(pairs.mean(), level_edges)})
    return pd.DataFrame(rows, columns=SCHEMA.names)


@dataclass(frozen=True)
class SceneViews:
    samples: pd.DataFrame  # columns of SCHEMA
    overlap: SparseOverlap  # every pair's overlap, on demand
    matrix: FrameOverlap  # the dense matrix of (up to ``views.overlap_matrix_max_frames`` evenly spaced) frames
    eligible: np.ndarray  # (F,) bool


def scene_views(scene_id: str, visibility: pd.DataFrame, voxels: FrameVoxels, params: ViewsParams,
                level_edges: tuple[float, float]) -> SceneViews:
    """The view samples of a scene from its visibility table and its frames' voxel sets (no casting)."""
    overlap = SparseOverlap(voxels)
    eligible = eligible_frames(visibility, overlap.frame_ids)
    samples = sample_views(scene_id, overlap, eligible, params, level_edges)
    return SceneViews(samples, overlap, overlap_sample(overlap, params.overlap_matrix_max_frames), eligible)


def write_views(table: pd.DataFrame, path: Path) -> None:
    with atomic_file(path) as tmp:
        pq.write_table(pa.Table.from_pandas(table, schema=SCHEMA, preserve_index=False), tmp)


def read_views(path: Path) -> pd.DataFrame:
    return pq.read_table(path, schema=SCHEMA).to_pandas()
