"""Scoring exactly as the official lmms-eval ``spatial_mosaic`` task (docs/metrics.md).

Per question (``score_question``):
- multiple choice: the first space-separated token of the raw generation with trailing "." removed,
  compared case-insensitively with the answer letter;
- numeric (``*_na``): the same first token as a float; MRA = mean over theta of
  1[|pred - gt| / gt <= 1 - theta]; an unparsable prediction scores 0;
- 2D point (``obj_localization_occ_na``): the first "(x, y)" pair in the generation; MPA = mean over t
  of 1[||p - p_gt|| <= t * bbox_2d_diag]; unparsable -> 0.
The thresholds are built as the official code builds them (``np.linspace`` for MRA, ``np.arange`` for
MPA), so floating-point ties fall the same way.

Aggregation (``score_table``): overall = unweighted mean over question types x 100 (the official
number); also the micro average, each question type, and slices by the diagnostic fields, each with
its count and a 95 % percentile-bootstrap confidence interval (resampling questions; the overall's
bootstrap resamples within each question type).

Question types outside the official lists (the transfer benchmark's) are scored by their shape:
with options as multiple choice, without as numeric.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mosaic_pipeline.atomic import atomic_file
from mosaic_pipeline.errors import FileInputError
from mosaic_pipeline.params import EvalParams, ThresholdRange

MC_QUESTION_TYPES = frozenset({
    "obj_count_occ", "bestview_count_occ", "obj_localization_occ",
    "obj_existence_occ_ab", "obj_existence_occ_fb", "obj_existence_occ_lr",
    "obj_attribute_occ_ab", "obj_attribute_occ_fb", "obj_attribute_occ_lr",
    "obj_spatial_occ_ab", "obj_spatial_occ_fb", "obj_spatial_occ_lr",
})
NA_QUESTION_TYPES = frozenset({"obj_count_occ_na", "obj_distance_occ_na", "obj_obj_distance_occ_na", "obj_size_occ_na"})
POINT_QUESTION_TYPES = frozenset({"obj_localization_occ_na"})
PREDICTIONS = "predictions.jsonl"
SCORES = "scores.json"
_POINT_PATTERNS = (
    re.compile(r"\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)"),
    re.compile(r"(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)"),
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# official test-record field -> our slice name
OFFICIAL_SLICE_FIELDS = {"occ_level": "occ_level", "overlap_level": "overlap_level",
                         "vis_level": "vis_level", "GT Scenario": "gt_scenario"}


@dataclass(frozen=True)
class ScoringRecord:
    """What scoring needs of one question, from a test record or a QA row."""

    id: str
    question_type: str
    kind: str  # "mc" | "numeric" | "point"
    ground_truth: str
    mc_answer: str | None  # the correct letter (multiple choice)
    bbox_2d_diag: str | float | None  # point answers
    slices: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredQuestion:
    id: str
    question_type: str
    prediction: str
    parsed: str | float | list[float] | None
    score: float
    correct: bool
    slices: dict[str, str]


def answer_kind(question_type: str, has_options: bool) -> str:
    if question_type in POINT_QUESTION_TYPES:
        return "point"
    if question_type in NA_QUESTION_TYPES:
        return "numeric"
    if question_type in MC_QUESTION_TYPES or has_options:
        return "mc"
    return "numeric"


# ------------------------------------------------------------------------ parsing (official rules)
def parse_letter(prediction: str) -> str:
    """lmms-eval ``fuzzy_matching``: first token split on a single space, trailing dots removed."""
    return prediction.split(" ")[0].rstrip(".").strip()


def to_float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def parse_point(text: Any) -> tuple[float, float] | None:
    """The first "(x, y)", else the first "x, y", else the first two numbers of the text."""
    text = str(text)
    for pattern in _POINT_PATTERNS:
        match = pattern.search(text)
        if match:
            return float(match.group(1)), float(match.group(2))
    numbers = _NUMBER.findall(text)
    return (float(numbers[0]), float(numbers[1])) if len(numbers) >= 2 else None


# ------------------------------------------------------------------------ per-question metrics
def mra_thresholds(r: ThresholdRange) -> np.ndarray:
    """theta in {start, ..., end}: the official ``np.linspace``."""
    return np.linspace(r.start, r.end, int(round((r.end - r.start) / r.interval)) + 1)


def mpa_thresholds(r: ThresholdRange) -> np.ndarray:
    """t in {start, ..., end}: the official ``np.arange(start, end + interval / 2, interval)``."""
    return np.arange(r.start, r.end + r.interval / 2, r.interval)


def mean_relative_accuracy(pred: float, gt: float, thresholds: np.ndarray) -> float:
    if gt == 0:
        raise ValueError("MRA is undefined for a ground truth of 0")
    return float((abs(pred - gt) / gt <= 1 - thresholds).mean())


def mean_point_accuracy(pred: tuple[float, float], gt: tuple[float, float], diag: float,
                        thresholds: np.ndarray) -> float:
    dist = float(np.hypot(pred[0] - gt[0], pred[1] - gt[1]))
    return float((dist <= diag * thresholds).mean())


def score_question(record: ScoringRecord, prediction: str, params: EvalParams) -> ScoredQuestion:
    parsed: str | float | list[float] | None
    if record.kind == "mc":
        parsed = parse_letter(prediction)
        score = float(parsed.lower() == (record.mc_answer or "").lower())
    elif record.kind == "numeric":
        parsed, gt = to_float(parse_letter(prediction)), to_float(record.ground_truth)
        if gt is None:
            raise ValueError(f"question {record.id}: numeric ground truth {record.ground_truth!r} is not a number")
        score = 0.0 if parsed is None else mean_relative_accuracy(parsed, gt, mra_thresholds(params.mra))
    else:
        point, gt_point, diag = parse_point(prediction), parse_point(record.ground_truth), to_float(record.bbox_2d_diag)
        if gt_point is None:
            raise ValueError(f"question {record.id}: point ground truth {record.ground_truth!r} has no (x, y)")
        parsed = list(point) if point else None
        ok = point is not None and diag is not None and diag > 0
        score = mean_point_accuracy(point, gt_point, diag, mpa_thresholds(params.mpa)) if ok else 0.0
    return ScoredQuestion(record.id, record.question_type, prediction, parsed, score, score == 1.0, record.slices)


# ------------------------------------------------------------------------ aggregation
def _interval(samples: np.ndarray, level: float) -> list[float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return [round(float(lo) * 100, 4), round(float(hi) * 100, 4)]


def _summary(scores: np.ndarray, params: EvalParams, rng: np.random.Generator) -> dict[str, Any]:
    idx = rng.integers(0, len(scores), size=(params.bootstrap_resamples, len(scores)))
    return {"score": round(float(scores.mean()) * 100, 4), "n": int(len(scores)),
            "ci": _interval(scores[idx].mean(axis=1), params.ci_level)}


def _overall(by_type: dict[str, np.ndarray], params: EvalParams, rng: np.random.Generator) -> dict[str, Any]:
    means = np.stack([
        s[rng.integers(0, len(s), size=(params.bootstrap_resamples, len(s)))].mean(axis=1) for s in by_type.values()
    ])
    overall = float(np.mean([s.mean() for s in by_type.values()]))
    return {"score": round(overall * 100, 4), "n": int(sum(len(s) for s in by_type.values())),
            "ci": _interval(means.mean(axis=0), params.ci_level)}


def score_table(scored: list[ScoredQuestion], params: EvalParams, n_missing: int = 0) -> dict[str, Any]:
    """Overall (official), micro, per question type and per slice, each with n and a bootstrap CI."""
    if not scored:
        raise ValueError("nothing to score: no questions")
    rng = np.random.default_rng(params.bootstrap_seed)
    by_type: dict[str, list[float]] = defaultdict(list)
    by_slice: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in params.slices}
    for q in scored:
        by_type[q.question_type].append(q.score)
        for name in params.slices:
            if q.slices.get(name) is not None:
                by_slice[name][str(q.slices[name])].append(q.score)
    type_arrays = {t: np.asarray(v) for t, v in sorted(by_type.items())}
    return {
        "overall": _overall(type_arrays, params, rng),
        "micro": _summary(np.asarray([q.score for q in scored]), params, rng),
        "per_type": {t: _summary(v, params, rng) for t, v in type_arrays.items()},
        "slices": {name: {level: _summary(np.asarray(v), params, rng) for level, v in sorted(levels.items())}
                   for name, levels in by_slice.items()},
        "n_missing_predictions": n_missing,
        "ci_method": f"percentile bootstrap over questions, {params.bootstrap_resamples} resamples, "
                     f"seed {params.bootstrap_seed}, level {params.ci_level}",
    }


def score_predictions(records: list[ScoringRecord], predictions: dict[str, str], params: EvalParams
                      ) -> tuple[list[ScoredQuestion], dict[str, Any]]:
    """Score every record; a record without a prediction scores 0 (as an empty generation) and is counted."""
    scored = [score_question(r, predictions.get(r.id, ""), params) for r in records]
    n_missing = sum(r.id not in predictions for r in records)
    return scored, score_table(scored, params, n_missing)


# ------------------------------------------------------------------------ official files
def _field(record: dict[str, Any], name: str, path: Path, where: str) -> Any:
    if name not in record:
        raise FileInputError(path, f"missing field '{name}'", field=where)
    return record[name]


def official_records(path: Path) -> list[ScoringRecord]:
    """Test records in the official format (a JSON array) -> scoring records. ``id`` is the qa_id, the one
    id scheme of every mosaic file (docs/bad_input.md)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileInputError(path, f"unreadable JSON ({exc})") from exc
    if not isinstance(data, list):
        raise FileInputError(path, f"expected a JSON array of test records, got {type(data).__name__}")
    records = []
    for i, rec in enumerate(data):
        where = f"record {i}"
        if not isinstance(rec, dict):
            raise FileInputError(path, f"expected an object, got {type(rec).__name__}", field=where)
        qtype = str(_field(rec, "question_type", path, where))
        kind = answer_kind(qtype, bool(rec.get("options")))
        records.append(ScoringRecord(
            id=str(_field(rec, "id", path, where)),
            question_type=qtype,
            kind=kind,
            ground_truth=str(_field(rec, "ground_truth", path, where)),
            mc_answer=str(_field(rec, "mc_answer", path, where)) if kind == "mc" else None,
            bbox_2d_diag=_field(rec, "bbox_2d_diag", path, where) if kind == "point" else None,
            slices={ours: str(rec[theirs]) for theirs, ours in OFFICIAL_SLICE_FIELDS.items()
                    if rec.get(theirs) is not None},
        ))
    return records


def read_predictions(path: Path) -> dict[str, str]:
    """JSONL with ``id`` (the qa_id) and ``prediction`` (the raw generated text) per line; a bad line is a
    FileInputError naming the file and the line."""
    predictions: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileInputError(path, f"not a JSON object ({exc.msg} at column {exc.colno})", field=where) from exc
        if not isinstance(row, dict):
            raise FileInputError(path, f"expected a JSON object, got {type(row).__name__}", field=where)
        qid = str(_field(row, "id", path, where))
        if qid in first_line:
            raise FileInputError(path, f"id {qid} already predicted on line {first_line[qid]}", field=where)
        first_line[qid] = n
        predictions[qid] = str(_field(row, "prediction", path, where))
    return predictions


def prediction_rows(scored: list[ScoredQuestion]) -> list[dict[str, Any]]:
    """Per-question predictions as written to JSONL (id, prediction, parsed, score, correct, ...)."""
    return [asdict(q) for q in scored]


def write_results(out_dir: Path, rows: list[dict[str, Any]], table: dict[str, Any]) -> tuple[Path, Path]:
    """predictions.jsonl and scores.json, each written atomically."""
    with atomic_file(out_dir / PREDICTIONS) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with atomic_file(out_dir / SCORES) as tmp:
        tmp.write_text(json.dumps(table, indent=2))
    return out_dir / PREDICTIONS, out_dir / SCORES
