"""QA parquet -> prompts, token ids and cached frame tensors, batched for the model.

Prompts and targets are the official LLaVA training export's (``mosaic_pipeline.qa.export``), so the
model trains and is evaluated on exactly the released format; evaluation can also use the official
evaluation prompt, derived from it (``official_prompt``; docs/metrics.md, "Prompt forms"). Frames are
decoded from JPEG once per QA set and resized to every size the model reads (``FrameCache``); training
then only slices uint8 tensors, so the loader never starves the GPU. Images live at
``{image_root}/{data_source}/{scene_id}/images/{frame_id}.jpg``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from mosaic_pipeline.atomic import atomic_dir
from mosaic_pipeline.qa.export import IMAGE, image_path, llava_record
from mosaic_pipeline.qa.options import letter

from .metrics import ScoringRecord, answer_kind

QA_COLUMNS = ("qa_id", "data_source", "scene_id", "question_type", "question", "options", "answer",
              "correct_option_index", "source_frame_ids", "metadata", "split")
SLICE_COLUMNS = ("occ_level", "overlap_level", "vis_level", "gt_scenario")
PromptForm = Literal["training", "official"]


@dataclass(frozen=True)
class QAItem:
    """One QA with its prompt (the official LLaVA training export's, or the official evaluation form) and target."""

    id: str
    data_source: str
    scene_id: str
    frame_ids: tuple[str, ...]
    question_type: str
    prompt: str  # training: "<image>\nThese are frames of a video.\n\n{question}\n\nOptions: ..."
    target: str  # the option letter, or the free answer
    has_options: bool
    answer: str
    correct_option_index: int | None
    metadata: dict[str, Any]
    slices: dict[str, str]

    @property
    def kind(self) -> str:
        return answer_kind(self.question_type, self.has_options)


def read_qa(path: Path, split: str | None, prompt: PromptForm = "training") -> list[QAItem]:
    """The QA rows of ``split`` (all rows when None) in file order, their prompts in form ``prompt``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"QA dataset not found: {path}")
    df = pd.read_parquet(path)
    missing = [c for c in QA_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: QA dataset lacks columns {missing}")
    if split is not None:
        df = df[df["split"] == split]
        if df.empty:
            raise ValueError(f"{path}: no QA in split {split!r}")
    return [_item(q, prompt) for q in df.itertuples(index=False)]


def official_prompt(training_prompt: str, n_frames: int) -> str:
    """The official evaluation prompt (lmms-eval ``spatial_mosaic``) of a QA whose training prompt is given:
    one image marker per frame, each followed by a newline, and every blank line of the training form a
    single newline (docs/metrics.md, "Prompt forms")."""
    head = f"{IMAGE}\n"
    if not training_prompt.startswith(head):
        raise ValueError(f"a training prompt starts with {head!r}: {training_prompt[:60]!r}")
    return head * n_frames + training_prompt.removeprefix(head).replace("\n\n", "\n")


def _item(q: Any, prompt: PromptForm) -> QAItem:
    human, gpt = (turn["value"] for turn in llava_record(q)["conversations"])
    frame_ids = tuple(str(f) for f in q.source_frame_ids)
    index = q.correct_option_index
    return QAItem(
        id=str(q.qa_id), data_source=str(q.data_source), scene_id=str(q.scene_id), frame_ids=frame_ids,
        question_type=str(q.question_type),
        prompt=official_prompt(human, len(frame_ids)) if prompt == "official" else human, target=gpt,
        has_options=len(q.options) > 0, answer=str(q.answer),
        correct_option_index=None if index is None or pd.isna(index) else int(index),
        metadata=json.loads(q.metadata),
        slices={c: str(getattr(q, c)) for c in SLICE_COLUMNS if isinstance(getattr(q, c, None), str)},
    )


def scoring_record(item: QAItem) -> ScoringRecord:
    kind = item.kind
    if kind == "mc" and item.correct_option_index is None:
        raise ValueError(f"QA {item.id}: multiple-choice question without correct_option_index")
    if kind == "point" and "bbox_2d_diag" not in item.metadata:
        raise ValueError(f"QA {item.id}: point question without metadata field 'bbox_2d_diag'")
    return ScoringRecord(
        id=item.id, question_type=item.question_type, kind=kind, ground_truth=item.answer,
        mc_answer=letter(item.correct_option_index) if kind == "mc" else None,
        bbox_2d_diag=item.metadata.get("bbox_2d_diag") if kind == "point" else None, slices=item.slices,
    )


def apply_template(template: str, prompt: str) -> list[str]:
    """Put the prompt into the chat template and split it at the image markers: the text before the first,
    between consecutive ones and after the last (k + 1 pieces for k markers)."""
    text = template.replace("{prompt}", prompt)
    if IMAGE not in text:
        raise ValueError(f"chat template + prompt hold no {IMAGE}: {text[:120]!r}")
    return text.split(IMAGE)


def training_texts(items: list[QAItem], template: str) -> list[str]:
    """The corpus a tokenizer is trained on: every templated prompt and every target."""
    return [part for it in items for part in (*apply_template(template, it.prompt), it.target)]


# ----------------------------------------------------------------------------- frames
def frame_path(image_root: Path, item: QAItem, frame_id: str) -> Path:
    path = image_path(image_root, item.data_source, item.scene_id, frame_id)
    if not path.is_file():
        raise FileNotFoundError(f"QA {item.id}: frame {frame_id} not found at {path}")
    return path


def _resize(image: Image.Image, size: int) -> np.ndarray:
    """The whole frame squashed to size x size (no crop: 2D answers refer to the full image)."""
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC)).transpose(2, 0, 1)


class FrameCache:
    """Every frame of a QA set, decoded once and resized to each size the model reads, as uint8."""

    INDEX = "index.json"

    def __init__(self, directory: Path) -> None:
        meta = json.loads((directory / self.INDEX).read_text())
        self.directory = directory
        self.row = {p: i for i, p in enumerate(meta["paths"])}
        self.sizes: tuple[int, ...] = tuple(meta["sizes"])
        self._files: dict[int, Any] = {}

    @classmethod
    def build(cls, cache_root: Path, paths: list[Path], sizes: tuple[int, ...]) -> FrameCache:
        """Reuse the cache of exactly these files (path, size, mtime) and sizes, or write it atomically."""
        paths = sorted(set(paths))
        stamp = "\n".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths)
        key = hashlib.sha256(f"{stamp}\n{sorted(set(sizes))}".encode()).hexdigest()[:20]
        directory = cache_root / key
        if not (directory / cls.INDEX).is_file():
            with atomic_dir(directory) as tmp:
                _write_frames(tmp, paths, tuple(sorted(set(sizes))))
        return cls(directory)

    def frames(self, size: int, paths: list[Path]) -> Tensor:
        """uint8 [len(paths), 3, size, size]."""
        if size not in self.sizes:
            raise KeyError(f"frame cache {self.directory} holds sizes {self.sizes}, not {size}")
        if size not in self._files:
            self._files[size] = safe_open(self.directory / f"frames_{size}.safetensors", framework="pt")
        data = self._files[size].get_slice("frames")
        return torch.stack([data[self.row[str(p)]] for p in paths])

    def __getstate__(self) -> dict[str, Any]:  # file handles do not cross into DataLoader workers
        return {**self.__dict__, "_files": {}}

    def to(self, device: torch.device, sizes: tuple[int, ...] | None = None) -> DeviceFrameCache:
        """Every frame of ``sizes`` (default: all) loaded into ``device`` memory once; batches then gather there."""
        return DeviceFrameCache(self, device, self.sizes if sizes is None else sizes)


class DeviceFrameCache:
    """A FrameCache held in (GPU) memory: ``frames`` is one gather on the device, no per-batch copy of pixels.

    Serves in the training process only (``train.num_workers`` 0): CUDA tensors do not cross into workers.
    """

    def __init__(self, cache: FrameCache, device: torch.device, sizes: tuple[int, ...]) -> None:
        self.row, self.sizes, self.device = cache.row, tuple(sizes), device
        self.data = {}
        for size in self.sizes:
            with safe_open(cache.directory / f"frames_{size}.safetensors", framework="pt") as f:
                self.data[size] = f.get_tensor("frames").to(device)

    def frames(self, size: int, paths: list[Path]) -> Tensor:
        """uint8 [len(paths), 3, size, size] on the device."""
        if size not in self.data:
            raise KeyError(f"device frame cache holds sizes {self.sizes}, not {size}")
        rows = torch.tensor([self.row[str(p)] for p in paths], dtype=torch.long)
        return self.data[size].index_select(0, rows.to(self.device, non_blocking=True))

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a DeviceFrameCache serves the training process only: set train.num_workers to 0")


def _write_frames(directory: Path, paths: list[Path], sizes: tuple[int, ...]) -> None:
    arrays = {s: np.empty((len(paths), 3, s, s), dtype=np.uint8) for s in sizes}
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        for s in sizes:
            arrays[s][i] = _resize(rgb, s)
    for s, array in arrays.items():  # the folder as a whole is written atomically (FrameCache.build)
        save_file({"frames": torch.from_numpy(array)}, str(directory / f"frames_{s}.safetensors"))
    (directory / FrameCache.INDEX).write_text(json.dumps({"paths": [str(p) for p in paths], "sizes": list(sizes)}))


# ----------------------------------------------------------------------------- batches
@dataclass
class Batch:
    ids: list[str]
    prefix_ids: list[Tensor]  # template tokens before the (first) image marker
    prompt_ids: list[Tensor]  # tokens after the (last) marker, up to where the answer starts
    answer_ids: list[Tensor]  # answer tokens + eos (empty when generating)
    frames: dict[int, Tensor]  # image size -> uint8 [total frames, 3, size, size]
    frame_counts: list[int]  # frames per QA, in order
    frame_sets: list[tuple[str, ...]] = field(default_factory=list)  # each QA's frame files (geometry cache key)
    # per QA, the tokens between consecutive image markers: none for one marker (all frames there), k - 1 for one
    # marker per frame; an empty list: every QA has one marker
    gap_ids: list[list[Tensor]] = field(default_factory=list)

    def gaps(self) -> list[list[Tensor]]:
        """``gap_ids`` with one (possibly empty) list per QA."""
        return self.gap_ids or [[] for _ in self.ids]

    def _text(self) -> list[Tensor]:
        """Every token tensor in packing order: every prefix, every prompt, every answer, then every gap."""
        return [*self.prefix_ids, *self.prompt_ids, *self.answer_ids, *(g for gs in self.gap_ids for g in gs)]

    def _with_text(self, text: list[Tensor], frames: dict[int, Tensor]) -> Batch:
        """This batch with the token tensors of ``_text``'s order replaced by ``text``."""
        n = len(self.ids)
        gaps = iter(text[3 * n:])
        gap_ids = [[next(gaps) for _ in gs] for gs in self.gap_ids]
        return Batch(self.ids, text[:n], text[n:2 * n], text[2 * n:3 * n], frames, self.frame_counts,
                     self.frame_sets, gap_ids)

    def _map(self, fn: Callable[[Tensor], Tensor]) -> Batch:
        return self._with_text([fn(t) for t in self._text()], {s: fn(f) for s, f in self.frames.items()})

    def to(self, device: torch.device) -> Batch:
        """On ``device``: the token ids of all QA travel as one tensor (one copy instead of several per QA), the
        frames as one tensor per size (no copy when they are there already: DeviceFrameCache)."""
        parts = self._text()
        if all(t.device == device for t in parts):
            packed = parts
        else:
            packed = list(torch.cat(parts).to(device, non_blocking=True).split([len(t) for t in parts]))
        return self._with_text(packed, {s: f.to(device, non_blocking=True) for s, f in self.frames.items()})

    def pin_memory(self) -> Batch:  # called by DataLoader(pin_memory=True)
        return self._map(Tensor.pin_memory)


@dataclass(frozen=True)
class Example:
    id: str
    prefix_ids: Tensor
    prompt_ids: Tensor
    answer_ids: Tensor
    frame_paths: tuple[Path, ...]
    gap_ids: tuple[Tensor, ...] = ()  # tokens between consecutive image markers (Batch.gap_ids); () one marker


def _prompt_parts(item: QAItem, template: str) -> tuple[str, list[str], str]:
    """The templated prompt split at its image markers: the text before, between and after them."""
    before, *gaps, after = apply_template(template, item.prompt)
    if len(gaps) + 1 not in (1, len(item.frame_ids)):
        raise ValueError(f"QA {item.id}: its templated prompt holds {len(gaps) + 1} {IMAGE} markers for "
                         f"{len(item.frame_ids)} frames; one marker (all frames) or one per frame is expected")
    return before, gaps, after


def _frame_paths(items: list[QAItem], image_root: Path) -> list[tuple[Path, ...]]:
    """Each item's frame files, each distinct frame looked up (and checked to exist) once: the QA of a scene
    share its few frames (~5,300 frames behind the 230k QA of paper_small)."""
    found: dict[tuple[str, str, str], Path] = {}

    def path(item: QAItem, frame_id: str) -> Path:
        key = (item.data_source, item.scene_id, frame_id)
        if key not in found:
            found[key] = frame_path(image_root, item, frame_id)
        return found[key]

    return [tuple(path(it, f) for f in it.frame_ids) for it in items]


def _token_ids(tok: PreTrainedTokenizerBase, texts: set[str]) -> dict[str, Tensor]:
    """Each text's token ids (no special tokens), tokenised in one batch call."""
    ordered = sorted(texts)
    encoded = tok(ordered, add_special_tokens=False)["input_ids"] if ordered else []
    return {text: torch.tensor(ids, dtype=torch.long) for text, ids in zip(ordered, encoded)}


class QADataset(torch.utils.data.Dataset):
    """Tokenised QA with their frame files; ``with_answers=False`` for generation."""

    def __init__(self, items: list[QAItem], tokenizer: PreTrainedTokenizerBase, template: str, image_root: Path,
                 with_answers: bool) -> None:
        # Every distinct text is tokenised once, in one batch call: per-item calls cost ~0.1 ms each, ~2 min for
        # the 230k QA of the paper_small experiment before a run's first step (docs/experiment.md, "Measured").
        parts = [_prompt_parts(it, template) for it in items]
        answers = [it.target if with_answers else "" for it in items]
        ids = _token_ids(tokenizer, {t for (before, gaps, after), a in zip(parts, answers)
                                     for t in (before, after, a, *gaps)})
        eos = torch.tensor([tokenizer.eos_token_id])
        self.examples = [
            Example(it.id, ids[before], ids[after], torch.cat((ids[a], eos)) if with_answers else ids[a], frames,
                    tuple(ids[g] for g in gaps))
            for it, (before, gaps, after), a, frames in zip(items, parts, answers, _frame_paths(items, image_root))]

    def frame_paths(self) -> list[Path]:
        return [p for ex in self.examples for p in ex.frame_paths]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


class Collate:
    """Examples -> Batch, slicing each frame from the cache at every size the model reads."""

    def __init__(self, cache: FrameCache | DeviceFrameCache, sizes: tuple[int, ...]) -> None:
        self.cache, self.sizes = cache, sizes

    def __call__(self, examples: list[Example]) -> Batch:
        paths = [p for ex in examples for p in ex.frame_paths]
        return Batch(
            ids=[ex.id for ex in examples],
            prefix_ids=[ex.prefix_ids for ex in examples],
            prompt_ids=[ex.prompt_ids for ex in examples],
            answer_ids=[ex.answer_ids for ex in examples],
            frames={s: self.cache.frames(s, paths) for s in self.sizes},
            frame_counts=[len(ex.frame_paths) for ex in examples],
            frame_sets=[tuple(str(p) for p in ex.frame_paths) for ex in examples],
            gap_ids=[list(ex.gap_ids) for ex in examples],
        )
