"""QA assets: one balanced QA shard per scene and the scene-disjoint dataset with its exports.

Thin wrappers of :mod:`mosaic_assets.qa`: they read the upstream tables from the ``path`` their
latest materialization recorded, write through the atomic helpers and record counts per question
type and the answer-letter distribution.

(No `from __future__ import annotations` in asset modules: Dagster inspects the context annotation.)
"""

import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa

from ...catalog import load_catalog
from ...params import Params
from ..metadata import counts_table
from ..partitions import scene_partitions
from ..resources import MosaicParams
from .quality import materialized_path

GROUP = "qa"
VISIBILITY, VIEW_SAMPLES = dg.AssetKey("visibility"), dg.AssetKey("view_samples")


def shard_path(params: Params, scene_id: str) -> Path:
    return params.artifacts / "qa" / "shards" / f"{scene_id}.parquet"


def _frame_md(frame: pd.DataFrame) -> dg.MetadataValue:
    """A pandas count table (its index as the first columns) as a Dagster table."""
    table = frame.reset_index()
    table.columns = [str(c) for c in table.columns]
    text = {c for c in table.columns if pd.api.types.is_string_dtype(table[c])}
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string" if c in text else "int") for c in table.columns])
    rows = [dg.TableRecord({c: str(v) if c in text else int(v) for c, v in r.items()})
            for r in table.to_dict("records")]
    return dg.MetadataValue.table(rows, schema=schema)


@dg.asset(group_name=GROUP, partitions_def=scene_partitions, deps=[VISIBILITY, VIEW_SAMPLES],
          description="Balanced QA of one scene (the task groups of its split) and its samples.json.")
def qa_shards(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    from ...qa.dataset import letter_table
    from ...qa.export import samples_json, write_json
    from ...qa.generate import generate_scene_qa
    from ...qa.records import as_frame, to_table, write_parquet
    from ...scene.scannetpp import load_scene
    from ...views import read_views
    from ...visibility import read_visibility

    params = mosaic.load()
    entry = mosaic.scene(context.partition_key)
    vis_path = materialized_path(context.instance, VISIBILITY, entry.scene_id)
    views_path = materialized_path(context.instance, VIEW_SAMPLES, entry.scene_id)
    t0 = time.perf_counter()
    scene = load_scene(entry.scene_dir, params=params.scannetpp)
    views = read_views(views_path)
    table = to_table(generate_scene_qa(scene, read_visibility(vis_path), views, params, entry.split,
                                       vis_path, views_path))
    out = shard_path(params, entry.scene_id)
    write_parquet(table, out)
    samples = out.with_suffix(".samples.json")
    write_json(samples_json(as_frame(table), views, params.visibility.occ_level_edges), samples)
    elapsed = time.perf_counter() - t0
    context.log.info(f"{entry.scene_id} ({entry.split}): {table.num_rows} QA in {elapsed:.1f} s")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(out)),
        "samples_json": dg.MetadataValue.path(str(samples)),
        "split": entry.split,
        "n_qa": table.num_rows,
        "qa_per_question_type": counts_table(Counter(table.column("question_type").to_pylist()), key="question_type"),
        "answer_letters": _frame_md(letter_table({entry.split: table})),
        "seconds": round(elapsed, 2),
    })


@dg.asset(group_name=GROUP, deps=[qa_shards],
          description="Scene-disjoint train / bench / transfer QA (the committed scene list), LLaVA training "
                      "records and official test records per split.")
def qa_dataset(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    from ...qa.dataset import assemble, counts_table as split_counts, letter_table
    from ...qa.export import export_split
    from ...qa.records import read_table, write_parquet

    params = mosaic.load()
    entries = load_catalog(params)
    missing = [e.scene_id for e in entries if not shard_path(params, e.scene_id).exists()]
    if missing:
        raise dg.Failure(f"qa_dataset: no QA shard for {len(missing)} scene(s): {missing[:10]} "
                         "(materialize qa_shards for them first)")
    shards = {e.scene_id: read_table(shard_path(params, e.scene_id)) for e in entries}
    tables = assemble(shards, {e.scene_id: e.split for e in entries}, params)
    root = params.artifacts / "qa" / "dataset"
    everything = root / "qa.parquet"
    write_parquet(pa.concat_tables(tables.values()), everything)
    files = {}
    for split, table in tables.items():
        write_parquet(table, root / f"{split}.parquet")
        files.update({f"{split}_{kind}": str(p) for kind, p in export_split(table, root / "exports", split).items()})
    sizes = {split: t.num_rows for split, t in tables.items()}
    context.log.info(f"QA per split: {sizes}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(everything)),
        **{f"n_qa_{split}": n for split, n in sizes.items()},
        "qa_per_question_type_and_split": _frame_md(split_counts(tables)),
        "answer_letters": _frame_md(letter_table(tables)),
        "exports": dg.MetadataValue.json(files),
    })
