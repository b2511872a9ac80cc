"""VGGT (Visual Geometry Grounded Transformer), written here, every size a config value.

Parameter names and shapes follow the official ``facebookresearch/vggt`` state dict, so the
official ``model.pt`` loads with strict key matching (``load_vggt_weights``):

    aggregator.patch_embed.*        DINOv2 ViT with registers (ViT-L/14 in VGGT-1B)
    aggregator.camera_token         [1, 2, 1, C]  (index 0: first frame, index 1: all other frames)
    aggregator.register_token       [1, 2, R, C]
    aggregator.frame_blocks.{i}.*   attention within each frame   (qk-norm, LayerScale, 2D RoPE)
    aggregator.global_blocks.{i}.*  attention across all frames
    camera_head.*                   9-d pose encoding (translation, quaternion, two fields of view)
    depth_head.* / point_head.*     DPT heads over four aggregator layers

The aggregator's output per layer is [B, S, 1 + R + P, 2C]: frame- and global-attention outputs
concatenated; patch tokens start at index 1 + R.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from .config import CameraHeadConfig, DPTHeadConfig, VGGTConfig

_RESNET_MEAN = (0.485, 0.456, 0.406)  # the aggregator normalises [0, 1] images with these
_RESNET_STD = (0.229, 0.224, 0.225)
_DINO_NORM_EPS = 1e-6  # DINOv2 uses LayerNorm(eps=1e-6); VGGT's own blocks use the torch default
_POSE_ENCODING_DIM = 9  # absT_quaR_FoV: translation (3), quaternion (4), field of view (2)
_DEPTH_OUTPUT_DIM = 2  # depth + confidence
_POINT_OUTPUT_DIM = 4  # xyz + confidence
_DPT_POS_EMBED_RATIO = 0.1
_DPT_POS_EMBED_OMEGA = 100.0


# ----------------------------------------------------------------------------- building blocks
class LayerScale(nn.Module):
    def __init__(self, dim: int, init_values: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class RotaryPositionEmbedding2D(nn.Module):
    """2D RoPE: the first half of each head's features rotates with the row, the second with the column."""

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency

    def _rotate_1d(self, x: Tensor, positions: Tensor) -> Tensor:
        dim = x.shape[-1]
        inv_freq = 1.0 / (self.frequency ** (torch.arange(0, dim, 2, device=x.device).float() / dim))
        angles = positions.float()[..., None] * inv_freq  # [B, N, dim/2]
        angles = torch.cat((angles, angles), dim=-1)[:, None]  # [B, 1, N, dim]
        x1, x2 = x.chunk(2, dim=-1)
        rotated = torch.cat((-x2, x1), dim=-1)
        return x * angles.cos().to(x.dtype) + rotated * angles.sin().to(x.dtype)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        """x: [B, heads, N, head_dim]; positions: [B, N, 2] integer (row, column)."""
        rows, cols = x.chunk(2, dim=-1)
        return torch.cat((self._rotate_1d(rows, positions[..., 0]), self._rotate_1d(cols, positions[..., 1])), dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qk_norm: bool, rope: RotaryPositionEmbedding2D | None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.q_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
        self.rope = rope

    def forward(self, x: Tensor, pos: Tensor | None = None) -> Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if self.rope is not None:
            q, k = self.rope(q, pos), self.rope(k, pos)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale (DINOv2 / VGGT)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        init_values: float,
        qk_norm: bool = False,
        rope: RotaryPositionEmbedding2D | None = None,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qk_norm, rope)
        self.ls1 = LayerScale(dim, init_values)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim)
        self.ls2 = LayerScale(dim, init_values)

    def forward(self, x: Tensor, pos: Tensor | None = None) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), pos=pos))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT with register tokens; returns the final-normed patch tokens ("x_norm_patchtokens")."""

    def __init__(self, cfg: VGGTConfig) -> None:
        super().__init__()
        d, grid = cfg.embed_dim, cfg.img_size // cfg.patch_size
        self.patch_size = cfg.patch_size
        self.num_register_tokens = cfg.num_register_tokens
        self.patch_embed = PatchEmbed(cfg.patch_size, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, d))
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_register_tokens, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d), requires_grad=False)  # unused here; in the official names
        pe = cfg.patch_embed
        self.blocks = nn.ModuleList(
            Block(d, pe.num_heads, pe.mlp_ratio, pe.init_values, norm_eps=_DINO_NORM_EPS) for _ in range(pe.depth)
        )
        self.norm = nn.LayerNorm(d, eps=_DINO_NORM_EPS)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        nn.init.normal_(self.register_tokens, std=1e-6)

    def _pos_embed(self, h: int, w: int) -> Tensor:
        stored = self.pos_embed.shape[1] - 1
        if h * w == stored and h == w:
            return self.pos_embed
        side = int(math.sqrt(stored))
        patch = self.pos_embed[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
        patch = F.interpolate(patch, size=(h, w), mode="bicubic", antialias=True)
        patch = patch.permute(0, 2, 3, 1).reshape(1, h * w, -1)
        return torch.cat((self.pos_embed[:, :1].float(), patch), dim=1).to(self.pos_embed.dtype)

    def forward(self, images: Tensor) -> Tensor:
        n, _, H, W = images.shape
        x = self.patch_embed(images)
        x = torch.cat((self.cls_token.expand(n, -1, -1), x), dim=1)
        x = x + self._pos_embed(H // self.patch_size, W // self.patch_size)
        x = torch.cat((x[:, :1], self.register_tokens.expand(n, -1, -1), x[:, 1:]), dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 1 + self.num_register_tokens :]


def _first_and_rest(token: Tensor, B: int, S: int) -> Tensor:
    """[1, 2, n, C] -> [B*S, n, C]: index 0 for each sample's first frame, index 1 for the others."""
    first = token[:, :1].expand(B, 1, *token.shape[2:])
    rest = token[:, 1:].expand(B, S - 1, *token.shape[2:])
    return torch.cat((first, rest), dim=1).reshape(B * S, *token.shape[2:])


def _patch_positions(B: int, h: int, w: int, n_special: int, device: torch.device) -> Tensor:
    """(row, col) + 1 for each patch, 0 for the camera/register tokens: [B, n_special + h*w, 2]."""
    grid = torch.cartesian_prod(torch.arange(h, device=device), torch.arange(w, device=device)) + 1
    special = torch.zeros(n_special, 2, dtype=grid.dtype, device=device)
    return torch.cat((special, grid), dim=0).expand(B, -1, -1)


class Aggregator(nn.Module):
    """Alternating frame / global attention over the tokens of all frames of a sample."""

    def __init__(self, cfg: VGGTConfig) -> None:
        super().__init__()
        self.patch_size = cfg.patch_size
        self.patch_embed = DinoVisionTransformer(cfg)
        self.rope = RotaryPositionEmbedding2D(cfg.rope_freq)
        block = dict(dim=cfg.embed_dim, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio,
                     init_values=cfg.init_values, qk_norm=cfg.qk_norm, rope=self.rope)
        self.frame_blocks = nn.ModuleList(Block(**block) for _ in range(cfg.depth))
        self.global_blocks = nn.ModuleList(Block(**block) for _ in range(cfg.depth))
        self.camera_token = nn.Parameter(torch.randn(1, 2, 1, cfg.embed_dim) * 1e-6)
        self.register_token = nn.Parameter(torch.randn(1, 2, cfg.num_register_tokens, cfg.embed_dim) * 1e-6)
        self.patch_start_idx = 1 + cfg.num_register_tokens
        self.register_buffer("_mean", torch.tensor(_RESNET_MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(_RESNET_STD).view(1, 1, 3, 1, 1), persistent=False)

    def forward(self, images: Tensor, keep_layers: set[int]) -> dict[int, Tensor]:
        """images: [B, S, 3, H, W] in [0, 1] -> {layer: [B, S, P, 2C]} for the requested layers."""
        B, S, _, H, W = images.shape
        x = ((images - self._mean) / self._std).reshape(B * S, 3, H, W)
        patches = self.patch_embed(x)
        tokens = torch.cat(
            (_first_and_rest(self.camera_token, B, S), _first_and_rest(self.register_token, B, S), patches), dim=1
        )
        P, C = tokens.shape[1:]
        pos = _patch_positions(B * S, H // self.patch_size, W // self.patch_size, self.patch_start_idx, x.device)
        outputs: dict[int, Tensor] = {}
        for i, (frame_block, global_block) in enumerate(zip(self.frame_blocks, self.global_blocks)):
            tokens = frame_block(tokens.reshape(B * S, P, C), pos=pos)
            frame_out = tokens.reshape(B, S, P, C)
            tokens = global_block(tokens.reshape(B, S * P, C), pos=pos.reshape(B, S * P, 2))
            if i in keep_layers:
                outputs[i] = torch.cat((frame_out, tokens.reshape(B, S, P, C)), dim=-1)
            if i >= max(keep_layers):
                break
        return outputs


# ----------------------------------------------------------------------------- heads
def _activate_pose(enc: Tensor) -> Tensor:
    """Translation and quaternion linear, fields of view through ReLU (kept positive)."""
    return torch.cat((enc[..., :7], F.relu(enc[..., 7:])), dim=-1)


class CameraHead(nn.Module):
    """Iteratively refines a 9-d pose encoding from each frame's camera token (adaLN-modulated trunk)."""

    def __init__(self, dim_in: int, cfg: CameraHeadConfig) -> None:
        super().__init__()
        self.iterations = cfg.iterations
        self.trunk = nn.Sequential(
            *(Block(dim_in, cfg.num_heads, cfg.mlp_ratio, cfg.init_values) for _ in range(cfg.trunk_depth))
        )
        self.token_norm = nn.LayerNorm(dim_in)
        self.trunk_norm = nn.LayerNorm(dim_in)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, _POSE_ENCODING_DIM))
        self.embed_pose = nn.Linear(_POSE_ENCODING_DIM, dim_in)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim_in, 3 * dim_in))
        self.adaln_norm = nn.LayerNorm(dim_in, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim_in, dim_in // 2, _POSE_ENCODING_DIM)

    def forward(self, last_layer: Tensor) -> list[Tensor]:
        """last_layer: [B, S, P, 2C] -> pose encodings [B, S, 9], one per refinement iteration."""
        tokens = self.token_norm(last_layer[:, :, 0])
        B, S, _ = tokens.shape
        enc: Tensor | None = None
        encodings = []
        for _ in range(self.iterations):
            pose_in = self.empty_pose_tokens.expand(B, S, -1) if enc is None else enc.detach()
            shift, scale, gate = self.poseLN_modulation(self.embed_pose(pose_in)).chunk(3, dim=-1)
            modulated = gate * (self.adaln_norm(tokens) * (1 + scale) + shift) + tokens
            delta = self.pose_branch(self.trunk_norm(self.trunk(modulated)))
            enc = delta if enc is None else enc + delta
            encodings.append(_activate_pose(enc))
        return encodings


def _uv_embedding(channels: int, h: int, w: int, aspect: float, like: Tensor) -> Tensor:
    """Sin-cos embedding of a normalised (u, v) grid spanning the image diagonal: [channels, h, w]."""
    diag = math.sqrt(aspect**2 + 1.0)
    span_x, span_y = aspect / diag, 1.0 / diag
    u = torch.linspace(-span_x * (w - 1) / w, span_x * (w - 1) / w, w, device=like.device)
    v = torch.linspace(-span_y * (h - 1) / h, span_y * (h - 1) / h, h, device=like.device)
    uu, vv = torch.meshgrid(u, v, indexing="xy")  # [h, w]

    def sincos(dim: int, pos: Tensor) -> Tensor:
        exponent = torch.arange(dim // 2, dtype=torch.float64, device=like.device) / (dim / 2)
        omega = 1.0 / _DPT_POS_EMBED_OMEGA**exponent
        angles = pos.reshape(-1, 1).double() * omega
        return torch.cat((angles.sin(), angles.cos()), dim=1).float()

    emb = torch.cat((sincos(channels // 2, uu), sincos(channels // 2, vv)), dim=-1)
    return emb.reshape(h, w, channels).permute(2, 0, 1).to(like.dtype)


class ResidualConvUnit(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        # The official unit applies an in-place ReLU to its input, so the skip adds relu(x).
        x = F.relu(x)
        return self.conv2(F.relu(self.conv1(x))) + x


class FeatureFusionBlock(nn.Module):
    def __init__(self, features: int, has_residual: bool) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features) if has_residual else None
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: Tensor, skip: Tensor | None = None, size: tuple[int, int] | None = None) -> Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        size = size or (x.shape[-2] * 2, x.shape[-1] * 2)
        return self.out_conv(F.interpolate(x, size=size, mode="bilinear", align_corners=True))


class DPTHead(nn.Module):
    """Dense prediction from four aggregator layers (DPT), with the official names under ``scratch``."""

    def __init__(self, dim_in: int, patch_size: int, cfg: DPTHeadConfig, output_dim: int, activation: str) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.layers = cfg.intermediate_layers
        self.activation = activation
        oc, f = cfg.out_channels, cfg.features
        self.norm = nn.LayerNorm(dim_in)
        self.projects = nn.ModuleList(nn.Conv2d(dim_in, c, 1) for c in oc)
        self.resize_layers = nn.ModuleList([  # the four levels at 4x, 2x, 1x and 1/2x the patch grid
            nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4),
            nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2),
            nn.Identity(),
            nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
        ])
        self.scratch = nn.Module()
        for i, c in enumerate(oc, start=1):
            setattr(self.scratch, f"layer{i}_rn", nn.Conv2d(c, f, 3, padding=1, bias=False))
        for i in range(1, 5):
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlock(f, has_residual=i != 4))
        self.scratch.output_conv1 = nn.Conv2d(f, f // 2, 3, padding=1)
        self.scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(f // 2, cfg.head_features, 3, padding=1), nn.ReLU(), nn.Conv2d(cfg.head_features, output_dim, 1)
        )

    def forward(self, layers: dict[int, Tensor], patch_start_idx: int, image_hw: tuple[int, int]
                ) -> tuple[Tensor, Tensor]:
        """-> (prediction [B, S, H, W, output_dim-1], confidence [B, S, H, W])."""
        H, W = image_hw
        h, w = H // self.patch_size, W // self.patch_size
        B, S = layers[self.layers[0]].shape[:2]
        feats = []
        for project, resize, layer in zip(self.projects, self.resize_layers, self.layers):
            x = self.norm(layers[layer][:, :, patch_start_idx:].reshape(B * S, h * w, -1))
            x = project(x.permute(0, 2, 1).reshape(B * S, -1, h, w))
            feats.append(resize(x + _DPT_POS_EMBED_RATIO * _uv_embedding(x.shape[1], h, w, W / H, x)))
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f"layer{i}_rn")(f) for i, f in enumerate(feats, start=1))
        out = s.refinenet4(l4, size=l3.shape[2:])
        out = s.refinenet3(out, l3, size=l2.shape[2:])
        out = s.refinenet2(out, l2, size=l1.shape[2:])
        out = s.output_conv1(s.refinenet1(out, l1))
        out = F.interpolate(out, size=(h * self.patch_size, w * self.patch_size), mode="bilinear", align_corners=True)
        out = s.output_conv2(out + _DPT_POS_EMBED_RATIO * _uv_embedding(out.shape[1], *out.shape[2:], W / H, out))
        fmap = out.permute(0, 2, 3, 1).reshape(B, S, *out.shape[2:], -1)
        value, conf = fmap[..., :-1], fmap[..., -1]
        value = torch.exp(value) if self.activation == "exp" else torch.sign(value) * torch.expm1(value.abs())
        return value, 1 + conf.exp()


# ----------------------------------------------------------------------------- the model
class VGGT(nn.Module):
    def __init__(self, cfg: VGGTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim_in = 2 * cfg.embed_dim
        self.aggregator = Aggregator(cfg)
        self.camera_head = CameraHead(dim_in, cfg.camera_head) if cfg.camera_head else None
        self.depth_head = (
            DPTHead(dim_in, cfg.patch_size, cfg.depth_head, _DEPTH_OUTPUT_DIM, "exp") if cfg.depth_head else None
        )
        self.point_head = (
            DPTHead(dim_in, cfg.patch_size, cfg.point_head, _POINT_OUTPUT_DIM, "inv_log") if cfg.point_head else None
        )

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images [B, S, 3, H, W] in [0, 1] -> the predictions of the heads this config builds."""
        last = self.cfg.depth - 1
        dense = [h for h in (self.depth_head, self.point_head) if h is not None]
        layers = self.aggregator(images, keep_layers={last, *(i for h in dense for i in h.layers)})
        out: dict[str, Tensor] = {}
        if self.camera_head is not None:
            out["pose_enc"] = self.camera_head(layers[last])[-1]
        hw = tuple(images.shape[-2:])
        if self.depth_head is not None:
            out["depth"], out["depth_conf"] = self.depth_head(layers, self.aggregator.patch_start_idx, hw)
        if self.point_head is not None:
            out["world_points"], out["world_points_conf"] = self.point_head(layers, self.aggregator.patch_start_idx, hw)
        return out


OFFICIAL_HEAD_PREFIXES = ("camera_head.", "depth_head.", "point_head.", "track_head.")


class VGGTWeightsError(ValueError):
    """A VGGT checkpoint does not match the architecture the config builds."""


def load_vggt_weights(model: VGGT, path: Path) -> list[str]:
    """Load an official ``model.pt`` (or our safetensors) strictly; return the head prefixes skipped.

    Every tensor the model builds must be in the file with the same shape, and the file may hold
    nothing else except whole heads this config does not build (the tracking head is never built).
    """
    if not path.is_file():
        raise FileNotFoundError(f"VGGT weights not found: {path}")
    if path.suffix == ".safetensors":
        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    expected = model.state_dict()
    unbuilt = [p for p in OFFICIAL_HEAD_PREFIXES if p not in _built_prefixes(model)]
    skipped = sorted({p for p in unbuilt if any(k.startswith(p) for k in state)})
    state = {k: v for k, v in state.items() if not k.startswith(tuple(skipped))}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise VGGTWeightsError(
            f"{path}: does not match the configured VGGT; missing {missing[:10]} ({len(missing)}), "
            f"unexpected {unexpected[:10]} ({len(unexpected)}), wrong shape {wrong[:10]} ({len(wrong)})"
        )
    model.load_state_dict(state, strict=True)
    return skipped


def _built_prefixes(model: VGGT) -> set[str]:
    return {f"{name}." for name in ("camera_head", "depth_head", "point_head") if getattr(model, name) is not None}
