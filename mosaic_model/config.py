"""Typed configuration of SpatialMosaicVLM: one YAML per size under ``configs/model/`` (tiny, small, paper).

A size file holds two sections, ``model`` (the architecture and where pretrained weights live) and
``train`` (the optimisation hyper-parameters). Every size is a value here; the code has no defaults
of its own, so a YAML file that forgets a field fails validation naming the field.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from mosaic_pipeline.errors import FileInputError, InputError
from mosaic_pipeline.params import REPO_ROOT, validation_summary

CONFIG_DIR = REPO_ROOT / "configs" / "model"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------- VGGT
class DinoPatchEmbedConfig(_Frozen):
    """The DINOv2-with-registers ViT that embeds patches inside the VGGT aggregator (ViT-L/14: 24 x 16 heads)."""

    depth: int
    num_heads: int
    mlp_ratio: float
    init_values: float  # DINOv2 LayerScale init


class CameraHeadConfig(_Frozen):
    trunk_depth: int
    num_heads: int
    mlp_ratio: float
    init_values: float
    iterations: int  # iterative refinement steps of the pose encoding


class DPTHeadConfig(_Frozen):
    features: int
    out_channels: tuple[int, int, int, int]
    intermediate_layers: tuple[int, int, int, int]  # aggregator layers read by the head
    head_features: int  # channels of the last 3x3 conv before the output conv


class VGGTConfig(_Frozen):
    img_size: int
    patch_size: int
    embed_dim: int
    depth: int  # number of (frame block, global block) pairs
    num_heads: int
    mlp_ratio: float
    num_register_tokens: int
    qk_norm: bool
    init_values: float  # LayerScale init of the alternating-attention blocks
    rope_freq: float
    patch_embed: DinoPatchEmbedConfig
    camera_head: CameraHeadConfig | None
    depth_head: DPTHeadConfig | None
    point_head: DPTHeadConfig | None


# --------------------------------------------------------------------------------------- VLM parts
class VisionConfig(_Frozen):
    open_clip_model: str  # any open_clip model name, or the name ``open_clip_config`` registers
    open_clip_config: dict[str, Any] | None  # custom open_clip architecture (embed_dim, vision_cfg, text_cfg)
    weights: str | None  # local open_clip checkpoint file; None = random init
    select_layer: int  # -2 = penultimate block's tokens
    freeze: bool


class GeometryConfig(_Frozen):
    enabled: bool  # False = the no-geometry ablation (no encoder, no fusion)
    vggt: VGGTConfig
    weights: str | None  # official ``model.pt`` or our own pretrained safetensors; the encoder is always frozen
    tokens: Literal["camera_and_patch", "patch"]  # which last-layer tokens the fusion attends to


class FusionConfig(_Frozen):
    num_heads: int
    dropout: float


class LMConfig(_Frozen):
    pretrained_dir: str | None  # a transformers model directory (AutoModelForCausalLM), or None
    qwen2: dict[str, Any] | None  # Qwen2Config fields when built from scratch (vocab size comes from the tokenizer)
    dtype: Literal["float32", "bfloat16"]  # dtype of pretrained weights when loaded

    @model_validator(mode="after")
    def _one_source(self) -> LMConfig:
        if (self.pretrained_dir is None) == (self.qwen2 is None):
            raise ValueError("lm: set exactly one of pretrained_dir (load) and qwen2 (build from scratch)")
        return self


class LoRAConfig(_Frozen):
    enabled: bool
    r: int
    alpha: int
    dropout: float
    target_modules: tuple[str, ...]


class TokenizerConfig(_Frozen):
    pretrained_dir: str | None  # a transformers tokenizer directory, or None = train BPE on the QA corpus
    vocab_size: int
    min_frequency: int


class ModelConfig(_Frozen):
    name: str
    require_pretrained: bool  # True: every component must load from a local path (the paper config)
    chat_template: str  # "{prompt}" is replaced by the benchmark prompt; "<image>" marks the frames
    frame_pool_stride: int  # average pooling of each frame's token grid after the projector (1 = none)
    vision: VisionConfig
    geometry: GeometryConfig
    fusion: FusionConfig
    lm: LMConfig
    lora: LoRAConfig
    tokenizer: TokenizerConfig


class TrainConfig(_Frozen):
    seed: int
    split: str  # QA split trained on
    max_steps: int  # optimizer steps
    batch_size: int  # QA per micro-batch, i.e. per forward pass of one process
    global_batch_size: int  # QA per optimizer step over all processes: batch_size x world size x accumulation
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    warmup_ratio: float
    max_grad_norm: float
    save_every: int
    keep_checkpoints: int
    num_workers: int  # DataLoader worker processes; 0: batches collated in the training process
    bf16: bool  # bf16 autocast; only ever applied on CUDA
    eval_batch_size: int
    # page-locked batches on CUDA; off by default: a Batch is ~50 small tensors, and pinning them stalled the
    # small model's steps on the H100 (benchmarks/train_throughput.py, results/README.md)
    pin_memory: bool = False
    # --- speed (issue 19; benchmarks/train_step.py measures each). Off by default: the plain path. None of them
    # changes what a step computes, up to float rounding (tests/model/test_train_step.py).
    log_every: int = 1  # the loss and gradient norm are read back to the host (a GPU sync) every N steps only
    fused_adamw: bool = False  # AdamW's fused kernel (one launch for all parameters) instead of its foreach one
    geometry_cache: bool = False  # the frozen geometry encoder's tokens computed once per frame set for the run
    # (kept in device memory: frame sets x frames x tokens x 2C floats; no-op without the geometry branch)
    frames_on_device: bool = False  # the frame cache held in GPU memory, batches gathered there (num_workers 0)
    compile: bool = False  # torch.compile of the vision tower, fusion, projector and the LM's decoder
    gradient_checkpointing: bool = False  # the LM's decoder layers recompute their activations in backward

    @model_validator(mode="after")
    def _whole_micro_batches(self) -> TrainConfig:
        if self.global_batch_size % self.batch_size:
            raise ValueError(f"train: global_batch_size {self.global_batch_size} is not a multiple of "
                             f"batch_size {self.batch_size}")
        return self

    @model_validator(mode="after")
    def _in_process_device_frames(self) -> TrainConfig:
        if self.frames_on_device and self.num_workers:
            raise ValueError("train: frames_on_device gathers batches on the GPU in the training process; "
                             "set num_workers to 0")
        if self.log_every < 1:
            raise ValueError(f"train: log_every must be >= 1, got {self.log_every}")
        return self

    @property
    def micro_batches_per_step(self) -> int:
        """Micro-batches of one optimizer step, over all processes (each runs an equal share)."""
        return self.global_batch_size // self.batch_size


class RunConfig(_Frozen):
    model: ModelConfig
    train: TrainConfig


def config_path(name_or_path: str | Path) -> Path:
    """``tiny`` -> configs/model/tiny.yaml; an existing file path is used as given."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"}:
        candidate = path if path.is_absolute() else REPO_ROOT / path
    else:
        candidate = CONFIG_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"model config {name_or_path!r} not found at {candidate} (known: {known})")
    return candidate


def load_run_config(name_or_path: str | Path, overrides: dict[str, dict[str, Any]] | None = None) -> RunConfig:
    """Read a size config; ``overrides`` like {"train": {"max_steps": 10}} replace fields section-wise."""
    path = config_path(name_or_path)
    data = yaml.safe_load(path.read_text())
    for section, values in (overrides or {}).items():
        data[section] = _merge(data.get(section, {}), values)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:  # one line naming the file and every bad field (docs/bad_input.md)
        raise FileInputError(path, validation_summary(exc) + (" (with the --set overrides)" if overrides else "")
                             ) from None


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def resolve(path: str | Path) -> Path:
    """A path of a model config, relative to the repository root unless absolute."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


class MissingWeightsError(InputError, FileNotFoundError):
    """Pretrained weights the config asks for are not on this machine (nothing is ever downloaded)."""


def weight_paths(cfg: ModelConfig) -> dict[str, str | None]:
    """Every pretrained source of the model, by config field."""
    paths = {"vision.weights": cfg.vision.weights, "lm.pretrained_dir": cfg.lm.pretrained_dir,
             "tokenizer.pretrained_dir": cfg.tokenizer.pretrained_dir}
    if cfg.geometry.enabled:
        paths["geometry.weights"] = cfg.geometry.weights
    return paths


def require_local_weights(cfg: ModelConfig) -> None:
    """Raise one error listing every missing path (and, with require_pretrained, every unset one)."""
    problems = []
    for name, value in weight_paths(cfg).items():
        if value is None:
            if cfg.require_pretrained:
                problems.append(f"  {name}: not set, but config '{cfg.name}' requires pretrained weights")
        elif not resolve(value).exists():
            problems.append(f"  {name}: {resolve(value)} does not exist")
    if problems:
        raise MissingWeightsError(
            f"model config '{cfg.name}': pretrained weights missing (nothing is downloaded; "
            f"put them at these local paths or edit configs/model/{cfg.name}.yaml):\n" + "\n".join(problems)
        )
