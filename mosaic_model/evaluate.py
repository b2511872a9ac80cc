"""Evaluation: greedy decoding of a checkpoint on a QA split, scored as the official code scores.

Writes ``predictions.jsonl`` (id, question_type, prediction, parsed, score, correct, slices per
question) and ``scores.json`` (``metrics.score_table``) atomically into the output folder, and logs
both to an MLflow run with the overall, micro and per-type scores as metrics. The prompt is the official
training form or the official evaluation form (docs/metrics.md, "Prompt forms"); final checkpoints are scored
with both, so our figures can be set beside the official harness's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from mosaic_pipeline import paths
from mosaic_pipeline.params import Params
from mosaic_pipeline.provenance import data_version_tags

from .checkpoint import load_checkpoint, read_meta
from .data import Collate, FrameCache, PromptForm, QADataset, read_qa, scoring_record
from .metrics import prediction_rows, score_predictions, write_results
from .modeling import SpatialMosaicVLM
from .tracking import TrackingConfig, mlflow_run
from .train import autocast, select_device


def predict(model: SpatialMosaicVLM, tokenizer: PreTrainedTokenizerBase, dataset: QADataset, cache: FrameCache,
            batch_size: int, max_new_tokens: int, bf16: bool) -> dict[str, str]:
    """id -> the raw generated text (special tokens removed)."""
    device = next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=Collate(cache, model.image_sizes))
    model.eval()
    predictions: dict[str, str] = {}
    for batch in loader:
        with autocast(device, bf16):
            tokens = model.generate(batch.to(device), max_new_tokens)
        predictions.update(zip(batch.ids, tokenizer.batch_decode(tokens, skip_special_tokens=True)))
    return predictions


def _score_metrics(table: dict[str, Any]) -> dict[str, float]:
    metrics = {"overall": table["overall"]["score"], "micro": table["micro"]["score"]}
    metrics.update({f"type.{t}": s["score"] for t, s in table["per_type"].items()})
    return metrics


@dataclass(frozen=True)
class EvalResult:
    table: dict[str, Any]  # metrics.score_table
    predictions: Path
    scores: Path
    mlflow_run_id: str | None


def evaluate(checkpoint: Path, qa_path: Path, image_root: Path, out_dir: Path, split: str | None, params: Params,
             tracking: TrackingConfig | None = None, device: str | None = None,
             prompt: PromptForm = "training", run_name: str | None = None) -> EvalResult:
    """Score ``checkpoint`` on ``split`` of the QA dataset (all rows when None), prompting in form ``prompt``,
    showing the frames under ``image_root``; tracked as MLflow run ``run_name`` (default ``eval-<split>-<prompt>``,
    after ``out_dir``'s name)."""
    model, tokenizer, run_cfg = load_checkpoint(checkpoint, select_device(device))
    items = read_qa(qa_path, split, prompt)
    dataset = QADataset(items, tokenizer, run_cfg.model.chat_template, image_root, with_answers=False)
    cache = FrameCache.build(paths.frame_cache(params), dataset.frame_paths(), model.image_sizes)
    predictions = predict(model, tokenizer, dataset, cache, run_cfg.train.eval_batch_size,
                          params.eval.max_new_tokens, run_cfg.train.bf16)
    scored, table = score_predictions([scoring_record(i) for i in items], predictions, params.eval)
    predictions_path, scores_path = write_results(out_dir, prediction_rows(scored), table)
    if tracking is None:
        return EvalResult(table, predictions_path, scores_path, None)
    run_params = {"checkpoint": str(checkpoint), "split": split, "prompt": prompt, "image_root": str(image_root),
                  "eval": params.eval.model_dump(mode="json")}
    tags = {**data_version_tags(qa_path), "mosaic.train_run_id": str(read_meta(checkpoint)["mlflow_run_id"])}
    with mlflow_run(tracking, run_name or f"eval-{out_dir.name}-{prompt}", run_params, tags) as run:
        mlflow.log_metrics(_score_metrics(table))
        mlflow.log_artifact(str(predictions_path))
        mlflow.log_artifact(str(scores_path))
    return EvalResult(table, predictions_path, scores_path, run.info.run_id)
