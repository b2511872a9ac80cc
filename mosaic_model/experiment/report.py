"""The experiment's result tables: the GPU runs' scores, the baselines computed here, the MLflow export.

    python -m mosaic_model.experiment.report --bundle B --gpu-results DIR --out results/

``DIR`` is the unpacked ``results.tar.gz`` of ``scripts/gpu_experiment.sh``. Writes, atomically:

    scores/<split>/<model>.json   metrics.score_table of every model and baseline
    summary.json                  overall / micro / per type / slices with CIs, geometry errors,
                                  data version (QA sha256), MLflow run ids
    mlflow_runs.json              every MLflow run of the GPU stores: params, tags, metric histories
    table.md                      the markdown tables (every task x every model, CIs) and the paired
                                  treatment - control differences of params.yaml experiment.comparison
                                  (per seed pair and over the seeds' mean; per family and slice)
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
import numpy as np

from mosaic_pipeline.atomic import atomic_file
from mosaic_pipeline.params import Comparison, Params, load_params

from ..data import read_qa, scoring_record
from ..metrics import PREDICTIONS, SCORES, score_predictions
from .baselines import answer_prior, chance_table, prior_predictions, read_options
from .bundle import QA, read_manifest

SLICE_ORDER = {"occ_level": ("low", "medium", "high"), "overlap_level": ("low", "medium", "high")}


def baseline_tables(qa_path: Path, split: str, params: Params) -> dict[str, dict]:
    """Chance and answer-prior score tables of ``split`` (the prior from the train split)."""
    prior = answer_prior(read_qa(qa_path, "train"))
    items, options = read_qa(qa_path, split), read_options(qa_path)
    _, prior_table = score_predictions([scoring_record(i) for i in items], prior_predictions(items, options, prior),
                                       params.eval)
    return {"chance": chance_table(items, options, prior, params.eval), "answer_prior": prior_table}


def export_mlflow(stores: list[Path]) -> list[dict[str, Any]]:
    """Every run of the SQLite stores: ids, name, params, tags, final metrics and metric histories."""
    from mlflow.tracking import MlflowClient

    runs = []
    for db in sorted(stores):
        client = MlflowClient(tracking_uri=f"sqlite:///{db.resolve()}")
        experiments = [e.experiment_id for e in client.search_experiments()]
        for run in client.search_runs(experiments):
            history = {key: [[m.step, m.value] for m in client.get_metric_history(run.info.run_id, key)]
                       for key in run.data.metrics if not key.startswith("system/")}
            runs.append({"store": db.name, "run_id": run.info.run_id, "run_name": run.info.run_name,
                         "status": run.info.status, "start_time": run.info.start_time, "end_time": run.info.end_time,
                         "params": run.data.params, "tags": run.data.tags, "metrics": run.data.metrics,
                         "history": history})
    return runs


def _cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "-"
    lo, hi = summary["ci"]
    return f"{summary['score']:.1f} [{lo:.1f}, {hi:.1f}]"


def markdown_table(split: str, tables: dict[str, dict]) -> str:
    """One row per question type, overall, micro and slice level; one column per model (in ``tables`` order)."""
    names = list(tables)
    header = f"| {split} | n | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names) + "\n"
    any_table = next(iter(tables.values()))

    def row(label: str, n: int, get: Any) -> str:
        return f"| {label} | {n} | " + " | ".join(_cell(get(tables[m])) for m in names) + " |\n"

    lines = [row("**overall**", any_table["overall"]["n"], lambda t: t["overall"]),
             row("micro", any_table["micro"]["n"], lambda t: t["micro"])]
    for qtype, s in any_table["per_type"].items():
        lines.append(row(qtype, s["n"], lambda t, q=qtype: t["per_type"].get(q)))
    for name, levels in any_table["slices"].items():
        order = SLICE_ORDER.get(name, tuple(sorted(levels)))
        for level in [lv for lv in order if lv in levels]:
            lines.append(row(f"{name}={level}", levels[level]["n"],
                             lambda t, a=name, b=level: t["slices"].get(a, {}).get(b)))
    return header + "".join(lines)


def task_family(question_type: str) -> str:
    """obj_spatial_occ_lr -> obj_spatial; vsti/camera_displacement stays as it is."""
    return re.sub(r"_occ(_[a-z]+)?$", "", question_type)


def _read_predictions(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def _mean_scores(runs: list[dict[str, dict[str, Any]]]) -> dict[str, float]:
    """Per question, the mean score over the runs (every run answers the same questions)."""
    ids = set(runs[0])
    if any(set(r) != ids for r in runs[1:]):
        raise ValueError("the runs of one arm did not answer the same questions")
    return {qid: float(np.mean([r[qid]["score"] for r in runs])) for qid in ids}


def paired_differences(a: list[Path], b: list[Path], params: Params) -> dict[str, dict[str, Any]]:
    """Mean per-question score difference a - b (x 100) with a paired percentile-bootstrap CI over questions:
    over all questions, per task family and per level of each slice (the same questions in every file).

    Each arm may hold several runs (seeds): a question's score in an arm is the mean over its runs.
    """
    runs_a = [_read_predictions(p) for p in a]
    scores_a, scores_b = _mean_scores(runs_a), _mean_scores([_read_predictions(p) for p in b])
    if set(scores_a) != set(scores_b):
        raise ValueError(f"{a} and {b} did not answer the same questions")
    groups: dict[str, list[float]] = defaultdict(list)
    for qid, row in runs_a[0].items():
        diff = scores_a[qid] - scores_b[qid]
        keys = ["all", f"family={task_family(row['question_type'])}"]
        keys += [f"{name}={level}" for name, level in row["slices"].items()]
        for key in keys:
            groups[key].append(diff)
    rng = np.random.default_rng(params.eval.bootstrap_seed)
    out = {}
    for key, values in sorted(groups.items()):
        d = np.asarray(values)
        means = d[rng.integers(0, len(d), size=(params.eval.bootstrap_resamples, len(d)))].mean(axis=1)
        tail = (1 - params.eval.ci_level) / 2 * 100
        lo, hi = np.percentile(means, [tail, 100 - tail])
        out[key] = {"diff": round(float(d.mean()) * 100, 2), "ci": [round(lo * 100, 2), round(hi * 100, 2)],
                    "n": len(d)}
    return out


def difference_table(split: str, label: str, diffs: dict[str, dict[str, Any]]) -> str:
    lines = [f"| {split}: {label} | n | difference [95 % CI] |\n|---|---|---|\n"]
    lines += [f"| {k} | {v['n']} | {v['diff']:+.1f} [{v['ci'][0]:+.1f}, {v['ci'][1]:+.1f}] |\n"
              for k, v in diffs.items()]
    return "".join(lines)


def comparisons(eval_dir: Path, split: str, comparison: Comparison, params: Params) -> dict[str, dict]:
    """Treatment - control per seed pair (runs paired in order) and, with several seeds, over the seeds' mean;
    only pairs whose runs were both evaluated on ``split``."""
    def path(name: str) -> Path:
        return eval_dir / name / split / PREDICTIONS

    pairs = [(t, c) for t, c in zip(comparison.treatment, comparison.control) if path(t).is_file() and path(c).is_file()]
    out = {f"{t} - {c}": paired_differences([path(t)], [path(c)], params) for t, c in pairs}
    if len(pairs) > 1:
        treatment, control = zip(*pairs)
        label = f"mean({', '.join(treatment)}) - mean({', '.join(control)})"
        out[label] = paired_differences([path(t) for t in treatment], [path(c) for c in control], params)
    return out


def _write_json(path: Path, data: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))


def build_report(bundle: Path, gpu: Path, out: Path, params: Params, commit: str) -> dict[str, Any]:
    manifest = read_manifest(bundle)
    exp = params.experiment
    runs = export_mlflow(list((gpu / "mlflow").glob("*.db")))
    summary: dict[str, Any] = {"commit": commit, "qa_sha256": manifest["qa_sha256"], "splits": {},
                               "mlflow_run_ids": {f"{Path(r['store']).stem}/{r['run_name']}": r["run_id"] for r in runs},
                               "geometry": json.loads((gpu / "geometry" / "metrics.json").read_text())}
    summary["geometry"].pop("history")
    markdown = []
    for split in exp.eval_splits:
        try:
            tables = baseline_tables(bundle / QA, split, params)
        except ValueError as exc:  # transfer: question types never asked on train have no prior
            tables = {}
            summary.setdefault("baselines_skipped", {})[split] = str(exc)
        for name in exp.runs:
            scores = gpu / "eval" / name / split / SCORES
            if scores.is_file():
                tables[name] = json.loads(scores.read_text())
        for name, table in tables.items():
            _write_json(out / "scores" / split / f"{name}.json", table)
        for label, diffs in comparisons(gpu / "eval", split, exp.comparison, params).items():
            summary.setdefault("comparisons", {}).setdefault(label, {})[split] = diffs
            markdown.append(difference_table(split, label, diffs))
        summary["splits"][split] = {name: {"overall": t["overall"], "micro": t["micro"], "per_type": t["per_type"],
                                           "slices": t["slices"]} for name, t in tables.items()}
        markdown.append(markdown_table(split, tables))
    _write_json(out / "summary.json", summary)
    _write_json(out / "mlflow_runs.json", runs)
    with atomic_file(out / "table.md") as tmp:
        tmp.write_text("\n".join(markdown))
    return summary


@click.command()
@click.option("--bundle", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--gpu-results", "gpu", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--commit", required=True, help="The commit the GPU run was made from.")
def main(bundle: Path, gpu: Path, out: Path, commit: str) -> None:
    summary = build_report(bundle, gpu, out, load_params(), commit)
    click.echo(json.dumps({s: {m: t["overall"]["score"] for m, t in v.items()} for s, v in summary["splits"].items()}))


if __name__ == "__main__":
    main()
