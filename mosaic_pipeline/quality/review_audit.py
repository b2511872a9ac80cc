"""A shard's row of the bias audit on its review page: text-only accuracy against chance per question type.

The audit (a text-only model k-fold over the QA, docs/review.md) writes a per-question table at
``paths.bias_audit_questions``; this module only reads it, defensively: when the file is not there, or
lacks the columns below, the page says so instead of failing the check that builds it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CORRECT_COLUMNS = ("text_only_correct", "text_correct", "correct")  # the first present is used
CHANCE_COLUMN = "chance"  # optional; else 1 / options of the shard's questions of that type


@dataclass(frozen=True)
class AuditRow:
    question_type: str
    n: int
    text_only: float  # accuracy, 0-1
    chance: float  # NaN for free-answer types

    @property
    def gap_points(self) -> float:
        return 100 * (self.text_only - self.chance)


@dataclass(frozen=True)
class AuditView:
    rows: tuple[AuditRow, ...]  # empty when not run
    note: str  # why there are no rows, or where they come from


def _chance(qa: pd.DataFrame) -> pd.Series:
    """Per question type: the mean of 1 / options (NaN without options)."""
    n = qa["options"].map(len)
    return (1.0 / n.where(n > 0)).groupby(qa["question_type"]).mean()


def audit_view(path: Path, scene_id: str, qa: pd.DataFrame) -> AuditView:
    if not path.is_file():
        return AuditView((), f"audit not run (no {path})")
    table = pd.read_parquet(path)
    correct = next((c for c in CORRECT_COLUMNS if c in table.columns), None)
    if correct is None or not {"scene_id", "question_type"} <= set(table.columns):
        return AuditView((), f"audit table {path} lacks scene_id, question_type or one of {', '.join(CORRECT_COLUMNS)}")
    mine = table[table["scene_id"] == scene_id]
    if mine.empty:
        return AuditView((), f"audit table {path} has no question of {scene_id}")
    groups = mine.groupby("question_type")
    chance = groups[CHANCE_COLUMN].mean() if CHANCE_COLUMN in mine else _chance(qa)
    accuracy = groups[correct].mean()
    rows = tuple(AuditRow(str(t), int(groups.size()[t]), float(accuracy[t]), float(chance.get(t, float("nan"))))
                 for t in accuracy.index)
    return AuditView(rows, f"from {path} ({correct})")
