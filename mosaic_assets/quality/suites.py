"""The suites of ``expectations/`` (Great Expectations JSON), the scopes that run them, and their
parameters: every threshold comes from params.yaml, every task key from the QA package."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..params import REPO_ROOT, Params

EXPECTATIONS_DIR = REPO_ROOT / "expectations"

_QA_SHARD = ("qa_records", "qa_letter_balance", "qa_yes_no_balance", "qa_direction_balance", "qa_splits")
# what each validated table runs; a shard may lack a task (its scene had no candidate), the dataset may not
SCOPES: dict[str, tuple[str, ...]] = {
    "qa_shard": _QA_SHARD,
    "qa_dataset": (*_QA_SHARD, "qa_coverage"),
    "visibility": ("visibility_rows",),
    "view_samples": ("view_samples",),
}


@dataclass(frozen=True)
class TaskCatalog:
    """What the QA package defines: options per task key (0 = free answer) and each axis's two directions."""

    n_options: Mapping[str, int]
    directions: Mapping[str, tuple[str, str]]


def qa_task_catalog(params: Params) -> TaskCatalog:
    """The task keys of the QA package's question types; options: 2 for Yes/No types, 0 for the
    free-answer keys of ``quality.free_answer_tasks`` (task type or key), ``qa.n_options`` otherwise."""
    from ..qa.generate import task_specs
    from ..qa.relations import DIRECTIONS

    free = set(params.quality.free_answer_tasks)
    n_options = {}
    for spec in task_specs(params):
        key = f"{spec.task_type}/{spec.subtask}" if spec.subtask else spec.task_type
        n_options[key] = 2 if spec.yes_no else 0 if {key, spec.task_type} & free else params.qa.n_options
    return TaskCatalog(n_options, DIRECTIONS)


def suite_path(name: str) -> Path:
    return EXPECTATIONS_DIR / f"{name}.json"


def suite_parameters(params: Params, task_keys: Iterable[str] = ()) -> dict[str, Any]:
    """Values of the suites' ``$PARAMETER`` references (``task_keys``: those the QA package defines)."""
    yes_no, direction = params.qa.yes_no_tolerance, params.qa.direction_tolerance
    return {
        "task_keys": sorted(task_keys),
        "splits": list(params.quality.splits),
        "max_letter_kl": params.quality.max_letter_kl,
        "letter_share_tolerance": params.quality.letter_share_tolerance,
        "yes_share_min": 0.5 - yes_no, "yes_share_max": 0.5 + yes_no,
        "direction_share_min": 0.5 - direction, "direction_share_max": 0.5 + direction,
        "min_frames": params.views.min_frames, "max_frames": params.views.max_frames,
        "max_overlap": params.views.max_overlap,
    }
