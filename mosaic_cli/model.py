"""``mosaic train``, ``mosaic evaluate`` and ``mosaic score`` (registered by mosaic_cli).

Heavy imports (torch, transformers) happen inside the commands, so ``mosaic --help`` stays fast.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from mosaic_pipeline import paths
from mosaic_pipeline.params import load_params

_PATH = click.Path(path_type=Path)
_EXISTING = click.Path(path_type=Path, exists=True)


def _overrides(assignments: tuple[str, ...]) -> dict[str, Any]:
    """("train.max_steps=10", "model.geometry.enabled=false") -> nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise click.BadParameter(f"expected SECTION.FIELD=VALUE, got {item!r}", param_hint="--set")
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return out


def _tracking(enabled: bool, uri: str | None, dagster_run_id: str | None) -> Any:
    from mosaic_model.tracking import TrackingConfig

    model = load_params().model
    return TrackingConfig(uri or model.tracking_uri, model.experiment, dagster_run_id) if enabled else None


@click.command()
@click.option("--config", "config", default=None,
              help="Size (tiny | small | paper) or a YAML path; default: params.yaml model.config.")
@click.option("--qa", "qa_path", type=_EXISTING, required=True, help="QA dataset parquet.")
@click.option("--images", "image_root", type=_EXISTING, required=True,
              help="Root holding {synthetic|scannetpp}/<scene>/images.")
@click.option("--run-dir", type=_PATH, default=None,
              help="Checkpoints go here; an interrupted run in it resumes. "
                   "Default: <artifacts>/<model.runs>/<size>-<data hash>-<config hash>.")
@click.option("--set", "assignments", multiple=True,
              help="Override a config field, e.g. train.max_steps=10 or model.geometry.enabled=false.")
@click.option("--device", default="auto", show_default=True)
@click.option("--tracking/--no-tracking", default=True, show_default=True, help="Log the run to MLflow.")
@click.option("--tracking-uri", default=None,
              help="MLflow URI; default: params.yaml model.tracking_uri (SQLite in the repo).")
@click.option("--dagster-run-id", default=None)
def train(config: str | None, qa_path: Path, image_root: Path, run_dir: Path | None, assignments: tuple[str, ...],
          device: str, tracking: bool, tracking_uri: str | None, dagster_run_id: str | None) -> None:
    """Train SpatialMosaicVLM on the train split of a QA dataset; prints the final checkpoint and losses.

    Data-parallel on several GPUs or hosts: launch it with torchrun (docs/training.md, "Multi-GPU training").
    """
    from mosaic_model.config import load_run_config
    from mosaic_model.train import run_name
    from mosaic_model.train import train as run_training

    params = load_params()
    cfg = load_run_config(config or params.model.config, _overrides(assignments))
    run_dir = run_dir or paths.model_runs(params) / run_name(cfg, qa_path)
    result = run_training(cfg, qa_path, image_root, run_dir, params, _tracking(tracking, tracking_uri, dagster_run_id),
                          device=device)
    if not result.world.is_main:  # under torchrun: one report, from the process that logged and saved
        return
    final_loss = result.history[-1].loss if result.history else None
    click.echo(json.dumps({"checkpoint": str(result.checkpoint), "mlflow_run_id": result.mlflow_run_id,
                           "steps": len(result.history), "final_loss": final_loss,
                           "processes": result.world.size}))


@click.command()
@click.option("--checkpoint", type=_EXISTING, required=True,
              help="A checkpoint folder (checkpoints/step_*), or a run folder: its latest checkpoint.")
@click.option("--qa", "qa_path", type=_EXISTING, required=True)
@click.option("--images", "image_root", type=_EXISTING, required=True)
@click.option("--out", "out_dir", type=_PATH, required=True, help="predictions.jsonl and scores.json go here.")
@click.option("--split", default=None, help="QA split; default: params.yaml model.eval_split.")
@click.option("--prompt", type=click.Choice(["training", "official"]), default="training", show_default=True,
              help="The official training prompt, or the official evaluation prompt (one <image> per frame, "
                   "single newlines; docs/metrics.md).")
@click.option("--device", default="auto", show_default=True)
@click.option("--tracking/--no-tracking", default=True, show_default=True)
@click.option("--tracking-uri", default=None)
@click.option("--dagster-run-id", default=None)
def evaluate(checkpoint: Path, qa_path: Path, image_root: Path, out_dir: Path, split: str | None, prompt: str,
             device: str, tracking: bool, tracking_uri: str | None, dagster_run_id: str | None) -> None:
    """Greedy-decode a checkpoint on a QA split and score it; prints the score table."""
    from mosaic_model.checkpoint import latest_checkpoint
    from mosaic_model.evaluate import evaluate as run_evaluation

    params = load_params()
    checkpoint = latest_checkpoint(checkpoint) or checkpoint
    result = run_evaluation(checkpoint, qa_path, image_root, out_dir, split or params.model.eval_split, params,
                            _tracking(tracking, tracking_uri, dagster_run_id), device=device, prompt=prompt)
    click.echo(json.dumps(result.table, indent=2))


@click.command()
@click.argument("records", type=_EXISTING)
@click.argument("predictions", type=_EXISTING)
@click.option("--out", "out_dir", type=_PATH, default=None,
              help="Also write predictions.jsonl (scored) and scores.json here.")
def score(records: Path, predictions: Path, out_dir: Path | None) -> None:
    """Score PREDICTIONS (JSONL: id, prediction) against official-format test RECORDS (JSON array).

    Any model's raw outputs (GPT-4V, Qwen-VL, ...) are scored with the official rules; prints
    overall (unweighted mean over question types x 100), micro, per type and slices as JSON. Ids are
    qa_ids on both sides; none matching is an error (exit 2), some missing or unknown a warning with
    the counts (docs/bad_input.md).
    """
    from mosaic_model.metrics import (
        official_records,
        prediction_rows,
        read_predictions,
        score_predictions,
        write_results,
    )

    test_records = official_records(records)
    predicted = read_predictions(predictions)
    _check_ids({r.id for r in test_records}, predicted, predictions)
    scored, table = score_predictions(test_records, predicted, load_params().eval)
    if out_dir is not None:
        write_results(out_dir, prediction_rows(scored), table)
    click.echo(json.dumps(table, indent=2))


def _check_ids(record_ids: set[str], predictions: dict[str, str], path: Path) -> None:
    """No silent 0 %: an error when no prediction id is a record id, a warning with the counts otherwise."""
    from mosaic_pipeline.errors import FileInputError

    matched = record_ids & predictions.keys()
    if not matched and record_ids:
        raise FileInputError(path, f"none of its {len(predictions)} ids is one of the {len(record_ids)} records' ids "
                             f"(its ids look like {_examples(predictions.keys())}, the records' like "
                             f"{_examples(record_ids)}); every mosaic file identifies a question by its qa_id",
                             field="id")
    missing, unknown = len(record_ids) - len(matched), len(predictions.keys() - record_ids)
    if missing or unknown:
        click.echo(f"warning: {path}: {len(matched)} of {len(record_ids)} records have a prediction ({missing} "
                   f"without one score 0); {unknown} prediction ids match no record", err=True)


def _examples(ids) -> str:
    return ", ".join(repr(i) for i in sorted(ids)[:2])


COMMANDS = (train, evaluate, score)


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)
