"""The suites of ``expectations/`` (Great Expectations JSON), the scopes that run them, and their
parameters: thresholds come from params.yaml, task keys and splits from the QA package and the catalog."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import SPLITS
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
class QATasks:
    """What the QA package defines: options per task key (0 = free answer), the task keys each split
    holds, and each relation axis's two directions."""

    n_options: Mapping[str, int]
    split_keys: Mapping[str, tuple[str, ...]]
    directions: Mapping[str, tuple[str, str]]

    def split_task_keys(self, splits: Iterable[str]) -> list[str]:
        """``split:task_key`` of every task key the given splits hold."""
        return sorted(f"{s}:{k}" for s in splits for k in self.split_keys.get(s, ()))


def qa_tasks(params: Params) -> QATasks:
    """From the QA package's question types: options 2 for Yes/No types, 0 for the free-answer keys of
    ``quality.free_answer_tasks`` (task type or key), ``qa.n_options`` otherwise; split groups as generated."""
    from ..qa.generate import SPLIT_GROUPS, task_specs
    from ..qa.relations import DIRECTIONS

    free = set(params.quality.free_answer_tasks)
    n_options, group_keys = {}, {}
    for spec in task_specs(params):
        key = f"{spec.task_type}/{spec.subtask}" if spec.subtask else spec.task_type
        n_options[key] = 2 if spec.yes_no else 0 if {key, spec.task_type} & free else params.qa.n_options
        group_keys.setdefault(spec.group, []).append(key)
    split_keys = {split: tuple(k for g in groups for k in group_keys.get(g, ()))
                  for split, groups in SPLIT_GROUPS.items()}
    return QATasks(n_options, split_keys, DIRECTIONS)


def suite_path(name: str) -> Path:
    return EXPECTATIONS_DIR / f"{name}.json"


def suite_parameters(params: Params, tasks: QATasks | None = None, splits: Iterable[str] = ()) -> dict[str, Any]:
    """Values of the suites' ``$PARAMETER`` references. ``splits``: those present in the QA table
    (coverage expects every task key of each of them)."""
    yes_no, direction = params.qa.yes_no_tolerance, params.qa.direction_tolerance
    return {
        "splits": list(SPLITS),
        "split_task_keys": tasks.split_task_keys(SPLITS) if tasks else [],
        "expected_split_task_keys": tasks.split_task_keys(splits) if tasks else [],
        "max_letter_kl": params.quality.max_letter_kl,
        "letter_share_tolerance": params.quality.letter_share_tolerance,
        "yes_share_min": 0.5 - yes_no, "yes_share_max": 0.5 + yes_no,
        "direction_share_min": 0.5 - direction, "direction_share_max": 0.5 + direction,
        "min_frames": params.views.min_frames, "max_frames": params.views.max_frames,
        "max_overlap": params.views.max_overlap,
    }
