"""Per-question diagnostic fields (docs/visibility.md, docs/views.md): occlusion_avg, occ_level, vis_level, gt_scenario.

- ``occlusion_avg``: mean ``occlusion_ratio`` of the question's target instances over the frames of
  the sample where they have a finite ratio; 0.0 when there is none (e.g. camera-motion questions).
- ``occ_level``: low < edges[0] <= medium < edges[1] <= high (``visibility.occ_level_edges``).
- ``vis_level``: ``fully_visible`` when every target has visibility >= ``visibility.fully_visible``
  in at least one frame of the sample (vacuously so without targets), else ``partially_visible``.
- ``gt_scenario``: ``full_coverage`` when every instance of the target category in the scene is
  visible in at least one frame of the sample (vacuously so without a category), else
  ``partial_coverage``. Count questions pass the instances they count (visible with the count
  threshold), so an instance too small to count makes the question ``partial_coverage``.
- ``difficulty_level`` (per sample, samples.json): see :func:`difficulty_level`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from .context import SampleContext

LEVELS = ("low", "medium", "high")
FULLY, PARTIALLY = "fully_visible", "partially_visible"
FULL_COVERAGE, PARTIAL_COVERAGE = "full_coverage", "partial_coverage"


def level(value: float, edges: Sequence[float]) -> str:
    return LEVELS[sum(value >= e for e in edges)]


def occlusion_avg(ctx: SampleContext, targets: Sequence[int]) -> float:
    ratios = [o.occlusion_ratio for t in targets for k in range(ctx.n)
              if (o := ctx.observation(k, t)) is not None and math.isfinite(o.occlusion_ratio)]
    return sum(ratios) / len(ratios) if ratios else 0.0


def vis_level(ctx: SampleContext, targets: Sequence[int], fully_visible: float) -> str:
    def best(t: int) -> float:
        values = [o.visibility for k in range(ctx.n) if (o := ctx.observation(k, t)) is not None]
        return max((v for v in values if math.isfinite(v)), default=0.0)

    return FULLY if all(best(t) >= fully_visible for t in targets) else PARTIALLY


def gt_scenario(ctx: SampleContext, label: str | None, visible_ids: Sequence[int] | None = None) -> str:
    if label is None:
        return FULL_COVERAGE
    visible = set(ctx.visible_by_label.get(label, ()) if visible_ids is None else visible_ids)
    return FULL_COVERAGE if set(ctx.index.scene_ids_by_label[label]) <= visible else PARTIAL_COVERAGE


def difficulty_level(avg_occlusion: float, overlap_level: str, occ_edges: Sequence[float]) -> str:
    """A sample's difficulty (samples.json): the harder of its target occlusion level and its overlap
    level read backwards (low overlap = high difficulty)."""
    occ = LEVELS.index(level(avg_occlusion, occ_edges))
    overlap = len(LEVELS) - 1 - LEVELS.index(overlap_level)
    return LEVELS[max(occ, overlap)]
