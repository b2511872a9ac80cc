"""Pretraining of the VGGT geometry encoder on the free supervision of the synthetic scenes.

As VGGT is trained, at our scale: a sample is S frames of one scene (drawn from a window of
``frame_window`` consecutive registered frames, so they overlap); the camera head regresses each
frame's 9-d pose encoding (translation, quaternion xyzw, vertical and horizontal field of view) of
the OpenCV camera-from-world pose relative to frame 0, at every refinement iteration (L1, weighted
``camera_gamma ** (iterations - 1 - i)``); the depth head regresses metric depth (L1 plus an L1
loss on the spatial gradient of the error; the confidence channel is not used). Scenes are metric
(the synthetic depth is in metres), so no scale normalisation is applied.

Held-out scenes (every split but ``train``) measure depth AbsRel and the rotation (degrees) and
translation (metres) error of frames 1.. relative to frame 0, before and after pretraining. The
weights are saved as safetensors with the official parameter names; ``geometry.weights`` loads them
into the frozen encoder of the VLM (the heads are skipped there).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from torch import Tensor
from transformers import get_cosine_schedule_with_warmup

from mosaic_pipeline.atomic import atomic_dir
from mosaic_pipeline.params import GeometryPretrainParams
from mosaic_pipeline.paths import GEOMETRY_WEIGHTS as WEIGHTS
from mosaic_pipeline.provenance import data_version_tags
from mosaic_pipeline.qa.export import image_path

from .config import RunConfig, VGGTConfig
from .experiment.bundle import FRAMES, GEOMETRY, QA, read_manifest
from .tracking import TrackingConfig, mlflow_run
from .train import autocast, build_optimizer
from .vggt import VGGT

METRICS = "metrics.json"


@dataclass(frozen=True)
class SceneViews:
    """Every frame of one scene: uint8 images [N, 3, s, s], depth [N, d, d] (metres), poses, intrinsics."""

    scene_id: str
    images: np.ndarray
    depth: np.ndarray
    world_to_cam: np.ndarray
    K: np.ndarray


def load_views(bundle: Path, split: str | None, exclude: str | None = None) -> list[SceneViews]:
    """The scenes of ``split`` (or every split but ``exclude``) in the bundle, sorted by id."""
    manifest = read_manifest(bundle)
    chosen = [s for s, m in sorted(manifest["scenes"].items())
              if (split is None or m["split"] == split) and m["split"] != exclude]
    if not chosen:
        raise ValueError(f"{bundle}: no scene with split {split!r} (excluding {exclude!r})")
    return [_scene_views(bundle, s, manifest["scenes"][s]["source"]) for s in chosen]


def _scene_views(bundle: Path, scene: str, source: str) -> SceneViews:
    data = np.load(bundle / GEOMETRY / f"{scene}.npz")
    images = []
    for fid in data["frame_ids"]:
        with Image.open(image_path(bundle / FRAMES, source, scene, str(fid))) as im:
            images.append(np.asarray(im.convert("RGB")).transpose(2, 0, 1))
    return SceneViews(scene, np.stack(images), data["depth"].astype(np.float32), data["world_to_cam"], data["K"])


# ----------------------------------------------------------------------------- targets
def quaternion_xyzw(R: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4], real part last and >= 0."""
    m = R.reshape(-1, 3, 3)
    w = np.sqrt(np.maximum(0.0, 1 + m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2])) / 2
    x = np.sqrt(np.maximum(0.0, 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2])) / 2
    y = np.sqrt(np.maximum(0.0, 1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2])) / 2
    z = np.sqrt(np.maximum(0.0, 1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2])) / 2
    x = np.copysign(x, m[:, 2, 1] - m[:, 1, 2])
    y = np.copysign(y, m[:, 0, 2] - m[:, 2, 0])
    z = np.copysign(z, m[:, 1, 0] - m[:, 0, 1])
    q = np.stack((x, y, z, w), axis=-1)
    return (q / np.linalg.norm(q, axis=-1, keepdims=True)).reshape(*R.shape[:-2], 4)


def relative_extrinsics(world_to_cam: np.ndarray) -> np.ndarray:
    """[S, 4, 4] world-to-camera -> camera-from-frame-0 (frame 0 becomes the identity)."""
    return world_to_cam @ np.linalg.inv(world_to_cam[0])


def pose_encoding(world_to_cam: np.ndarray, K: np.ndarray, side: int) -> np.ndarray:
    """VGGT's 9-d encoding of each frame relative to frame 0: [T (3), quat xyzw (4), fov_h, fov_w]."""
    rel = relative_extrinsics(world_to_cam)
    fov_h = 2 * np.arctan(side / 2 / K[:, 1, 1])
    fov_w = 2 * np.arctan(side / 2 / K[:, 0, 0])
    return np.concatenate((rel[:, :3, 3], quaternion_xyzw(rel[:, :3, :3]), fov_h[:, None], fov_w[:, None]),
                          axis=-1).astype(np.float32)


@dataclass
class GeometryBatch:
    images: Tensor  # uint8 [B, S, 3, s, s]
    depth: Tensor  # [B, S, d, d], 0 = no measurement
    pose: Tensor  # [B, S, 9]

    def to(self, device: torch.device) -> GeometryBatch:
        return GeometryBatch(*(t.to(device, non_blocking=True) for t in (self.images, self.depth, self.pose)))


def sample_batch(scenes: list[SceneViews], cfg: GeometryPretrainParams, rng: np.random.Generator) -> GeometryBatch:
    """``batch_size`` samples: a random scene, a random window, ``frames_per_sample`` distinct frames in it."""
    images, depth, pose = [], [], []
    for _ in range(cfg.batch_size):
        scene = scenes[rng.integers(len(scenes))]
        n = len(scene.images)
        window = min(cfg.frame_window, n)
        start = rng.integers(n - window + 1)
        idx = start + rng.choice(window, size=cfg.frames_per_sample, replace=False)
        images.append(scene.images[idx])
        depth.append(scene.depth[idx])
        pose.append(pose_encoding(scene.world_to_cam[idx], scene.K[idx], scene.images.shape[-1]))
    return GeometryBatch(*(torch.from_numpy(np.stack(a)) for a in (images, depth, pose)))


# ----------------------------------------------------------------------------- model and losses
def build_vggt(cfg: VGGTConfig) -> VGGT:
    if cfg.camera_head is None or cfg.depth_head is None:
        raise ValueError("geometry pretraining needs a VGGT config with camera_head and depth_head")
    return VGGT(cfg.model_copy(update={"point_head": None}))


@dataclass(frozen=True)
class Predictions:
    poses: list[Tensor]  # [B, S, 9] per refinement iteration
    depth: Tensor  # [B, S, d, d], pooled to the supervised size


def encoder_input(images: Tensor, side: int) -> Tensor:
    """uint8 [B, S, 3, s, s] -> float [B, S, 3, side, side] in [0, 1] (squashed when s != side)."""
    x = images.float() / 255
    if x.shape[-1] == side and x.shape[-2] == side:
        return x
    B, S = x.shape[:2]
    resized = F.interpolate(x.flatten(0, 1), size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return resized.reshape(B, S, 3, side, side)


def predict(model: VGGT, images: Tensor, depth_size: int) -> Predictions:
    last = model.cfg.depth - 1
    x = encoder_input(images, model.cfg.img_size)
    layers = model.aggregator(x, keep_layers={last, *model.depth_head.layers})
    poses = model.camera_head(layers[last])
    depth, _ = model.depth_head(layers, model.aggregator.patch_start_idx, tuple(x.shape[-2:]))
    B, S, H, W, _ = depth.shape
    pooled = F.adaptive_avg_pool2d(depth.float().reshape(B * S, 1, H, W), depth_size)
    return Predictions([p.float() for p in poses], pooled.reshape(B, S, depth_size, depth_size))


def depth_loss(pred: Tensor, gt: Tensor, grad_weight: float) -> Tensor:
    """L1 over measured pixels + ``grad_weight`` x L1 of the error's x/y differences (both pixels measured)."""
    valid = gt > 0
    err = torch.where(valid, pred - gt, torch.zeros_like(pred))
    l1 = err.abs().sum() / valid.sum().clamp(min=1)
    grads = []
    for dim in (-1, -2):
        both = valid.narrow(dim, 1, valid.shape[dim] - 1) & valid.narrow(dim, 0, valid.shape[dim] - 1)
        diff = (err.narrow(dim, 1, err.shape[dim] - 1) - err.narrow(dim, 0, err.shape[dim] - 1)).abs()
        grads.append((diff * both).sum() / both.sum().clamp(min=1))
    return l1 + grad_weight * sum(grads)


def camera_loss(poses: list[Tensor], gt: Tensor, gamma: float) -> Tensor:
    """L1 of translation, quaternion and fields of view at every iteration, later iterations weighted more."""
    n = len(poses)
    return sum(gamma ** (n - 1 - i) * (p - gt).abs().mean() for i, p in enumerate(poses))


def losses(model: VGGT, batch: GeometryBatch, cfg: GeometryPretrainParams) -> dict[str, Tensor]:
    pred = predict(model, batch.images, batch.depth.shape[-1])
    out = {"depth": depth_loss(pred.depth, batch.depth, cfg.depth_grad_weight),
           "camera": camera_loss(pred.poses, batch.pose, cfg.camera_gamma)}
    out["loss"] = out["depth"] + cfg.camera_weight * out["camera"]
    return out


# ----------------------------------------------------------------------------- held-out errors
def rotation_error_deg(q_pred: Tensor, q_gt: Tensor) -> Tensor:
    """Geodesic angle between rotations given as quaternions [..., 4] (either sign)."""
    dot = (F.normalize(q_pred, dim=-1) * F.normalize(q_gt, dim=-1)).sum(-1).abs().clamp(max=1.0)
    return torch.rad2deg(2 * torch.acos(dot))


@torch.no_grad()
def evaluate_geometry(model: VGGT, scenes: list[SceneViews], cfg: GeometryPretrainParams,
                      device: torch.device) -> dict[str, float]:
    """Depth AbsRel and the relative-pose errors of frames 1.. on ``eval_samples`` fixed samples."""
    model.eval()
    rng = np.random.default_rng(cfg.seed + 1)
    absrel, rot, trans, n_pix, n_frames = 0.0, 0.0, 0.0, 0, 0
    for _ in range(math.ceil(cfg.eval_samples / cfg.batch_size)):
        batch = sample_batch(scenes, cfg, rng).to(device)
        with autocast(device, cfg.bf16):
            pred = predict(model, batch.images, batch.depth.shape[-1])
        valid = batch.depth > 0
        absrel += float(((pred.depth - batch.depth).abs() / batch.depth.clamp(min=1e-6))[valid].sum())
        n_pix += int(valid.sum())
        pose, gt = pred.poses[-1][:, 1:], batch.pose[:, 1:]
        rot += float(rotation_error_deg(pose[..., 3:7], gt[..., 3:7]).sum())
        trans += float((pose[..., :3] - gt[..., :3]).norm(dim=-1).sum())
        n_frames += gt.shape[0] * gt.shape[1]
    model.train()
    return {"depth_absrel": absrel / n_pix, "rotation_error_deg": rot / n_frames,
            "translation_error_m": trans / n_frames}


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class GeometryStep:
    step: int
    loss: float
    depth_loss: float
    camera_loss: float
    lr: float
    samples_per_s: float


@dataclass(frozen=True)
class PretrainResult:
    weights: Path
    history: list[GeometryStep]
    before: dict[str, float]  # held-out errors of the initial (random) encoder
    after: dict[str, float]
    train_scenes: list[str]
    heldout_scenes: list[str]
    seconds: float


def pretrain(vggt_cfg: VGGTConfig, cfg: GeometryPretrainParams, bundle: Path, out_dir: Path, device: torch.device,
             on_step: Callable[[GeometryStep], None] | None = None) -> PretrainResult:
    """Pretrain on the bundle's train scenes, evaluate on the others, write weights + metrics atomically."""
    began = time.perf_counter()
    train_scenes, heldout = load_views(bundle, "train"), load_views(bundle, None, exclude="train")
    torch.manual_seed(cfg.seed)
    model = build_vggt(vggt_cfg).to(device)
    before = evaluate_geometry(model, heldout, cfg, device)
    optimizer = build_optimizer(model, cfg)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(cfg.warmup_ratio * cfg.steps), cfg.steps)
    rng = np.random.default_rng(cfg.seed)
    history: list[GeometryStep] = []
    model.train()
    for step in range(1, cfg.steps + 1):
        t0 = time.perf_counter()
        batch = sample_batch(train_scenes, cfg, rng).to(device)
        with autocast(device, cfg.bf16):
            parts = losses(model, batch, cfg)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % cfg.log_every == 0 or step == cfg.steps:
            history.append(GeometryStep(step, parts["loss"].item(), parts["depth"].item(), parts["camera"].item(),
                                        lr, cfg.batch_size / (time.perf_counter() - t0)))
            if on_step:
                on_step(history[-1])
    after = evaluate_geometry(model, heldout, cfg, device)
    result = PretrainResult(out_dir / WEIGHTS, history, before, after, [s.scene_id for s in train_scenes],
                            [s.scene_id for s in heldout], time.perf_counter() - began)
    _save(model, result, out_dir)
    return result


def _save(model: VGGT, result: PretrainResult, out_dir: Path) -> None:
    with atomic_dir(out_dir) as tmp:
        state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS))
        (tmp / METRICS).write_text(json.dumps(result_json(result), indent=2))


def result_json(result: PretrainResult) -> dict[str, Any]:
    return {"weights": str(result.weights), "history": [asdict(h) for h in result.history],
            "heldout_before": result.before, "heldout_after": result.after, "train_scenes": result.train_scenes,
            "heldout_scenes": result.heldout_scenes, "seconds": round(result.seconds, 1)}


def pretrain_tracked(vggt_cfg: VGGTConfig, cfg: GeometryPretrainParams, bundle: Path, out_dir: Path,
                     tracking: TrackingConfig, run_name: str, device: torch.device,
                     on_step: Callable[[GeometryStep], None] | None = None) -> tuple[PretrainResult, str]:
    """``pretrain`` inside its own MLflow run (params, data version, step losses, held-out errors)."""
    run_params = {"geometry_pretrain": cfg.model_dump(mode="json"), "vggt": vggt_cfg.model_dump(mode="json")}
    with mlflow_run(tracking, run_name, run_params,
                    data_version_tags(bundle / QA)) as run:
        result = pretrain(vggt_cfg, cfg, bundle, out_dir, device, on_step)
        _log_to_mlflow(result)
    return result, run.info.run_id


def with_pretrained_geometry(cfg: RunConfig, weights: Path) -> RunConfig:
    """``cfg`` with ``geometry.weights`` set to ``weights`` when it fuses geometry, sets none and the file exists."""
    geometry = cfg.model.geometry
    if not geometry.enabled or geometry.weights is not None or not weights.is_file():
        return cfg
    model = cfg.model.model_copy(update={"geometry": geometry.model_copy(update={"weights": str(weights)})})
    return cfg.model_copy(update={"model": model})


def _log_to_mlflow(result: PretrainResult) -> None:
    """Step losses and the held-out errors (before/after) into the active MLflow run."""
    import mlflow

    for h in result.history:
        mlflow.log_metrics({k: v for k, v in asdict(h).items() if k != "step"}, step=h.step)
    mlflow.log_metrics({f"heldout_before.{k}": v for k, v in result.before.items()})
    mlflow.log_metrics({f"heldout.{k}": v for k, v in result.after.items()})
    mlflow.log_metric("seconds", result.seconds)
    mlflow.log_artifact(str(result.weights.parent / METRICS))
