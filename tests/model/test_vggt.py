"""VGGT: official state-dict compatibility (names + shapes of VGGT-1B), weight loading, RoPE, heads."""
from __future__ import annotations

import math

import pytest
import torch

from mosaic_model.config import load_run_config
from mosaic_model.vggt import VGGT, RotaryPositionEmbedding2D, VGGTWeightsError, _first_and_rest, load_vggt_weights


def _block(shapes: dict, prefix: str, dim: int, heads: int, qk_norm: bool) -> None:
    """One transformer block as the official checkpoint stores it (MLP ratio 4, LayerScale)."""
    shapes.update({
        f"{prefix}.norm1.weight": (dim,), f"{prefix}.norm1.bias": (dim,),
        f"{prefix}.attn.qkv.weight": (3 * dim, dim), f"{prefix}.attn.qkv.bias": (3 * dim,),
        f"{prefix}.attn.proj.weight": (dim, dim), f"{prefix}.attn.proj.bias": (dim,),
        f"{prefix}.ls1.gamma": (dim,), f"{prefix}.ls2.gamma": (dim,),
        f"{prefix}.norm2.weight": (dim,), f"{prefix}.norm2.bias": (dim,),
        f"{prefix}.mlp.fc1.weight": (4 * dim, dim), f"{prefix}.mlp.fc1.bias": (4 * dim,),
        f"{prefix}.mlp.fc2.weight": (dim, 4 * dim), f"{prefix}.mlp.fc2.bias": (dim,),
    })
    if qk_norm:
        for n in ("q_norm", "k_norm"):
            shapes[f"{prefix}.attn.{n}.weight"] = shapes[f"{prefix}.attn.{n}.bias"] = (dim // heads,)


def _dpt(shapes: dict, prefix: str, dim_in: int, out_dim: int) -> None:
    oc, f = (256, 512, 1024, 1024), 256
    shapes[f"{prefix}.norm.weight"] = shapes[f"{prefix}.norm.bias"] = (dim_in,)
    for i, c in enumerate(oc):
        shapes[f"{prefix}.projects.{i}.weight"], shapes[f"{prefix}.projects.{i}.bias"] = (c, dim_in, 1, 1), (c,)
        shapes[f"{prefix}.scratch.layer{i + 1}_rn.weight"] = (f, c, 3, 3)
    for i, k in ((0, 4), (1, 2), (3, 3)):
        shapes[f"{prefix}.resize_layers.{i}.weight"] = (oc[i], oc[i], k, k)
        shapes[f"{prefix}.resize_layers.{i}.bias"] = (oc[i],)
    for r in range(1, 5):
        p = f"{prefix}.scratch.refinenet{r}"
        shapes[f"{p}.out_conv.weight"], shapes[f"{p}.out_conv.bias"] = (f, f, 1, 1), (f,)
        for unit in ("resConfUnit1", "resConfUnit2") if r != 4 else ("resConfUnit2",):
            for conv in ("conv1", "conv2"):
                shapes[f"{p}.{unit}.{conv}.weight"], shapes[f"{p}.{unit}.{conv}.bias"] = (f, f, 3, 3), (f,)
    for name, weight in (("output_conv1", (f // 2, f, 3, 3)), ("output_conv2.0", (32, f // 2, 3, 3)),
                         ("output_conv2.2", (out_dim, 32, 1, 1))):
        shapes[f"{prefix}.scratch.{name}.weight"], shapes[f"{prefix}.scratch.{name}.bias"] = weight, weight[:1]


def official_vggt_1b_shapes() -> dict[str, tuple[int, ...]]:
    """The official VGGT-1B state dict (no tracking head), from docs/model.md's architecture facts."""
    C, patch, grid, regs, depth, heads = 1024, 14, 518 // 14, 4, 24, 16
    D = 2 * C
    s: dict[str, tuple[int, ...]] = {
        "aggregator.camera_token": (1, 2, 1, C), "aggregator.register_token": (1, 2, regs, C),
        "aggregator.patch_embed.cls_token": (1, 1, C), "aggregator.patch_embed.pos_embed": (1, grid * grid + 1, C),
        "aggregator.patch_embed.register_tokens": (1, regs, C), "aggregator.patch_embed.mask_token": (1, C),
        "aggregator.patch_embed.patch_embed.proj.weight": (C, 3, patch, patch),
        "aggregator.patch_embed.patch_embed.proj.bias": (C,),
        "aggregator.patch_embed.norm.weight": (C,), "aggregator.patch_embed.norm.bias": (C,),
    }
    for i in range(depth):
        _block(s, f"aggregator.patch_embed.blocks.{i}", C, heads, qk_norm=False)
        _block(s, f"aggregator.frame_blocks.{i}", C, heads, qk_norm=True)
        _block(s, f"aggregator.global_blocks.{i}", C, heads, qk_norm=True)
    for i in range(4):
        _block(s, f"camera_head.trunk.{i}", D, heads, qk_norm=False)
    s.update({
        "camera_head.token_norm.weight": (D,), "camera_head.token_norm.bias": (D,),
        "camera_head.trunk_norm.weight": (D,), "camera_head.trunk_norm.bias": (D,),
        "camera_head.empty_pose_tokens": (1, 1, 9),
        "camera_head.embed_pose.weight": (D, 9), "camera_head.embed_pose.bias": (D,),
        "camera_head.poseLN_modulation.1.weight": (3 * D, D), "camera_head.poseLN_modulation.1.bias": (3 * D,),
        "camera_head.pose_branch.fc1.weight": (D // 2, D), "camera_head.pose_branch.fc1.bias": (D // 2,),
        "camera_head.pose_branch.fc2.weight": (9, D // 2), "camera_head.pose_branch.fc2.bias": (9,),
    })
    _dpt(s, "depth_head", D, 2)
    _dpt(s, "point_head", D, 4)
    return s


def test_paper_vggt_matches_the_official_state_dict_names_and_shapes():
    expected = official_vggt_1b_shapes()
    assert 1.15e9 < sum(math.prod(v) for v in expected.values()) < 1.25e9  # "about 1.2 B parameters"
    with torch.device("meta"):
        model = VGGT(load_run_config("paper").model.geometry.vggt)
        official = {k: torch.empty(v) for k, v in expected.items()}
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(set(ours) - set(expected)) == [] and sorted(set(expected) - set(ours)) == []
    assert ours == expected
    model.load_state_dict(official, strict=True, assign=True)


def _tiny_vggt() -> VGGT:
    torch.manual_seed(0)
    return VGGT(load_run_config("tiny").model.geometry.vggt).eval()


def test_official_checkpoint_loads_strictly_and_skips_only_unbuilt_heads(tmp_path):
    source = _tiny_vggt()
    state = {k: torch.randn_like(v) for k, v in source.state_dict().items()}
    state["track_head.tracker.fmap_norm.weight"] = torch.ones(4)  # official files carry the tracking head
    torch.save(state, tmp_path / "model.pt")
    target = _tiny_vggt()
    assert load_vggt_weights(target, tmp_path / "model.pt") == ["track_head."]
    assert all(torch.equal(v, state[k]) for k, v in target.state_dict().items())

    cfg = load_run_config("tiny").model.geometry.vggt
    aggregator_only = VGGT(cfg.model_copy(update={"camera_head": None, "depth_head": None}))
    assert load_vggt_weights(aggregator_only, tmp_path / "model.pt") == ["camera_head.", "depth_head.", "track_head."]

    del state["aggregator.frame_blocks.0.attn.q_norm.weight"]
    state["aggregator.global_blocks.1.ls1.gamma"] = torch.ones(7)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(VGGTWeightsError, match=r"q_norm\.weight.*ls1\.gamma"):
        load_vggt_weights(target, tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_vggt_weights(target, tmp_path / "nowhere.pt")


def test_rope_rotates_by_position_and_keeps_relative_phase():
    rope = RotaryPositionEmbedding2D(frequency=100.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def at(x: torch.Tensor, row: int, col: int) -> torch.Tensor:
        return rope(x, torch.tensor([[[row, col]]]))

    assert torch.allclose(at(q, 0, 0), q)  # special tokens sit at position 0: no rotation
    assert torch.allclose(at(q, 3, 5).norm(), q.norm())
    # a rotation: q.k depends only on the position difference
    assert torch.allclose((at(q, 2, 7) * at(k, 1, 4)).sum(), (at(q, 5, 3) * at(k, 4, 0)).sum(), atol=1e-5)
    # hand computation of the first pair: row features (0, 2) rotate by angle row * 100^0 = row
    x = torch.tensor([[[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]]])
    out = rope(x, torch.tensor([[[1, 0]]]))
    assert torch.allclose(out[0, 0, 0, :4], torch.tensor([math.cos(1.0), 0.0, math.sin(1.0), 0.0]), atol=1e-6)


def test_first_frame_gets_token_0_and_the_other_frames_token_1():
    token = torch.tensor([[[[1.0]], [[2.0]]]])  # [1, 2, 1, 1]
    assert _first_and_rest(token, B=2, S=3).flatten().tolist() == [1.0, 2.0, 2.0, 1.0, 2.0, 2.0]


def test_tiny_vggt_heads_output_shapes_and_ranges():
    out = _tiny_vggt()(torch.rand(2, 3, 3, 28, 28))
    assert out["pose_enc"].shape == (2, 3, 9)
    assert (out["pose_enc"][..., 7:] >= 0).all()  # fields of view through ReLU
    assert out["depth"].shape == (2, 3, 28, 28, 1) and (out["depth"] > 0).all()
    assert out["depth_conf"].shape == (2, 3, 28, 28) and (out["depth_conf"] > 1).all()
