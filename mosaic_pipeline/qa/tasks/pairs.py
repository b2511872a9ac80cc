"""Source/target pairs of the occlusion-aware families (existence, attribute, spatial relation).

In frame k of a sample: the source is visible in frame k; the target is an occluded target there
(occluded, truncated or not visible in k, visible in another frame); both boxes lie in front of the
camera; both have a reference. Relations per axis come from :mod:`mosaic_pipeline.qa.relations`.
Unless ``qa.relation_point_references``, targets and options are named by their label alone (unique
among the instances seen in the sample): a point reference "chair(217,122)" would give its image
position, and so left/right or above/below, away in the text (docs/audit.md). With
``qa.relation_point_sources`` the source, the object the question is relative to, may still be named
by its point: its position alone does not tell which option or answer holds.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..context import SampleContext
from ..relations import relations
from .base import instance_name


@dataclass(frozen=True)
class Pair:
    k: int
    source: int
    target: int
    source_ref: str
    target_ref: str
    rel: dict[str, str | None]  # axis -> the target's direction relative to the source, or None


def occlusion_pairs(ctx: SampleContext, k: int) -> list[Pair]:
    """All pairs of frame k (memoized on the sample: three families read them)."""
    key = ("occlusion_pairs", k)
    if key not in ctx.memo:
        ctx.memo[key] = list(_pairs(ctx, k))
    return ctx.memo[key]


def relation_objects(ctx: SampleContext, k: int) -> tuple[int, ...]:
    """Instances a relation question of frame k may name as target or option (module docstring)."""
    named = ctx.named_in_front(k)
    if ctx.params.relation_point_references:
        return named
    return tuple(i for i in named if ctx.reference(i, k) == ctx.label(i))


def relation_sources(ctx: SampleContext, k: int) -> tuple[int, ...]:
    """Instances a relation question of frame k may name as its source (module docstring)."""
    if ctx.params.relation_point_sources:
        return ctx.named_in_front(k)
    return relation_objects(ctx, k)


def _pairs(ctx: SampleContext, k: int):
    margin = ctx.params.relation_margin
    sources = [s for s in relation_sources(ctx, k) if ctx.visible_in(k, s)]
    targets = [t for t in relation_objects(ctx, k) if ctx.occluded_target(k, t)]
    for s in sources:
        for t in targets:
            s_ref, t_ref = ctx.reference(s, k), ctx.reference(t, k)
            if t != s and s_ref != t_ref:
                yield Pair(k, s, t, s_ref, t_ref, relations(ctx.extent(k, t), ctx.extent(k, s), margin))


def pair_metadata(ctx: SampleContext, p: Pair) -> dict:
    """Seed keys shared by the three families (plus integer instance ids)."""
    o = ctx.observation(p.k, p.target)
    return {
        "source_instance": instance_name(ctx.label(p.source), p.source), "source_instance_id": p.source,
        "target_instance": instance_name(ctx.label(p.target), p.target), "target_instance_id": p.target,
        "source_category": ctx.label(p.source), "target_category": ctx.label(p.target),
        "source_visible_in_frame": True, "target_visible_in_frame": ctx.visible_in(p.k, p.target),
        "target_occlusion_ratio": None if o is None else o.occlusion_ratio,
        "target_fov_ratio": None if o is None else o.fov_ratio,
        "relation_camera_frame": {
            "source_bbox_3d": [list(side) for side in ctx.extent(p.k, p.source)],
            "target_bbox_3d": [list(side) for side in ctx.extent(p.k, p.target)],
        },
    }
