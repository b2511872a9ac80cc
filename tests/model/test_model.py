"""The tiny VLM: forward/backward, the no-geometry ablation, LoRA, batched greedy decoding, missing weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from model_fixtures import tiny_config
from PIL import Image

from mosaic_model.config import MissingWeightsError, load_run_config
from mosaic_model.data import Batch, Collate, FrameCache, QADataset, read_qa, training_texts
from mosaic_model.modeling import SpatialMosaicVLM, VisionEncoder, pool_frames
from mosaic_model.tokenizer import train_bpe


def _setup(qa_set, params, overrides=None, n: int = 4, with_answers: bool = True):
    cfg = load_run_config("tiny", overrides)
    items = read_qa(qa_set.parquet, "train")
    template = cfg.model.chat_template
    tok = train_bpe(training_texts(items, template), cfg.model.tokenizer)
    torch.manual_seed(0)
    model = SpatialMosaicVLM(cfg.model, tok)
    data = QADataset(items[:n], tok, template, qa_set.image_root, with_answers=with_answers)
    cache = FrameCache.build(params.artifacts / "frames", data.frame_paths(), model.image_sizes)
    return model, tok, Collate(cache, model.image_sizes)(list(data))


def test_forward_backward_reaches_every_trainable_part_and_not_the_frozen_geometry(qa_set, params):
    model, _, batch = _setup(qa_set, params)
    model.train()
    out = model(batch)
    assert out.loss.isfinite() and out.loss > 0
    out.loss.backward()
    for part in ("vision", "fusion", "projector", "lm"):
        grads = [p.grad for p in getattr(model, part).parameters() if p.requires_grad and p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), part
    assert not any(p.requires_grad for p in model.geometry.parameters())
    n_image = [c * 16 for c in batch.frame_counts]  # 28 / 7 = 4x4 visual tokens per frame
    expected_len = max(len(a) + len(b) + len(c) + i for a, b, c, i in
                       zip(batch.prefix_ids, batch.prompt_ids, batch.answer_ids, n_image))
    assert out.logits.shape[:2] == (4, expected_len)


def test_no_geometry_ablation_has_no_geometry_encoder_or_fusion(qa_set, params):
    model, _, batch = _setup(qa_set, params, {"model": {"geometry": {"enabled": False}}})
    assert model.geometry is None and model.fusion is None
    assert not any(name.startswith(("geometry.", "fusion.")) for name in model.state_dict())
    model(batch).loss.backward()


def test_lora_trains_only_adapters_of_the_language_model(qa_set, params):
    model, _, batch = _setup(qa_set, params, {"model": {"lora": {"enabled": True}}})
    trainable_lm = [n for n, p in model.lm.named_parameters() if p.requires_grad]
    assert trainable_lm and all("lora_" in n for n in trainable_lm)
    model(batch).loss.backward()
    assert all(p.grad is not None for n, p in model.lm.named_parameters() if p.requires_grad)


def test_batched_greedy_decoding_equals_one_by_one(qa_set, params):
    model, _, batch = _setup(qa_set, params, with_answers=False)
    model.eval()
    together = model.generate(batch, max_new_tokens=5)
    offsets = [0, *torch.tensor(batch.frame_counts).cumsum(0).tolist()]
    for i in range(len(batch.ids)):
        frames = {s: f[offsets[i]:offsets[i + 1]] for s, f in batch.frames.items()}
        single = Batch([batch.ids[i]], [batch.prefix_ids[i]], [batch.prompt_ids[i]], [batch.answer_ids[i]],
                       frames, [batch.frame_counts[i]])
        assert model.generate(single, max_new_tokens=5) == [together[i]]
    assert all(len(t) <= 5 for t in together)


def test_paper_config_names_every_missing_weight_path(tmp_path):
    present = tmp_path / "siglip.bin"
    present.write_bytes(b"")
    cfg = load_run_config("paper", {"model": {
        "vision": {"weights": str(present)}, "geometry": {"weights": str(tmp_path / "VGGT-1B" / "model.pt")},
        "lm": {"pretrained_dir": str(tmp_path / "qwen2-7b")}, "tokenizer": {"pretrained_dir": None}}})
    with pytest.raises(MissingWeightsError) as err:
        SpatialMosaicVLM(cfg.model, train_bpe(["a b"], tiny_config().model.tokenizer))
    message = str(err.value)
    assert f"geometry.weights: {tmp_path / 'VGGT-1B' / 'model.pt'} does not exist" in message
    assert f"lm.pretrained_dir: {tmp_path / 'qwen2-7b'} does not exist" in message
    assert "tokenizer.pretrained_dir: not set, but config 'paper' requires pretrained weights" in message
    assert "vision.weights" not in message  # that file exists


def test_frame_pooling_averages_each_2x2_cell():
    tokens = torch.arange(16.0).reshape(1, 16, 1)  # a 4x4 grid, row-major
    assert pool_frames(tokens, 2).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    with pytest.raises(ValueError, match="square"):
        pool_frames(torch.zeros(1, 6, 1), 2)


def test_frame_cache_decodes_each_frame_once_and_is_reused(qa_set, params, tmp_path):
    paths = sorted((qa_set.image_root / "synthetic" / "synth_0000" / "images").glob("*.jpg"))[:3]
    cache = FrameCache.build(tmp_path, paths, (28, 14))
    again = FrameCache.build(tmp_path, list(reversed(paths)), (14, 28))
    assert again.directory == cache.directory and len(list(tmp_path.iterdir())) == 1
    with Image.open(paths[1]) as im:
        expected = torch.from_numpy(np.array(im.convert("RGB").resize((14, 14), Image.Resampling.BICUBIC)))
    assert torch.equal(cache.frames(14, [paths[1]])[0], expected.permute(2, 0, 1))
    assert cache.frames(28, paths).shape == (3, 3, 28, 28) and cache.frames(28, paths).dtype == torch.uint8


def test_prompts_and_targets_are_the_official_training_format(qa_set):
    first = read_qa(qa_set.parquet, "train")[0]
    assert first.prompt == ("<image>\nThese are frames of a video.\n\nHow many chair(s) are visible across these "
                            "frames?\n\nOptions:\nA. 1\nB. 2\nC. 3\nD. 4\n"
                            "Answer with the option's letter from the given choices directly.")
    assert (first.target, first.kind, first.id) == ("A", "mc", "qa-00")
    with pytest.raises(ValueError, match="no QA in split 'bench'"):
        read_qa(qa_set.parquet, "bench")


def test_geometry_encoder_batches_samples_of_equal_frame_count_like_one_by_one(qa_set, params):
    model, _, batch = _setup(qa_set, params, n=6)
    frames = batch.frames[model.geometry.image_size]
    together = model.geometry.encode(frames, batch.frame_counts)
    singles = torch.cat([model.geometry(f[None])[0] for f in frames.split(batch.frame_counts)])
    assert sorted(batch.frame_counts) != batch.frame_counts  # counts interleave: order must be restored
    assert torch.allclose(together, singles, atol=1e-5)
    tokens_per_frame = 1 + (28 // 14) ** 2  # camera token + 2x2 patches, registers dropped
    assert together.shape == (sum(batch.frame_counts), tokens_per_frame, 2 * 32)


def test_vision_encoder_returns_the_penultimate_blocks_patch_tokens():
    torch.manual_seed(0)
    encoder = VisionEncoder(tiny_config().model.vision).eval()  # 2 blocks: select_layer -2 is block 0
    frames = torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8)
    v = encoder.visual
    x = v.conv1((frames.float() / 255 - encoder.mean) / encoder.std).flatten(2).transpose(1, 2)
    x = torch.cat((v.class_embedding.expand(2, 1, -1), x), dim=1) + v.positional_embedding
    expected = v.transformer.resblocks[0](v.ln_pre(x))[:, 1:]  # class token dropped
    with torch.no_grad():
        assert torch.allclose(encoder(frames), expected, atol=1e-5)
    assert encoder(frames).shape == (2, 16, 32)


def test_language_model_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one of pretrained_dir"):
        load_run_config("tiny", {"model": {"lm": {"pretrained_dir": "weights/some-lm"}}})
