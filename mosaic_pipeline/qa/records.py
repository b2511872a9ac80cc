"""The native QA record (docs/formats.md): one row per question, its Parquet schema, stable JSON, IO.

Rows are sorted by (scene_id, sample_id, question_type, question) and written with a fixed schema,
so the same inputs give byte-identical files. ``metadata`` is JSON with sorted keys (the seed's keys
plus the integer instance ids); ``options`` is empty and ``correct_option_index`` null for
free-answer (numeric) questions; ``query_frame_id`` is the sample position of Frame k or null.
"""
from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_file

_STR_LIST = pa.list_(pa.string())
_INT_LIST = pa.list_(pa.int64())
SCHEMA = pa.schema([
    ("scene_id", pa.string()), ("sample_id", pa.int64()), ("qa_id", pa.string()), ("data_source", pa.string()),
    ("question_type", pa.string()), ("task_type", pa.string()), ("subtask", pa.string()),
    ("question", pa.string()), ("options", _STR_LIST), ("answer", pa.string()),
    ("correct_option_index", pa.int64()), ("frames", _INT_LIST), ("source_frame_ids", _STR_LIST),
    ("query_frame_id", pa.int64()), ("metadata", pa.string()), ("occlusion_avg", pa.float64()),
    ("occ_level", pa.string()), ("overlap_avg", pa.float64()), ("overlap_level", pa.string()),
    ("vis_level", pa.string()), ("gt_scenario", pa.string()), ("split", pa.string()),
])
SORT_KEYS = ["scene_id", "sample_id", "question_type", "question"]
QA_NAMESPACE = uuid.UUID("5b1f0a52-3c4e-4f0e-9a57-6d6f73616963")  # fixed: qa ids are stable across runs


@dataclass(frozen=True)
class QARow:
    scene_id: str
    sample_id: int
    qa_id: str
    data_source: str  # "scannetpp" or "synthetic"
    question_type: str
    task_type: str
    subtask: str | None
    question: str
    options: list[str]
    answer: str
    correct_option_index: int | None
    frames: list[int]
    source_frame_ids: list[str]
    query_frame_id: int | None
    metadata: str
    occlusion_avg: float
    occ_level: str
    overlap_avg: float
    overlap_level: str
    vis_level: str
    gt_scenario: str
    split: str | None  # train / bench / transfer from the scene list; null for a scene outside it



def qa_id(scene_id: str, sample_id: int, question_type: str, question: str) -> str:
    return str(uuid.uuid5(QA_NAMESPACE, f"{scene_id}/{sample_id}/{question_type}/{question}"))


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars and arrays to Python, tuples to lists, non-finite floats to null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def stable_json(value: Any, indent: int | None = None) -> str:
    """Deterministic JSON: sorted keys, no NaN."""
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(_plain(value), sort_keys=True, indent=indent, separators=separators, allow_nan=False)


def to_table(rows: list[QARow]) -> pa.Table:
    records = sorted((asdict(r) for r in rows), key=lambda r: tuple(r[k] for k in SORT_KEYS))
    return pa.Table.from_pylist(records, schema=SCHEMA)


def as_frame(table: pa.Table) -> pd.DataFrame:
    """pandas view with nullable integers (``correct_option_index``, ``query_frame_id`` stay integers)."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Atomic, deterministic Parquet (fixed schema, no timestamps in the file)."""
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_table(path: Path) -> pa.Table:
    table = pq.read_table(path)
    missing = [n for n in SCHEMA.names if n not in table.schema.names]
    if missing:
        raise ValueError(f"{path}: not a QA table, missing columns {missing}")
    return table
