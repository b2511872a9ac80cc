"""Merge per-scene QA shards into the scene-disjoint splits of the committed scene list.

Every shard goes to its scene's split (``catalog.SPLITS``: train, bench, transfer) and keeps the
question types of that split's task groups (``generate.SPLIT_GROUPS``: the six families for train
and bench, numeric + VSTI-style tasks for transfer), so a scene is in exactly one split and the
zero-shot tasks never reach training. Also the per-split count and answer-letter tables.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..catalog import SPLITS
from ..params import Params
from .generate import SPLIT_GROUPS, task_specs
from .options import letter
from .records import SCHEMA, SORT_KEYS


def _shard_rows(scene_id: str, shard: pa.Table, split: str, group_of: Mapping[str, str]) -> pa.Table:
    if shard.num_rows and set(shard.column("scene_id").to_pylist()) != {scene_id}:
        raise ValueError(f"QA shard of scene {scene_id}: holds rows of other scenes (field 'scene_id')")
    keep = [group_of.get(qt) in SPLIT_GROUPS[split] for qt in shard.column("question_type").to_pylist()]
    rows = shard.select(SCHEMA.names).cast(SCHEMA).filter(pa.array(keep, pa.bool_()))
    return rows.set_column(SCHEMA.get_field_index("split"), "split", pa.array([split] * rows.num_rows, pa.string()))


def assemble(shards: Mapping[str, pa.Table], splits: Mapping[str, str], params: Params) -> dict[str, pa.Table]:
    """split -> its QA table (every split present, possibly empty), rows sorted like a shard."""
    unknown = sorted(set(shards) - set(splits))
    if unknown:
        raise ValueError(f"QA shards of scenes outside the scene list: {unknown[:5]}")
    group_of = {spec.question_type: spec.group for spec in task_specs(params)}
    parts: dict[str, list[pa.Table]] = {s: [] for s in SPLITS}
    for scene_id in sorted(shards):
        parts[splits[scene_id]].append(_shard_rows(scene_id, shards[scene_id], splits[scene_id], group_of))
    out = {}
    for split, tables in parts.items():
        table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
        out[split] = table.take(pc.sort_indices(table, [(k, "ascending") for k in SORT_KEYS]))
    return out


def counts_table(tables: Mapping[str, pa.Table]) -> pd.DataFrame:
    """QA per question type (rows) and split (columns)."""
    frames = [t.select(["question_type", "split"]).to_pandas() for t in tables.values()]
    data = pd.concat(frames, ignore_index=True)
    return pd.crosstab(data["question_type"], data["split"]).reindex(columns=list(tables), fill_value=0)


def letter_table(tables: Mapping[str, pa.Table]) -> pd.DataFrame:
    """Correct-letter counts per (split, question type) of the multiple-choice rows."""
    frames = [t.select(["question_type", "split", "correct_option_index"]).to_pandas() for t in tables.values()]
    data = pd.concat(frames, ignore_index=True).dropna(subset=["correct_option_index"])
    data["letter"] = data["correct_option_index"].astype(int).map(letter)
    return pd.crosstab([data["split"], data["question_type"]], data["letter"])
