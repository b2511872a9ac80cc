"""Geometry-encoder pretraining: pose targets, losses that go down on a tiny batch, weights the VLM loads."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model_fixtures import write_geometry_bundle

from mosaic_model.config import load_run_config
from mosaic_model.geometry_pretrain import (
    WEIGHTS,
    GeometryBatch,
    build_vggt,
    losses,
    pose_encoding,
    pretrain,
    quaternion_xyzw,
    rotation_error_deg,
    with_pretrained_geometry,
)
from mosaic_model.modeling import GeometryEncoder
from mosaic_pipeline.params import load_params

SIDE, DEPTH_SIDE, N_FRAMES = 28, 7, 6


def _cfg(**update):
    return load_params().geometry_pretrain.model_copy(update={
        "steps": 30, "batch_size": 2, "frames_per_sample": 2, "frame_window": 4, "eval_samples": 2,
        "log_every": 1, "bf16": False, "lr": 3e-3, "warmup_ratio": 0.0, **update})


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_quaternion_of_a_quarter_turn_about_z():
    q = quaternion_xyzw(_rot_z(math.pi / 2))
    np.testing.assert_allclose(q, [0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)], atol=1e-7)


def test_pose_encoding_is_relative_to_frame_zero():
    w2c = np.stack([np.eye(4), np.eye(4)])
    w2c[0, :3, 3] = [1.0, 2.0, 3.0]
    w2c[1, :3, :3] = _rot_z(0.3)
    K = np.tile(np.array([[20.0, 0, 14], [0, 10.0, 14], [0, 0, 1]]), (2, 1, 1))
    enc = pose_encoding(w2c, K, SIDE)
    np.testing.assert_allclose(enc[0, :7], [0, 0, 0, 0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(enc[:, 7], 2 * np.arctan(14 / 10.0), rtol=1e-6)  # fov_h from fy
    np.testing.assert_allclose(enc[:, 8], 2 * np.arctan(14 / 20.0), rtol=1e-6)  # fov_w from fx
    angle = rotation_error_deg(torch.from_numpy(enc[1, 3:7]), torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert float(angle) == pytest.approx(math.degrees(0.3), abs=1e-3)


def test_pretraining_reduces_the_depth_and_camera_loss_on_a_tiny_batch():
    torch.manual_seed(0)
    model = build_vggt(load_run_config("tiny").model.geometry.vggt)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 2, 3, SIDE, SIDE), dtype=torch.uint8, generator=g)
    ramp = torch.linspace(0.0, 1.0, DEPTH_SIDE)
    depth = (2.0 + ramp.view(1, 1, 1, -1) + 0.5 * torch.rand(2, 2, 1, 1, generator=g)).expand(
        2, 2, DEPTH_SIDE, DEPTH_SIDE).clone()  # a tilted plane per frame
    depth[0, 0, 0, 0] = 0.0  # an unmeasured pixel
    pose = torch.cat((torch.zeros(2, 2, 6), torch.ones(2, 2, 1), torch.full((2, 2, 2), 1.1)), dim=-1)
    batch, cfg = GeometryBatch(images, depth, pose), _cfg()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = {k: float(v) for k, v in losses(model, batch, cfg).items()}
    for _ in range(30):
        optimizer.zero_grad()
        losses(model, batch, cfg)["loss"].backward()
        optimizer.step()
    last = {k: float(v) for k, v in losses(model, batch, cfg).items()}
    assert last["depth"] < 0.5 * first["depth"]
    assert last["camera"] < first["camera"]


def test_pretrain_writes_weights_the_frozen_encoder_loads(tmp_path):
    write_geometry_bundle(tmp_path / "bundle", SIDE, DEPTH_SIDE, N_FRAMES)
    vggt = load_run_config("tiny").model.geometry.vggt
    result = pretrain(vggt, _cfg(steps=3), tmp_path / "bundle", tmp_path / "out", torch.device("cpu"))
    assert result.train_scenes == ["synth_0000"] and result.heldout_scenes == ["synth_0001"]
    assert [h.step for h in result.history] == [1, 2, 3]
    assert set(result.after) == {"depth_absrel", "rotation_error_deg", "translation_error_m"}
    cfg = with_pretrained_geometry(load_run_config("tiny"), tmp_path / "out" / WEIGHTS)
    assert cfg.model.geometry.weights == str(tmp_path / "out" / WEIGHTS)
    encoder = GeometryEncoder(cfg.model.geometry)  # strict load; the heads in the file are skipped
    assert not any(p.requires_grad for p in encoder.parameters())
