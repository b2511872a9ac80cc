"""Per-scene orchestrator: Scene + visibility table + view samples -> QA rows.

For each question type (in a fixed order) with its own generator seeded by (qa.seed, scene, type):
enumerate the admissible candidates of every view sample, select at most ``max_per_scene_task``
with balanced strata (:mod:`.selection`) or the family's own debiased choice, draft them, place the options (:mod:`.options`) and add
the diagnostics (:mod:`.diagnostics`). Question texts are distinct across types and unique per
sample within a type by construction (tests check it).
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..params import Params
from ..scene.types import Scene
from .context import SampleContext, SceneIndex, sample_contexts
from .diagnostics import gt_scenario, level, occlusion_avg, vis_level
from .inputs import check_views, check_visibility
from .options import LetterBalancer
from .records import QARow, qa_id, stable_json
from .selection import select
from .tasks import attribute, best_view, count, existence, localization, numeric, spatial_relation, transfer
from .tasks.base import MOSAIC, ZERO_SHOT, Candidate, Draft, TaskSpec

FAMILIES = (count, best_view, localization, existence, attribute, spatial_relation, numeric, transfer)
GROUPS = (MOSAIC, ZERO_SHOT)
# which task groups a scene of each split yields (package docstring); a scene outside the list yields all
SPLIT_GROUPS = {"train": (MOSAIC,), "bench": (MOSAIC,), "transfer": (ZERO_SHOT,)}


def task_specs(params: Params, groups: Iterable[str] = GROUPS) -> list[TaskSpec]:
    """Every question type of the selected groups, in generation order."""
    wanted = set(groups)
    return [s for family in FAMILIES for s in family.specs(params.qa) if s.group in wanted]


def task_rng(seed: int, scene_id: str, question_type: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(scene_id.encode()), zlib.crc32(question_type.encode())])


def _row(spec: TaskSpec, c: Candidate, d: Draft, options: list[str], index: int | None, params: Params,
         split: str | None) -> QARow:
    ctx: SampleContext = c.ctx
    scene = ctx.index.scene
    vis = vis_level(ctx, d.targets, params.visibility.fully_visible)
    gt = gt_scenario(ctx, d.target_label, d.coverage)
    occ = occlusion_avg(ctx, d.targets)
    metadata = stable_json({**d.metadata, "visibility_scenario": vis, "gt_scenario": gt,
                            "label_orig": labels_orig(scene, d)})
    return QARow(
        scene.scene_id, ctx.sample_id, qa_id(scene.scene_id, ctx.sample_id, spec.question_type, d.question),
        scene.source, spec.question_type, spec.task_type, spec.subtask, d.question, options, d.answer, index,
        list(range(ctx.n)), list(ctx.frame_ids), c.query_k, metadata, occ,
        level(occ, params.visibility.occ_level_edges), ctx.mean_overlap, ctx.overlap_level, vis, gt, split)


def labels_orig(scene: Scene, d: Draft) -> dict[str, str]:
    """Raw annotation label of every instance the record names (targets and ``*_instance_id(s)`` fields),
    by instance id: questions say the mapped ``label`` (docs/scannetpp.md)."""
    ids = set(d.targets)
    for key, value in d.metadata.items():
        if key.endswith("_instance_id") and value is not None:
            ids.add(value)
        elif key.endswith("_instance_ids"):
            ids.update(value)
    return {str(i): scene.instances[int(i)].label_orig for i in sorted(ids, key=int)}


def _task_rows(spec: TaskSpec, contexts: list[SampleContext], params: Params, scene_id: str,
               split: str | None) -> list[QARow]:
    rng = task_rng(params.qa.seed, scene_id, spec.question_type)
    candidates = [c for ctx in contexts for c in spec.enumerate(ctx)]
    if spec.choose is not None:
        chosen = spec.choose([candidates[i] for i in rng.permutation(len(candidates))], rng)
    else:
        ranked = select(candidates, [c.stratum for c in candidates], spec.strata, params.qa.max_per_scene_task,
                        spec.tolerance, 2 if spec.yes_no else 1, rng)
        chosen = [(c, rank % 2 == 0) for c, rank in ranked]
    balancer = LetterBalancer(rng)
    rows = []
    for c, plan in chosen:
        d = spec.draft(c, rng, plan)
        if d.fixed_options:
            options, index = balancer.fixed(d.answer, d.fixed_options)
        elif d.distractors:
            options, index = balancer.place(d.answer, d.distractors)
        else:
            options, index = [], None
        rows.append(_row(spec, c, d, options, index, params, split))
    return rows


def generate_scene_qa(scene: Scene, visibility: pd.DataFrame, views: pd.DataFrame, params: Params,
                      split: str | None = None, visibility_path: Path | None = None,
                      views_path: Path | None = None) -> list[QARow]:
    """The QA rows of one scene: the task groups of its ``split`` (SPLIT_GROUPS), all groups without one.

    Raises SceneError (scene, file, field) when a table does not match the scene.
    """
    if split is not None and split not in SPLIT_GROUPS:
        raise ValueError(f"scene {scene.scene_id}: unknown split {split!r}; expected one of {sorted(SPLIT_GROUPS)}")
    check_visibility(visibility, scene, visibility_path)
    check_views(views, scene, views_path)
    index = SceneIndex(scene, visibility, params.qa, params.visibility.near_plane)
    contexts = sample_contexts(index, views)
    groups = SPLIT_GROUPS[split] if split is not None else GROUPS
    return [row for spec in task_specs(params, groups)
            for row in _task_rows(spec, contexts, params, scene.scene_id, split)]
