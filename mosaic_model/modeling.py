"""SpatialMosaicVLM: a LLaVA-style VLM whose visual tokens attend to a frozen geometry encoder.

Per QA sample of S frames:

    frames --open_clip ViT (penultimate block)--> visual tokens   [S, Tv, Dv]
    frames --VGGT aggregator (frozen, all S frames jointly)--> geometry tokens [S, Tg, 2C]
    per frame: visual = visual + Dropout(LayerNorm(MHA(LN+Linear(visual), LN+Linear(geometry))))
    --2-layer GELU projector--> [S, Tv, D_lm] --(optional 2D average pooling)--> image tokens
    LM input: template text before <image>, the image tokens of all frames, the prompt, the answer
    (a prompt with one <image> per frame: each frame's image tokens at its marker, the text between markers
    between frames; docs/model.md)

The language model is a transformers causal LM (Qwen2 built from a config, or any local
AutoModelForCausalLM directory), optionally wrapped with peft LoRA. The geometry branch can be
switched off (the no-geometry ablation): no encoder, no fusion, same everything else.
"""
from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

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


class GeometryTokenCache:
    """The frozen geometry encoder's tokens of each frame set (a QA's frames, which it reads jointly), kept on
    the device for the run: computed at the first batch that holds the set (or all at once by ``warm``), then
    gathered instead of recomputed. Keyed by the frame files; the encoder is frozen and eval-mode, so a set's
    tokens never change within a run (up to float rounding of the batch they were computed in)."""

    def __init__(self, encoder: GeometryEncoder) -> None:
        self.encoder = encoder
        self.tokens: dict[tuple[str, ...], Tensor] = {}  # frame set -> [S, Tg, 2C]

    def __len__(self) -> int:
        return len(self.tokens)

    def _store(self, keys: list[tuple[str, ...]], frames: Tensor) -> None:
        counts = [len(k) for k in keys]
        self.tokens.update(zip(keys, self.encoder.encode(frames, counts).split(counts)))

    def lookup(self, frame_sets: list[tuple[str, ...]], frames: Tensor) -> Tensor:
        """[N, Tg, 2C] for the batch's frame sets in order; ``frames`` [N, 3, H, W] (read for unseen sets only)."""
        missing = [i for i, key in enumerate(frame_sets) if key not in self.tokens]
        if missing:
            per_set = frames.split([len(k) for k in frame_sets])
            unseen = list(dict.fromkeys(frame_sets[i] for i in missing))
            first = {key: i for i, key in reversed(list(enumerate(frame_sets)))}
            self._store(unseen, torch.cat([per_set[first[key]] for key in unseen]))
        return torch.cat([self.tokens[key] for key in frame_sets])

    @torch.no_grad()
    def warm(self, frame_sets: list[tuple[str, ...]], frames: Callable[[list[str]], Tensor], chunk: int) -> None:
        """Compute every unseen set of ``frame_sets``, ``chunk`` sets per encoder call (``frames``: paths -> uint8
        [n, 3, H, W] on the encoder's device, at its size)."""
        unseen = [key for key in dict.fromkeys(frame_sets) if key not in self.tokens]
        for start in range(0, len(unseen), chunk):
            keys = unseen[start:start + chunk]
            self._store(keys, frames([p for key in keys for p in key]))


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


def causal_only(config: object) -> dict[str, None]:
    """The precomputed-mask form transformers' decoders accept, saying "no mask, causal attention" for every kind
    of layer. Without it a decoder called with no mask and no cache checks its position ids for packed
    sequences, and that check reads a device value back to the host: a sync in every forward pass."""
    return dict.fromkeys(getattr(config, "layer_types", None) or ["full_attention"])


# ----------------------------------------------------------------------------- the VLM
def _spans(offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions offset, ..., offset + length - 1 of every (offset, length) pair, in order."""
    if lengths.sum() == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([o + np.arange(n) for o, n in zip(offsets, lengths)]).astype(np.int64)


# where each kind of piece sits in a sequence's pieces (``_pieces``)
PREFIX, IMAGES, GAPS, PROMPT, ANSWER = slice(0, 1), slice(1, -2, 2), slice(2, -2, 2), slice(-2, -1), slice(-1, None)


def _pieces(prefix: int, images: list[int], gaps: list[int], prompt: int, answer: int) -> np.ndarray:
    """The lengths of one sequence's pieces in order: prefix, image block 0, gap 0, ..., last image block, prompt,
    answer (one image block per marker)."""
    lengths = np.empty(2 * len(images) + 2, dtype=np.int64)
    lengths[PREFIX], lengths[PROMPT], lengths[ANSWER], lengths[IMAGES], lengths[GAPS] = (prefix, prompt, answer,
                                                                                      images, gaps)
    return lengths


@dataclass(frozen=True)
class SequenceLayout:
    """Where each token of a batch goes in the LM's [B, L] input, computed on the host from lengths alone.

    A sequence is [prefix][image block][gap][image block]...[image block][prompt][answer], one image block per
    image marker: with one marker all frames' tokens form one block; with one marker per frame, frame i's tokens
    sit at marker i and the text between markers (the gaps) between frames (docs/model.md).
    Text tokens are taken in the order of ``Batch.to``'s packing (every prefix, every prompt, every answer, then
    every gap), image tokens frame by frame; ``dest`` holds the flat position (row * L + column) of each.
    """

    length: int  # L
    dest: Tensor  # [text tokens + image tokens] flat positions: text first, then image tokens
    mask: Tensor  # [B, L] 1 where a token is
    answer_dest: Tensor  # flat positions of the answer tokens (sample order)

    @classmethod
    def of(cls, batch: Batch, frame_length: int, with_answers: bool) -> SequenceLayout:
        """The layout of ``batch`` whose frames have ``frame_length`` image tokens each."""
        rows = [_pieces(len(prefix), [frame_length] * count if gaps else [count * frame_length],
                        [len(g) for g in gaps], len(prompt), len(answer) if with_answers else 0)
                for prefix, prompt, answer, gaps, count in zip(
                    batch.prefix_ids, batch.prompt_ids, batch.answer_ids, batch.gaps(), batch.frame_counts)]
        total = np.array([r.sum() for r in rows])
        B, L = len(rows), int(total.max())
        # right padding to train (the causal LM never attends to the pad after a sequence), left to generate
        start = np.arange(B) * L + (0 if with_answers else L - total)
        at = [s + np.cumsum(r) - r for s, r in zip(start, rows)]  # each piece's first position

        def pieces(select: slice) -> np.ndarray:
            return _spans(np.concatenate([a[select] for a in at]), np.concatenate([r[select] for r in rows]))

        text = [pieces(PREFIX), pieces(PROMPT), pieces(ANSWER), pieces(GAPS)]  # Batch.to's packing order
        dest = np.concatenate([*text, pieces(IMAGES)])
        mask = np.zeros(B * L, dtype=np.int64)
        mask[_spans(start, total)] = 1
        return cls(L, torch.from_numpy(dest), torch.from_numpy(mask).view(B, L), torch.from_numpy(text[2]))


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
        self.geometry_cache: GeometryTokenCache | None = None  # set by use_geometry_cache (training)

    def use_geometry_cache(self) -> GeometryTokenCache:
        """From now on the frozen geometry tokens of a frame set are computed once and reused (a run's cache)."""
        if self.geometry is None:
            raise ValueError("the geometry cache needs the geometry branch (model.geometry.enabled)")
        if self.geometry_cache is None:
            self.geometry_cache = GeometryTokenCache(self.geometry)
        return self.geometry_cache

    def causal_lm(self) -> nn.Module:
        """The transformers causal LM (under peft's wrapper when LoRA is on; its layers carry the adapters)."""
        return self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm

    def compile_parts(self) -> None:
        """torch.compile (in place: parameter names unchanged) of the parts with static code: the vision tower,
        fusion, projector and the LM's decoder stack. Assembly, the frozen geometry encoder and the loss stay eager."""
        for part in (self.vision, self.fusion, self.projector, self.causal_lm().get_decoder()):
            if part is not None:
                part.compile()

    def enable_gradient_checkpointing(self) -> None:
        """The LM's decoder layers keep only their inputs and recompute the rest in backward."""
        lm, kwargs = self.causal_lm(), {"use_reentrant": False}
        if hasattr(lm, "activation_checkpointing_enable"):  # transformers >= 5.2x; the GPU image has an older 5.x
            lm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

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

    def _frame_tokens(self, batch: Batch) -> Tensor:
        """[n_frames, tokens per frame, D_lm]: the image tokens of every frame of the batch, in order."""
        visual = self.vision(batch.frames[self.vision.image_size])
        if self.geometry is not None:
            frames = batch.frames[self.geometry.image_size]
            if self.geometry_cache is not None and batch.frame_sets:
                geometry = self.geometry_cache.lookup(batch.frame_sets, frames)
            else:
                geometry = self.geometry.encode(frames, batch.frame_counts)
            visual = self.fusion(visual, geometry.to(visual.dtype))
        return pool_frames(self.projector(visual), self.cfg.frame_pool_stride)

    def encode_frames(self, batch: Batch) -> list[Tensor]:
        """One [n_frames * tokens, D_lm] block of image tokens per QA."""
        return [t.flatten(0, 1) for t in self._frame_tokens(batch).split(batch.frame_counts)]

    def _assemble(self, batch: Batch, frame_tokens: Tensor, with_answers: bool
                  ) -> tuple[Tensor, Tensor, SequenceLayout]:
        """Input embeddings [B, L, D] and attention mask (on the host); right-padded for training, left-padded
        to generate.

        Built in one embedding lookup and one scatter (positions computed on the host from lengths), not per QA.
        """
        embed = self.lm.get_input_embeddings()
        layout = SequenceLayout.of(batch, frame_tokens.shape[1], with_answers)
        device = frame_tokens.device
        gaps = (g for gs in batch.gap_ids for g in gs)
        text = [*batch.prefix_ids, *batch.prompt_ids, *(batch.answer_ids if with_answers else ()), *gaps]
        source = torch.cat((embed(torch.cat(text)), frame_tokens.flatten(0, 1).to(embed.weight.dtype)))
        B, L = layout.mask.shape
        embeds = source.new_zeros(B * L, source.shape[-1]).index_copy(0, layout.dest.to(device, non_blocking=True),
                                                                       source)
        return embeds.view(B, L, -1), layout.mask, layout

    def forward(self, batch: Batch, logits: Literal["all", "answers"] = "all") -> CausalLMOutputWithPast:
        """Teacher-forced pass; ``loss`` is the mean cross-entropy over answer tokens.

        ``logits="answers"`` (training) runs the LM head on the positions that predict an answer token only:
        the same loss without the [B, L, vocab] logits (``logits`` then holds those rows, [answer tokens, vocab]).
        No attention mask either way: sequences are right-padded, so under the causal mask no real token sees a pad.
        """
        embeds, _, layout = self._assemble(batch, self._frame_tokens(batch), with_answers=True)
        device = embeds.device
        answers = torch.cat(batch.answer_ids)
        answer_dest = layout.answer_dest.to(device, non_blocking=True)
        lm = self.causal_lm()
        hidden = lm.get_decoder()(inputs_embeds=embeds, attention_mask=causal_only(lm.config),
                                  use_cache=False).last_hidden_state
        if logits == "answers":
            out = lm.get_output_embeddings()(hidden.flatten(0, 1).index_select(0, answer_dest - 1)).float()
            return CausalLMOutputWithPast(loss=F.cross_entropy(out, answers), logits=out)
        full = lm.get_output_embeddings()(hidden).float()
        labels = torch.full((embeds.shape[0] * embeds.shape[1],), IGNORE_INDEX, dtype=torch.long, device=device)
        labels = labels.index_copy(0, answer_dest, answers).view(embeds.shape[:2])
        loss = F.cross_entropy(full[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE_INDEX)
        return CausalLMOutputWithPast(loss=loss, logits=full)

    @torch.no_grad()
    def generate(self, batch: Batch, max_new_tokens: int) -> list[list[int]]:
        """Greedy decoding; the new tokens of each QA, up to (not including) eos."""
        embeds, mask, _ = self._assemble(batch, self._frame_tokens(batch), with_answers=False)
        mask = mask.to(embeds.device)
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
