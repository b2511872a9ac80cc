"""Checkpoints: one folder per step, written atomically.

    step_0000100/model.safetensors   checkpoint_state() of the model (no frozen pretrained tensors)
    step_0000100/config.json         the run config, the step and the MLflow run id
    step_0000100/tokenizer/          save_pretrained of the tokenizer
    step_0000100/train_state.pt      optimizer and scheduler state (resuming, with any number of processes)
    latest                           the name of the newest complete checkpoint

A checkpoint damaged after it was written (truncated copy, bad disk) is a ``CheckpointError`` naming
the file, raised before anything is loaded from it (docs/bad_input.md).
"""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from mosaic_pipeline.atomic import atomic_dir, atomic_file
from mosaic_pipeline.errors import FileInputError

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


class CheckpointError(FileInputError):
    """A checkpoint file is missing, truncated or corrupt."""


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``latest`` names (None without one), checked with :func:`check_checkpoint`."""
    pointer = checkpoints_dir(run_dir) / LATEST
    if not pointer.is_file():
        return None
    checkpoint = checkpoints_dir(run_dir) / pointer.read_text().strip()
    if not checkpoint.is_dir():
        raise CheckpointError(pointer, f"names {checkpoint.name}, which does not exist")
    check_checkpoint(checkpoint)
    return checkpoint


def check_checkpoint(checkpoint: Path) -> None:
    """Every file of the checkpoint is there and complete, read without loading any tensor: the config
    parses, the weights' header and the training state's zip directory (at the end of the file) are whole."""
    read_meta(checkpoint)
    _weights_header(checkpoint / WEIGHTS)
    if not (checkpoint / TOKENIZER).is_dir():
        raise CheckpointError(checkpoint / TOKENIZER, "missing tokenizer folder")
    state = checkpoint / TRAIN_STATE
    try:
        zipfile.ZipFile(state).close()
    except (OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(state, f"missing, truncated or corrupt training state ({exc})") from exc


def _weights_header(path: Path) -> set[str]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return set(f.keys())
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(path, f"missing, truncated or corrupt weights ({exc})") from exc


def read_meta(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint / CONFIG
    if not path.is_file():
        raise CheckpointError(path, f"not a checkpoint (no {CONFIG} in {checkpoint})")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"truncated or corrupt JSON ({exc})") from exc
    missing = [k for k in ("run", "step", "mlflow_run_id") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise CheckpointError(path, "missing", field=", ".join(missing))
    return meta


def load_weights(model: SpatialMosaicVLM, checkpoint: Path) -> None:
    """Load model.safetensors; it must hold exactly the tensors ``checkpoint_state`` names."""
    _weights_header(checkpoint / WEIGHTS)
    try:
        state = load_file(str(checkpoint / WEIGHTS))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(checkpoint / WEIGHTS, f"truncated or corrupt weights ({exc})") from exc
    expected = set(model.checkpoint_state())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointError(checkpoint / WEIGHTS, f"missing {missing[:10]}, unexpected {unexpected[:10]}")
    model.load_state_dict(state, strict=False)


def load_checkpoint(checkpoint: Path, device: torch.device
                    ) -> tuple[SpatialMosaicVLM, PreTrainedTokenizerBase, RunConfig]:
    """Rebuild the model from the checkpoint's config (pretrained parts from their paths) and load it."""
    check_checkpoint(checkpoint)
    run_cfg = RunConfig.model_validate(read_meta(checkpoint)["run"])
    tokenizer = load_tokenizer(checkpoint / TOKENIZER)
    model = SpatialMosaicVLM(run_cfg.model, tokenizer)
    load_weights(model, checkpoint)
    return model.to(device).eval(), tokenizer, run_cfg
