"""Split-level QA cost: the qa_dataset step's debiasing and the bias_audit step's audits (JSON on stdout).

    python benchmarks/qa_dataset.py SHARD_DIR [--params P] [--train-scenes N] [--baseline-tree DIR]
                                    [--repeats 1] [--save DIR] [--out F]

SHARD_DIR holds per-scene QA shards (``<scene_id>.parquet``, the qa_shards asset's files); the scene
list of the parameters gives each scene its split. ``--train-scenes N`` keeps the first N train scenes
(by id) and every other scene. The timed parts, on tables already in memory, are what the assets run:
``qa_dataset`` = ``debias``; ``bias_audit`` = the audit of the final QA (``audit_types``, ``audit_table``,
``question_table``) and of the generated QA (``audit``), joined by ``before_after``. Process CPU seconds
and wall seconds, medians over the repeats. The outputs' sha256 (every split's Parquet as written by the
asset, debias.json, the audit table's Parquet, the per-question table) show whether two trees agree.
With ``--baseline-tree`` (a checkout of another commit) the same measurement runs on that code in a
child process first; the JSON holds both, the speed-up and whether every output is the same.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import mosaic_pipeline
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import load_params
from mosaic_pipeline.qa.dataset import assemble
from mosaic_pipeline.qa.records import read_table, stable_json
from mosaic_pipeline.quality.audit import audit, audit_table, audit_types, before_after, question_table
from mosaic_pipeline.quality.prune import debias

from bench_io import emit, run_baseline


def _scenes(shard_dir: Path, splits: dict[str, str], train_scenes: int | None) -> list[str]:
    ids = sorted(p.stem for p in shard_dir.glob("*.parquet") if p.stem in splits)
    train = [s for s in ids if splits[s] == "train"][:train_scenes]
    return [s for s in ids if splits[s] != "train" or s in train]


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")  # as records.write_parquet
    return buffer.getvalue()


def _bias_audit(tables: dict[str, pa.Table], debiased, p) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the bias_audit asset computes from qa_dataset's files: the audit table and the per-question rows."""
    results = audit_types(pa.concat_tables(debiased.tables.values()).to_pandas(), p)
    before = audit(pa.concat_tables(tables.values()).to_pandas(), p)
    removed = pd.DataFrame(json.loads(stable_json(debiased.report.to_dict("records"))))
    return before_after(audit_table(results, p), before, removed), question_table(results)


def _outputs(debiased, table: pd.DataFrame, questions: pd.DataFrame) -> dict[str, bytes]:
    files = {f"{split}.parquet": _parquet(t) for split, t in debiased.tables.items()}
    files["debias.json"] = (stable_json(debiased.report.to_dict("records")) + "\n").encode()
    files["rounds.json"] = (stable_json(debiased.rounds) + "\n").encode()
    files["audit.parquet"] = _parquet(pa.Table.from_pandas(table, preserve_index=False))
    files["questions.parquet"] = _parquet(pa.Table.from_pandas(questions, preserve_index=False))
    return files


def _record(timings: dict[str, dict[str, list[float]]], step: str, cpu0: float, wall0: float) -> None:
    """Append the CPU and wall seconds since (cpu0, wall0); also on stderr, for a run stopped halfway."""
    timings[step]["cpu"].append(time.process_time() - cpu0)
    timings[step]["wall"].append(time.perf_counter() - wall0)
    print(f"{step}: {timings[step]['cpu'][-1]:.1f} CPU-s, {timings[step]['wall'][-1]:.1f} s", file=sys.stderr, flush=True)


def measure(shard_dir: Path, params_file: Path | None, train_scenes: int | None, repeats: int,
            save: Path | None) -> dict:
    params = load_params(params_file)
    splits = {e.scene_id: e.split for e in load_catalog(params)}
    scenes = _scenes(shard_dir, splits, train_scenes)
    tables = assemble({s: read_table(shard_dir / f"{s}.parquet") for s in scenes}, splits, params)
    timings: dict[str, dict[str, list[float]]] = {"qa_dataset": {"cpu": [], "wall": []},
                                                  "bias_audit": {"cpu": [], "wall": []}}
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        debiased = debias(tables, params)
        _record(timings, "qa_dataset", c0, w0)
        c0, w0 = time.process_time(), time.perf_counter()
        table, questions = _bias_audit(tables, debiased, params.audit)
        _record(timings, "bias_audit", c0, w0)
    files = _outputs(debiased, table, questions)
    if save:
        save.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (save / name).write_bytes(data)
    return {
        "commit": _commit(Path(mosaic_pipeline.__file__).parent),
        "scenes": {split: sum(splits[s] == split for s in scenes) for split in tables},
        "qa_generated": {split: t.num_rows for split, t in tables.items()},
        "qa_final": {split: t.num_rows for split, t in debiased.tables.items()}, "rounds": debiased.rounds,
        "repeats": repeats,
        **{f"{step}_{kind}_seconds": t[kind] for step, t in timings.items() for kind in ("cpu", "wall")},
        **{f"{step}_{kind}_seconds_median": statistics.median(t[kind]) for step, t in timings.items()
           for kind in ("cpu", "wall")},
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }


def _commit(path: Path) -> str:
    """The commit of the checkout holding ``path`` (with ``+dirty`` when it has uncommitted changes)."""
    git = ["git", "-C", str(path)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
    return head + ("+dirty" if dirty.stdout.strip() else "")


def baseline(tree: Path, args: argparse.Namespace) -> dict:
    """The same measurement on the code of ``tree`` (a child process importing that checkout first)."""
    argv = [str(args.shard_dir), "--repeats", str(args.repeats)]
    argv += ["--params", str(args.params)] if args.params else []
    argv += ["--train-scenes", str(args.train_scenes)] if args.train_scenes is not None else []
    argv += ["--save", str(args.save / "baseline")] if args.save else []
    return run_baseline(tree, __file__, argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shard_dir", type=Path)
    parser.add_argument("--params", type=Path, default=None, help="Parameter file (default: params.yaml).")
    parser.add_argument("--train-scenes", type=int, default=None, help="Keep the first N train scenes.")
    parser.add_argument("--baseline-tree", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--save", type=Path, default=None, help="Write the outputs under this folder.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = {"command": " ".join(sys.argv)}
    if args.baseline_tree:
        result["baseline"] = baseline(args.baseline_tree, args)
    result["this_tree"] = measure(args.shard_dir, args.params, args.train_scenes, args.repeats,
                                  args.save / "this_tree" if args.save and args.baseline_tree else args.save)
    if args.baseline_tree:
        mine, base = result["this_tree"], result["baseline"]
        result["speedup_cpu"] = {step: base[f"{step}_cpu_seconds_median"] / mine[f"{step}_cpu_seconds_median"]
                                 for step in ("qa_dataset", "bias_audit")}
        result["same_outputs"] = base["sha256"] == mine["sha256"]
    emit(result, args.out)


if __name__ == "__main__":
    main()
