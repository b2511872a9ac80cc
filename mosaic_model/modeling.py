"""SpatialMosaicVLM: a LLaVA-style VLM whose visual tokens attend to a frozen geometry encoder.

Per QA sample of S frames:

    frames --open_clip ViT (penultimate block)--> visual tokens   [S, Tv, Dv]
    frames --VGGT aggregator (frozen, all S frames jointly)--> geometry tokens [S, Tg, 2C]
    per frame: visual = visual + Dropout(LayerNorm(MHA(LN+Linear(visual), LN+Linear(geometry))))
    --2-layer GELU projector--> [S, Tv, D_lm] --(optional 2D average pooling)--> image tokens
    LM input: template text before <image>, the image tokens of all frames, the prompt, the answer

The language model is a transformers causal LM (Qwen2 built from a config, or any local
AutoModelForCausalLM directory), optionally wrapped with peft LoRA. The geometry branch can be
switched off (the no-geometry ablation): no encoder, no fusion, same everything else.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from torch import Tensor, nn
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase, Qwen2Config, Qwen2ForCausalLM
from transformers.modeling_outputs import CausalLMOutputWithPast

from .config import (
    FusionConfig,
    GeometryConfig,
    LMConfig,
    LoRAConfig,
    ModelConfig,
    VisionConfig,
    require_local_weights,
    resolve,
)
from .data import Batch
from .vggt import VGGT, load_vggt_weights

IGNORE_INDEX = -100  # label of every position that is not an answer token


# ----------------------------------------------------------------------------- visual encoder
def _open_clip_visual(cfg: VisionConfig) -> nn.Module:
    """The vision tower of an open_clip model (a custom architecture is registered under its name)."""
    if cfg.open_clip_config is not None and open_clip.get_model_config(cfg.open_clip_model) != cfg.open_clip_config:
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / f"{cfg.open_clip_model}.json").write_text(json.dumps(cfg.open_clip_config))
            open_clip.add_model_config(d)
    weights = str(resolve(cfg.weights)) if cfg.weights else None
    model = open_clip.create_model(cfg.open_clip_model, pretrained=weights, require_pretrained=weights is not None)
    return model.visual


def prune_unread(visual: nn.Module, layer: int) -> None:
    """Drop what the tokens of block ``layer`` never pass through: later blocks, the final norm and the head.

    Every trainable parameter then gets a gradient, which DistributedDataParallel requires (without a search
    for unused parameters on every step).
    """
    timm_trunk = getattr(visual, "trunk", None)
    if timm_trunk is None:
        visual.prune_intermediate_layers([layer], prune_norm=True, prune_head=True)
    else:
        timm_trunk.prune_intermediate_layers([layer], prune_norm=True, prune_head=True)
        visual.head = nn.Identity()


class VisionEncoder(nn.Module):
    """open_clip ViT returning the patch tokens of block ``select_layer`` (-2: the penultimate)."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.visual = _open_clip_visual(cfg)
        timm_trunk = getattr(self.visual, "trunk", None)  # open_clip's timm-backed towers (SigLIP)
        blocks = timm_trunk.blocks if timm_trunk is not None else self.visual.transformer.resblocks
        self.width = timm_trunk.num_features if timm_trunk is not None else self.visual.transformer.width
        self.layer = len(blocks) + cfg.select_layer if cfg.select_layer < 0 else cfg.select_layer
        prune_unread(self.visual, self.layer)
        pre = self.visual.preprocess_cfg
        self.image_size = int(pre["size"][0] if isinstance(pre["size"], (tuple, list)) else pre["size"])
        self.register_buffer("mean", torch.tensor(pre["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(pre["std"]).view(1, 3, 1, 1), persistent=False)
        self.frozen = cfg.freeze
        self.visual.requires_grad_(not cfg.freeze)

    def forward(self, frames: Tensor) -> Tensor:
        """uint8 [N, 3, H, W] -> [N, T, width]."""
        x = (frames.float() / 255 - self.mean) / self.std
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            out = self.visual.forward_intermediates(
                x, indices=[self.layer], stop_early=True, intermediates_only=True, output_fmt="NLC"
            )
        return out["image_intermediates"][0]


# ----------------------------------------------------------------------------- geometry encoder
class GeometryEncoder(nn.Module):
    """The VGGT aggregator, frozen; last-layer camera + patch tokens (registers dropped) per frame."""

    def __init__(self, cfg: GeometryConfig) -> None:
        super().__init__()
        self.vggt = VGGT(cfg.vggt.model_copy(update={"camera_head": None, "depth_head": None, "point_head": None}))
        if cfg.weights:
            load_vggt_weights(self.vggt, resolve(cfg.weights))
        self.vggt.requires_grad_(False)
        self.image_size = cfg.vggt.img_size
        self.width = 2 * cfg.vggt.embed_dim
        self.with_camera_token = cfg.tokens == "camera_and_patch"

    @torch.no_grad()
    def forward(self, frames: Tensor) -> Tensor:
        """uint8 [B, S, 3, H, W], B samples of S frames each (a sample's frames attend jointly) -> [B, S, Tg, 2C]."""
        last = self.vggt.cfg.depth - 1
        tokens = self.vggt.aggregator(frames.float() / 255, keep_layers={last})[last]
        patches = tokens[:, :, self.vggt.aggregator.patch_start_idx:]
        return torch.cat((tokens[:, :, :1], patches), dim=2) if self.with_camera_token else patches

    def encode(self, frames: Tensor, counts: list[int]) -> Tensor:
        """[N, 3, H, W] frames of samples with ``counts`` frames each -> [N, Tg, 2C], in order.

        Samples with the same number of frames run as one batch (one aggregator call per count).
        """
        per_sample = frames.split(counts)
        encoded: dict[int, Tensor] = {}
        for count in set(counts):
            index = [i for i, c in enumerate(counts) if c == count]
            encoded.update(zip(index, self(torch.stack([per_sample[i] for i in index]))))
        return torch.cat([encoded[i] for i in range(len(counts))])


# ----------------------------------------------------------------------------- fusion and projector
class CrossAttentionFusion(nn.Module):
    """Per frame: visual tokens (queries) attend to that frame's geometry tokens (keys/values)."""

    def __init__(self, visual_dim: int, geometry_dim: int, cfg: FusionConfig) -> None:
        super().__init__()
        self.query_proj = nn.Sequential(nn.LayerNorm(visual_dim), nn.Linear(visual_dim, visual_dim))
        self.key_value_proj = nn.Sequential(nn.LayerNorm(geometry_dim), nn.Linear(geometry_dim, visual_dim))
        self.attn = nn.MultiheadAttention(visual_dim, cfg.num_heads, batch_first=True)  # heads + output projection
        self.norm = nn.LayerNorm(visual_dim)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, visual: Tensor, geometry: Tensor) -> Tensor:
        """visual [N, Tv, Dv], geometry [N, Tg, Dg] (N frames) -> [N, Tv, Dv]."""
        kv = self.key_value_proj(geometry)
        fused, _ = self.attn(self.query_proj(visual), kv, kv, need_weights=False)
        return visual + self.dropout(self.norm(fused))


def pool_frames(tokens: Tensor, stride: int) -> Tensor:
    """2D average pooling of each frame's square token grid: [N, g*g, D] -> [N, (g/stride)^2, D]."""
    if stride == 1:
        return tokens
    n, t, d = tokens.shape
    side = math.isqrt(t)
    if side * side != t:
        raise ValueError(f"frame pooling needs a square token grid, got {t} tokens")
    grid = tokens.transpose(1, 2).reshape(n, d, side, side)
    return F.avg_pool2d(grid, stride).flatten(2).transpose(1, 2)


# ----------------------------------------------------------------------------- language model
def build_language_model(cfg: LMConfig, lora: LoRAConfig, vocab_size: int) -> nn.Module:
    if cfg.pretrained_dir:
        lm = AutoModelForCausalLM.from_pretrained(
            str(resolve(cfg.pretrained_dir)), dtype=getattr(torch, cfg.dtype), local_files_only=True
        )
    else:
        lm = Qwen2ForCausalLM(Qwen2Config(vocab_size=vocab_size, **cfg.qwen2))
    if lora.enabled:
        lm = get_peft_model(lm, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                           target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))
    return lm


# ----------------------------------------------------------------------------- the VLM
class SpatialMosaicVLM(nn.Module):
    def __init__(self, cfg: ModelConfig, tokenizer: PreTrainedTokenizerBase) -> None:
        super().__init__()
        require_local_weights(cfg)
        self.cfg = cfg
        self.pad_id, self.eos_id = tokenizer.pad_token_id, tokenizer.eos_token_id
        self.vision = VisionEncoder(cfg.vision)
        self.geometry = GeometryEncoder(cfg.geometry) if cfg.geometry.enabled else None
        self.fusion = (CrossAttentionFusion(self.vision.width, self.geometry.width, cfg.fusion)
                       if self.geometry is not None else None)
        self.lm = build_language_model(cfg.lm, cfg.lora, len(tokenizer))
        hidden = self.lm.config.hidden_size
        self.projector = nn.Sequential(nn.Linear(self.vision.width, hidden), nn.GELU(), nn.Linear(hidden, hidden))

    @property
    def image_sizes(self) -> tuple[int, ...]:
        """Every frame size the encoders read (the frame cache holds each)."""
        return tuple(sorted({self.vision.image_size, *([self.geometry.image_size] if self.geometry else [])}))

    def train(self, mode: bool = True) -> SpatialMosaicVLM:
        super().train(mode)
        if self.geometry is not None:
            self.geometry.eval()
        if self.vision.frozen:
            self.vision.eval()
        return self

    def encode_frames(self, batch: Batch) -> list[Tensor]:
        """One [n_frames * tokens, D_lm] block of image tokens per QA."""
        visual = self.vision(batch.frames[self.vision.image_size])
        if self.geometry is not None:
            geometry = self.geometry.encode(batch.frames[self.geometry.image_size], batch.frame_counts)
            visual = self.fusion(visual, geometry.to(visual.dtype))
        tokens = pool_frames(self.projector(visual), self.cfg.frame_pool_stride)
        return [t.flatten(0, 1) for t in tokens.split(batch.frame_counts)]

    def _assemble(self, batch: Batch, images: list[Tensor], with_answers: bool) -> tuple[Tensor, Tensor, Tensor]:
        """Input embeddings, attention mask and labels; right-padded for training, left-padded to generate."""
        embed = self.lm.get_input_embeddings()
        seqs, labels = [], []
        for prefix, image, prompt, answer in zip(batch.prefix_ids, images, batch.prompt_ids, batch.answer_ids):
            parts = [embed(prefix), image.to(embed.weight.dtype), embed(prompt)]
            seq = torch.cat(parts + [embed(answer)] if with_answers else parts)
            label = torch.full((len(seq),), IGNORE_INDEX, dtype=torch.long, device=seq.device)
            if with_answers:
                label[len(seq) - len(answer):] = answer
            seqs.append(seq)
            labels.append(label)
        length = max(len(s) for s in seqs)
        B, D = len(seqs), seqs[0].shape[-1]
        embeds = seqs[0].new_zeros(B, length, D)
        mask = torch.zeros(B, length, dtype=torch.long, device=embeds.device)
        label_pad = torch.full((B, length), IGNORE_INDEX, dtype=torch.long, device=embeds.device)
        for i, (seq, label) in enumerate(zip(seqs, labels)):
            span = slice(length - len(seq), length) if not with_answers else slice(0, len(seq))
            embeds[i, span], mask[i, span], label_pad[i, span] = seq, 1, label
        return embeds, mask, label_pad

    def forward(self, batch: Batch) -> CausalLMOutputWithPast:
        """Teacher-forced pass; ``loss`` is the mean cross-entropy over answer tokens."""
        embeds, mask, labels = self._assemble(batch, self.encode_frames(batch), with_answers=True)
        return self.lm(inputs_embeds=embeds, attention_mask=mask, labels=labels)

    @torch.no_grad()
    def generate(self, batch: Batch, max_new_tokens: int) -> list[list[int]]:
        """Greedy decoding; the new tokens of each QA, up to (not including) eos."""
        embeds, mask, _ = self._assemble(batch, self.encode_frames(batch), with_answers=False)
        out = self.lm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens,
                               do_sample=False, num_beams=1, pad_token_id=self.pad_id, eos_token_id=self.eos_id)
        return [row[: row.index(self.eos_id)] if self.eos_id in row else row for row in out.tolist()]

    # ------------------------------------------------------------------------- checkpoint contents
    def external_prefixes(self) -> tuple[str, ...]:
        """Parts rebuilt from local pretrained files: their frozen tensors are not checkpointed."""
        prefixes = []
        if self.cfg.vision.weights and self.cfg.vision.freeze:
            prefixes.append("vision.")
        if self.geometry is not None and self.cfg.geometry.weights:
            prefixes.append("geometry.")
        if self.cfg.lm.pretrained_dir:
            prefixes.append("lm.")
        return tuple(prefixes)

    def checkpoint_state(self) -> dict[str, Tensor]:
        """Every trainable tensor, and every tensor of a part that has no pretrained source."""
        trainable = {name for name, p in self.named_parameters() if p.requires_grad}
        external = self.external_prefixes()
        return {k: v for k, v in self.state_dict().items() if k in trainable or not k.startswith(external)}
