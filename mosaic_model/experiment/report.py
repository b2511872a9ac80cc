"""The experiment's report: every run's and arm's scores, the baselines, the claim's comparison, the MLflow export.

Written by the last step of ``mosaic experiment run`` (``command.py``) from its work folder, atomically:

    scores/<split>/<model>.json   metrics.score_table of every baseline, arm (seeds pooled per question) and
                                  run, per prompt form ("<name> [official prompt]"), and on the frame
                                  ablation's splits every seeing arm and run with blank frames ("<name> [blank
                                  frames]"); files of models an earlier report had and this one has not
                                  are removed
    summary.json                  the commit, the QA sha256, the seeds reported and those planned (``complete``:
                                  whether they are the same; ``mosaic experiment report`` writes an interim
                                  report from the seeds finished in every arm), per split overall / micro / per type / slices with
                                  CIs of every model, every run's overall score, the paired differences, what
                                  the frames are worth to each seeing arm (``frame_ablation``), the verdict
                                  (does the best VLM look, and does it use its frames?), geometry errors,
                                  MLflow run ids, the wall minutes of every MLflow run (``run_minutes``)
    mlflow_runs.json              every MLflow run of the work folder's stores: params, tags, metric histories
    table.md                      the markdown tables (every task x every model, CIs) and the paired
                                  treatment - control differences of params.yaml experiment.comparison
                                  (per seed and over the seeds' mean; per family and slice); each seeing
                                  arm with its frames - with blank frames; the training
                                  loss per question type of every arm, first and last window (also in
                                  summary.json ``learning_curves``)
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mosaic_pipeline.atomic import atomic_file
from mosaic_pipeline.params import Params

from ..data import read_qa, scoring_record
from ..geometry_pretrain import METRICS
from ..metrics import PREDICTIONS, SCORES, ScoredQuestion, score_predictions, score_table
from ..train import TYPE_LOSS
from .baselines import answer_prior, chance_table, prior_predictions, read_options
from .bundle import QA, read_manifest
from .runs import GEOMETRY_DIR, eval_dir
from .scoring import BLANK_FRAMES

BLANK_FRAMES_LABEL = "blank frames"  # the column of a seeing arm scored with blank frames: "<arm> [blank frames]"
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


def learning_curves(runs: list[dict[str, Any]], arms: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per arm and question type, the training loss of that type (``loss_by_type.<type>``, train.py) in the
    first and the last read-back window of each run, the mean over the arm's seeds: {arm: {type: {"first",
    "last"}}}. A seeing arm ending below the blind one on a type is the first sign it uses the frames there."""
    found: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in runs:
        arm = re.fullmatch(rf"({'|'.join(map(re.escape, arms))})-s\d+", Path(r["store"]).stem)
        for key, history in r["history"].items():
            if arm and key.startswith(TYPE_LOSS) and history:
                curve = found[arm.group(1)][key[len(TYPE_LOSS):]]
                curve["first"].append(history[0][1])
                curve["last"].append(history[-1][1])
    return {arm: {t: {k: float(np.mean(v)) for k, v in ends.items()} for t, ends in sorted(found[arm].items())}
            for arm in arms if arm in found}


def run_minutes(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall minutes of every MLflow run (start to end), by store: the geometry pretraining, each training run
    and each run's scorings summed; and their total, what the experiment cost past its data and bundle steps.
    A training run continued by a later command counts the time between the two commands too."""
    minutes: dict[str, float] = defaultdict(float)
    for r in runs:
        if r["end_time"] is not None:
            minutes[Path(r["store"]).stem] += (r["end_time"] - r["start_time"]) / 60_000
    return {"by_store": {k: round(v, 2) for k, v in sorted(minutes.items())},
            "total": round(sum(minutes.values()), 2)}


def learning_table(curves: dict[str, dict[str, dict[str, float]]]) -> str:
    """The training loss per question type, first -> last window, one column per arm."""
    arms = list(curves)
    types = sorted({t for by_type in curves.values() for t in by_type})
    lines = ["| training loss per question type (first -> last window, seeds' mean) | " + " | ".join(arms) + " |",
             "|---|" + "---|" * len(arms)]
    for t in types:
        cells = [f"{c[t]['first']:.3f} -> {c[t]['last']:.3f}" if t in c else "-" for c in curves.values()]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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


def pooled_table(prediction_files: list[Path], params: Params) -> dict[str, Any]:
    """The score table (metrics.score_table) of an arm: each question scored by its mean over the arm's seeds."""
    runs = [_read_predictions(p) for p in prediction_files]
    mean = _mean_scores(runs)
    scored = [ScoredQuestion(qid, row["question_type"], "", None, mean[qid], mean[qid] == 1.0, row["slices"])
              for qid, row in runs[0].items()]
    return score_table(scored, params.eval)


def comparisons(work: Path, split: str, prompt: str, params: Params) -> dict[str, dict]:
    """Treatment arm - control arm of ``experiment.comparison``, per seed and over the seeds' mean."""
    exp = params.experiment
    treatment, control = (exp.run_names(arm) for arm in (exp.comparison.treatment, exp.comparison.control))

    def path(name: str) -> Path:
        return eval_dir(work, prompt, name, split) / PREDICTIONS

    out = {f"{t} - {c}": paired_differences([path(t)], [path(c)], params) for t, c in zip(treatment, control)}
    if len(treatment) > 1:
        label = f"mean({exp.comparison.treatment}) - mean({exp.comparison.control}) over seeds {list(exp.seeds)}"
        out[label] = paired_differences([path(t) for t in treatment], [path(c) for c in control], params)
    return out


def prompt_label(arm: str, prompt: str) -> str:
    """The column of an arm: its name (training prompt), or with the prompt form named."""
    return arm if prompt == "training" else f"{arm} [{prompt} prompt]"


def verdict(tables: dict[str, dict], params: Params, ablation: dict[str, dict] | None = None) -> dict[str, Any]:
    """Does the best VLM look? Its overall CI above the answer prior's and the blind arm's (docs/experiment.md);
    and, where its frames were ablated, what blank frames cost it (``uses_frames``: that drop's CI above 0)."""
    exp = params.experiment
    blind = [a for a in exp.arms if not exp.seeing(a)]
    seeing = [a for a in exp.arms if exp.seeing(a)]
    best = max(seeing, key=lambda a: tables[a]["overall"]["score"])
    bars = {name: tables[name]["overall"]["ci"][1] for name in ["answer_prior", *blind] if name in tables}
    low = tables[best]["overall"]["ci"][0]
    out = {"best_vlm": best, "best_ci": tables[best]["overall"]["ci"], "ci_high_of": bars,
           "looks": bool(bars) and all(low > high for high in bars.values())}
    if ablation and best in ablation:
        drop = ablation[best]["all"]
        out |= {"blank_frames_drop": drop, "uses_frames": bool(drop["ci"][0] > 0)}
    return out


def frame_ablation(work: Path, split: str, params: Params) -> dict[str, dict[str, dict[str, Any]]]:
    """Per seeing arm, its score with the frames minus its score with blank frames (training prompt, seeds
    pooled per question), paired per question: what the frames are worth to it (``paired_differences``)."""
    exp = params.experiment
    return {arm: paired_differences(*[[eval_dir(work, form, r, split) / PREDICTIONS for r in exp.run_names(arm)]
                                      for form in ("training", BLANK_FRAMES)], params)
            for arm in exp.arms if exp.seeing(arm)}


def _write_json(path: Path, data: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def _summary(table: dict[str, Any]) -> dict[str, Any]:
    return {k: table[k] for k in ("overall", "micro", "per_type", "slices")}


def split_report(work: Path, split: str, bundle: Path, params: Params) -> tuple[dict[str, dict], dict[str, Any]]:
    """Every score table of ``split`` (baselines, runs, arms per prompt form) and its summary entry."""
    exp = params.experiment
    try:
        tables = baseline_tables(bundle / QA, split, params)
        skipped = None
    except ValueError as exc:  # transfer: question types never asked on train have no prior
        tables, skipped = {}, str(exc)
    runs = {}
    for prompt in exp.eval_prompts:
        for arm in exp.arms:
            files = [eval_dir(work, prompt, r, split) / PREDICTIONS for r in exp.run_names(arm)]
            tables[prompt_label(arm, prompt)] = pooled_table(files, params)
            runs.update({prompt_label(r, prompt): json.loads((f.parent / SCORES).read_text())
                         for r, f in zip(exp.run_names(arm), files)})
    ablated = split in exp.frame_ablation
    for arm in [a for a in exp.arms if ablated and exp.seeing(a)]:
        files = [eval_dir(work, BLANK_FRAMES, r, split) / PREDICTIONS for r in exp.run_names(arm)]
        tables[f"{arm} [{BLANK_FRAMES_LABEL}]"] = pooled_table(files, params)
        runs.update({f"{r} [{BLANK_FRAMES_LABEL}]": json.loads((f.parent / SCORES).read_text())
                     for r, f in zip(exp.run_names(arm), files)})
    entry: dict[str, Any] = {"models": {name: _summary(t) for name, t in tables.items()},
                             "runs": {name: t["overall"] for name, t in runs.items()},
                             "comparisons": {p: comparisons(work, split, p, params) for p in exp.eval_prompts}}
    if ablated:
        entry["frame_ablation"] = frame_ablation(work, split, params)
    if skipped:
        entry["baselines_skipped"] = skipped
    else:
        entry["verdict"] = verdict(tables, params, entry.get("frame_ablation"))
    return {**tables, **runs}, entry


def build_report(bundle: Path, work: Path, out: Path, params: Params, commit: str,
                 planned_seeds: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Write ``out``: scores/<split>/<model>.json, summary.json, mlflow_runs.json, table.md (module docstring).
    ``planned_seeds``: the experiment's seeds where ``params`` holds only those finished so far (an interim report)."""
    manifest = read_manifest(bundle)
    exp = params.experiment
    planned = list(planned_seeds or exp.seeds)
    runs = export_mlflow(list((work / "mlflow").glob("*.db")))
    summary: dict[str, Any] = {"commit": commit, "qa_sha256": manifest["qa_sha256"], "seeds": list(exp.seeds),
                               "planned_seeds": planned, "complete": planned == list(exp.seeds),
                               "arms": list(exp.arms), "prompts": list(exp.eval_prompts), "splits": {},
                               "mlflow_run_ids": {f"{Path(r['store']).stem}/{r['run_name']}": r["run_id"] for r in runs}}
    geometry = work / GEOMETRY_DIR / METRICS
    if geometry.is_file():
        summary["geometry"] = {k: v for k, v in json.loads(geometry.read_text()).items() if k != "history"}
    markdown = [] if summary["complete"] else [f"**Interim report**: seeds {list(exp.seeds)} of the planned {planned} "
                                               "are trained and scored in every arm.\n"]
    written = set()
    for split in exp.eval_splits:
        tables, entry = split_report(work, split, bundle, params)
        summary["splits"][split] = entry
        for name, table in tables.items():
            written.add(out / "scores" / split / f"{name}.json")
            _write_json(out / "scores" / split / f"{name}.json", table)
        models = {name: t for name, t in tables.items() if name in entry["models"]}
        markdown.append(markdown_table(split, models))
        for prompt, diffs in entry["comparisons"].items():
            markdown += [difference_table(split, f"{label} ({prompt} prompt)", d) for label, d in diffs.items()]
        markdown += [difference_table(split, f"{arm} - {arm} [{BLANK_FRAMES_LABEL}] (what the frames are worth)", d)
                     for arm, d in entry.get("frame_ablation", {}).items()]
    summary["learning_curves"] = learning_curves(runs, list(exp.arms))
    summary["run_minutes"] = run_minutes(runs)
    markdown.append(learning_table(summary["learning_curves"]))
    for stale in set((out / "scores").rglob("*.json")) - written:  # an earlier report's models, not this one's
        stale.unlink()
    _write_json(out / "summary.json", summary)
    _write_json(out / "mlflow_runs.json", runs)
    with atomic_file(out / "table.md") as tmp:
        tmp.write_text("\n".join(markdown))
    return summary
