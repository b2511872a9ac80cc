"""Bench scores of two runs compared value by value (the scores.json of ``mosaic evaluate``)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScoreDiff:
    key: str  # e.g. "per_type.object_count.score", "overall.ci.0"
    recorded: Any
    reproduced: Any
    tolerance: float  # 0 for counts and text: they must be equal

    @property
    def delta(self) -> float | None:
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.recorded, self.reproduced))
        return float(self.reproduced) - float(self.recorded) if numbers else None

    @property
    def ok(self) -> bool:
        return self.recorded == self.reproduced or (self.delta is not None and abs(self.delta) <= self.tolerance)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists -> {"a.b.0": leaf}."""
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def compare_scores(recorded: Mapping[str, Any], reproduced: Mapping[str, Any], tolerance: float) -> list[ScoreDiff]:
    """Every value that differs; floats (scores, CI bounds) may differ by ``tolerance``, counts and text not at all."""
    old, new = flatten(recorded), flatten(reproduced)
    diffs = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a != b:
            allowed = tolerance if isinstance(a, float) and isinstance(b, float) else 0.0
            diffs.append(ScoreDiff(key, a, b, allowed))
    return diffs


def format_diffs(diffs: list[ScoreDiff]) -> list[str]:
    """One line per difference: key, recorded, reproduced, delta and whether it is within tolerance."""
    lines = []
    for d in diffs:
        delta = f"{d.delta:+.4f}" if d.delta is not None else "-"
        verdict = "ok (within tolerance)" if d.ok else f"MISMATCH (tolerance {d.tolerance})"
        values = f"recorded {d.recorded!s:>10}  reproduced {d.reproduced!s:>10}  {delta:>9}"
        lines.append(f"  {d.key:<48} {values}  {verdict}")
    return lines
