"""Checkpoints: one folder per step, written atomically.

    step_0000100/model.safetensors   checkpoint_state() of the model (no frozen pretrained tensors)
    step_0000100/config.json         the run config, the step and the MLflow run id
    step_0000100/tokenizer/          save_pretrained of the tokenizer
    step_0000100/train_state.pt      optimizer and scheduler state (resuming, with any number of processes)
    latest                           the name of the newest complete checkpoint
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from mosaic_pipeline.atomic import atomic_dir, atomic_file

from .config import RunConfig
from .modeling import SpatialMosaicVLM
from .tokenizer import load_tokenizer

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer"
TRAIN_STATE = "train_state.pt"
LATEST = "latest"


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def _unshared(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Safetensors stores no aliased tensors: copy the second name of a tied weight."""
    seen: set[int] = set()
    out = {}
    for name, tensor in state.items():
        tensor = tensor.detach().cpu().contiguous()
        out[name] = tensor.clone() if tensor.data_ptr() in seen else tensor
        seen.add(tensor.data_ptr())
    return out


def save_checkpoint(run_dir: Path, step: int, model: SpatialMosaicVLM, tokenizer: PreTrainedTokenizerBase,
                    run_cfg: RunConfig, train_state: dict[str, Any], mlflow_run_id: str | None) -> Path:
    """Write step_<step>/ atomically, point ``latest`` at it, keep the newest ``keep_checkpoints``."""
    root = checkpoints_dir(run_dir)
    target = root / f"step_{step:07d}"
    with atomic_dir(target) as tmp:
        save_file(_unshared(model.checkpoint_state()), str(tmp / WEIGHTS))
        meta = {"run": run_cfg.model_dump(mode="json"), "step": step, "mlflow_run_id": mlflow_run_id}
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2))
        tokenizer.save_pretrained(str(tmp / TOKENIZER))
        torch.save(train_state, tmp / TRAIN_STATE)
    with atomic_file(root / LATEST) as tmp:
        tmp.write_text(target.name)
    for old in sorted(root.glob("step_*"))[: -run_cfg.train.keep_checkpoints]:
        shutil.rmtree(old)
    return target


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = checkpoints_dir(run_dir) / LATEST
    return checkpoints_dir(run_dir) / pointer.read_text().strip() if pointer.is_file() else None


def read_meta(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"not a checkpoint (no {CONFIG}): {checkpoint}")
    return json.loads(path.read_text())


def load_weights(model: SpatialMosaicVLM, checkpoint: Path) -> None:
    """Load model.safetensors; it must hold exactly the tensors ``checkpoint_state`` names."""
    state = load_file(str(checkpoint / WEIGHTS))
    expected = set(model.checkpoint_state())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(f"{checkpoint / WEIGHTS}: missing {missing[:10]}, unexpected {unexpected[:10]}")
    model.load_state_dict(state, strict=False)


def load_checkpoint(checkpoint: Path, device: torch.device
                    ) -> tuple[SpatialMosaicVLM, PreTrainedTokenizerBase, RunConfig]:
    """Rebuild the model from the checkpoint's config (pretrained parts from their paths) and load it."""
    run_cfg = RunConfig.model_validate(read_meta(checkpoint)["run"])
    tokenizer = load_tokenizer(checkpoint / TOKENIZER)
    model = SpatialMosaicVLM(run_cfg.model, tokenizer)
    load_weights(model, checkpoint)
    return model.to(device).eval(), tokenizer, run_cfg
