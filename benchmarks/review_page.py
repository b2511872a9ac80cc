"""What a shard's review page adds to its blocking check, in the same run: the baseline is what
``qa_shards_quality`` did before (GX validation with Data Docs, the review plots drawn and encoded as PNG
for the metadata), the addition is ``write_review`` given those plots, as the check calls it (JSON on
stdout; medians of process CPU seconds).

    python benchmarks/review_page.py PARAMS SCENE_ID [--repeats 3] [--out result.json]

PARAMS' artifacts folder is only read: the shard, its visibility and view tables and its frames are
copied into a temporary artifacts folder, where the Data Docs and the review page are written.
"""
from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from mosaic_pipeline import paths
from mosaic_pipeline.params import Params, load_params
from mosaic_pipeline.plots.quality import review_figures
from mosaic_pipeline.quality.review import write_review
from mosaic_pipeline.quality.suites import qa_tasks
from mosaic_pipeline.quality.validation import validate_tables

from bench_io import emit


def _copy_inputs(source: Params, target: Params, scene_id: str) -> None:
    for of in (paths.qa_shard, paths.visibility, paths.view_samples):
        of(target, scene_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(of(source, scene_id), of(target, scene_id))
    data_source = pd.read_parquet(paths.qa_shard(source, scene_id), columns=["data_source"])["data_source"].iloc[0]
    shutil.copytree(paths.frames_dir(source, data_source, scene_id), paths.frames_dir(target, data_source, scene_id))


def _cpu(fn) -> tuple[float, object]:
    t0 = time.process_time()
    value = fn()
    return time.process_time() - t0, value


def _check_before(tables: dict, params: Params, tasks, docs: Path) -> dict:
    """The check without the review page: validation with Data Docs, the plots as PNG (as figure_md)."""
    validate_tables(tables, params, tasks, docs)
    figures = review_figures(tables["qa_shard"], params.views.max_overlap)
    for fig in figures.values():
        fig.savefig(io.BytesIO(), format="png", dpi=100, bbox_inches="tight")
    return figures


def measure(params_file: Path, scene_id: str, repeats: int) -> dict:
    source = load_params(params_file)
    with tempfile.TemporaryDirectory(prefix="mosaic-review-bench-") as tmp:
        params = load_params(params_file, {"paths": {**source.paths.model_dump(), "artifacts": tmp}})
        _copy_inputs(source, params, scene_id)
        tables = {"qa_shard": pd.read_parquet(paths.qa_shard(params, scene_id)),
                  "visibility": pd.read_parquet(paths.visibility(params, scene_id)),
                  "view_samples": pd.read_parquet(paths.view_samples(params, scene_id))}
        tasks, docs = qa_tasks(params), paths.quality_docs(params, "qa_shards_quality", scene_id)
        report = validate_tables(tables, params, tasks, docs)  # warm-up: imports, GX start-up
        validate, review = [], []
        for _ in range(repeats):
            seconds, figures = _cpu(lambda: _check_before(tables, params, tasks, docs))
            validate.append(seconds)
            review.append(_cpu(lambda: write_review(params, scene_id, tables["qa_shard"], tables["visibility"],
                                                    tasks, report, {}, figures))[0])
        size = sum(p.stat().st_size for p in paths.review_dir(params, scene_id).rglob("*") if p.is_file())
    median_v, median_r = statistics.median(validate), statistics.median(review)
    return {"scene_id": scene_id, "n_qa": len(tables["qa_shard"]), "questions_rendered": params.review.questions,
            "repeats": repeats, "check_before_cpu_s": validate, "write_review_cpu_s": review,
            "median_check_before_cpu_s": round(median_v, 3), "median_review_cpu_s": round(median_r, 3),
            "review_over_check_before": round(median_r / median_v, 3), "review_page_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path)
    parser.add_argument("scene_id")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    emit(measure(args.params, args.scene_id, args.repeats), args.out)


if __name__ == "__main__":
    main()
