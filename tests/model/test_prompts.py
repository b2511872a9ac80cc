"""The two prompt forms (docs/metrics.md, "Prompt forms"): the official evaluation prompt derived from the
training one, one image marker per frame in the model's sequence layout, and evaluation in either form."""
from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import mlflow
import pytest
import torch
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from model_fixtures import tiny_config

from mosaic_cli import main
from mosaic_model.data import Batch, Collate, FrameCache, QADataset, official_prompt, read_qa, training_texts
from mosaic_model.evaluate import evaluate
from mosaic_model.modeling import SequenceLayout, SpatialMosaicVLM
from mosaic_model.tokenizer import train_bpe
from mosaic_model.tracking import TrackingConfig
from mosaic_model.train import train
from mosaic_pipeline.qa.export import llava_record


def _training_prompt(question_type: str, options: list[str], answer: str) -> str:
    q = SimpleNamespace(qa_id="qa-x", data_source="synthetic", scene_id="s", question_type=question_type,
                        question="How many chairs?", options=options, answer=answer,
                        correct_option_index=1 if options else None, source_frame_ids=["f0", "f1", "f2"])
    return llava_record(q)["conversations"][0]["value"]


def test_official_prompt_of_a_three_frame_multiple_choice_and_a_free_answer_question():
    mc = _training_prompt("obj_count_occ", ["1", "2", "3"], "2")
    assert official_prompt(mc, 3) == ("<image>\n<image>\n<image>\nThese are frames of a video.\nHow many chairs?\n"
                                      "Options:\nA. 1\nB. 2\nC. 3\n"
                                      "Answer with the option's letter from the given choices directly.")
    free = _training_prompt("obj_count_occ_na", [], "2")
    assert official_prompt(free, 3) == ("<image>\n<image>\n<image>\nThese are frames of a video.\nHow many chairs?\n"
                                        "Please answer the question using a single word or phrase.")
    with pytest.raises(ValueError, match="starts with"):
        official_prompt("These are frames of a video.", 3)


def test_read_qa_gives_each_question_its_official_prompt(qa_set):
    training, official = (read_qa(qa_set.parquet, "train", form) for form in ("training", "official"))
    assert [replace(t, prompt=official_prompt(t.prompt, len(t.frame_ids))) for t in training] == official
    assert official[1].prompt == ("<image>\n<image>\n<image>\nThese are frames of a video.\nHow many table(s) are "
                                  "visible across these frames?\nOptions:\nA. 1\nB. 2\nC. 3\nD. 4\n"
                                  "Answer with the option's letter from the given choices directly.")


def _batch(lengths: list[tuple[int, list[int], int, int]], frame_counts: list[int]) -> Batch:
    """A batch of QA with (prefix, gap lengths, prompt, answer) token counts, token ids all 0, no pixels."""
    def ids(n: int) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.long)

    return Batch([f"qa-{i}" for i in range(len(lengths))], [ids(p) for p, _, _, _ in lengths],
                 [ids(q) for _, _, q, _ in lengths], [ids(a) for _, _, _, a in lengths], {}, frame_counts,
                 gap_ids=[[ids(g) for g in gaps] for _, gaps, _, _ in lengths])


def test_layout_puts_each_frame_at_its_marker_and_all_frames_at_a_single_one():
    # QA 0: 3 markers for 3 frames; QA 1: one marker for 2 frames; 2 image tokens per frame
    batch = _batch([(2, [1, 1], 3, 2), (1, [], 2, 1)], [3, 2])
    train_layout = SequenceLayout.of(batch, 2, with_answers=True)
    # row 0: prefix 0-1, frame 2-3, gap 4, frame 5-6, gap 7, frame 8-9, prompt 10-12, answer 13-14
    # row 1 (from 15): prefix 15, frames 16-19, prompt 20-21, answer 22, pad
    prefix, prompt, answer, gaps, image = [0, 1, 15], [10, 11, 12, 20, 21], [13, 14, 22], [4, 7], [
        2, 3, 5, 6, 8, 9, 16, 17, 18, 19]
    assert train_layout.length == 15
    assert train_layout.dest.tolist() == prefix + prompt + answer + gaps + image
    assert train_layout.answer_dest.tolist() == answer
    assert train_layout.mask.sum(1).tolist() == [15, 8] and train_layout.mask[1, :8].all()
    generate = SequenceLayout.of(batch, 2, with_answers=False)  # left padding: row 1 (7 tokens) from 13 + 6
    assert generate.length == 13
    assert generate.dest.tolist() == [0, 1, 19, 10, 11, 12, 24, 25, 4, 7, 2, 3, 5, 6, 8, 9, 20, 21, 22, 23]
    assert generate.mask.tolist() == [[1] * 13, [0] * 6 + [1] * 7]


def _reference(model: SpatialMosaicVLM, batch: Batch, frame_tokens: torch.Tensor, with_answers: bool
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings and mask built one QA at a time: [prefix][frames (one per marker: gap between)][prompt][answer]."""
    embed = model.lm.get_input_embeddings()
    rows = []
    for i, frames in enumerate(frame_tokens.split(batch.frame_counts)):
        gaps = batch.gaps()[i]
        blocks = [f for f in frames] if gaps else [frames.flatten(0, 1)]
        parts = [embed(batch.prefix_ids[i]), blocks[0]]
        for gap, block in zip(gaps, blocks[1:]):
            parts += [embed(gap), block]
        parts += [embed(batch.prompt_ids[i]), *([embed(batch.answer_ids[i])] if with_answers else [])]
        rows.append(torch.cat(parts))
    L = max(len(r) for r in rows)
    embeds, mask = torch.zeros(len(rows), L, rows[0].shape[1]), torch.zeros(len(rows), L, dtype=torch.long)
    for i, row in enumerate(rows):
        at = slice(0, len(row)) if with_answers else slice(L - len(row), L)
        embeds[i, at], mask[i, at] = row, 1
    return embeds, mask


@pytest.mark.parametrize("form", ["training", "official"])
def test_assembled_sequences_equal_the_one_by_one_layout(qa_set, params, form):
    """The training form (one marker) keeps the layout it always had: every frame at the marker, bit for bit."""
    cfg = tiny_config()
    template = cfg.model.chat_template
    tok = train_bpe(training_texts(read_qa(qa_set.parquet, "train"), template), cfg.model.tokenizer)
    torch.manual_seed(0)
    model = SpatialMosaicVLM(cfg.model, tok).eval()
    for with_answers in (True, False):
        data = QADataset(read_qa(qa_set.parquet, "train", form)[:5], tok, template, qa_set.image_root, with_answers)
        cache = FrameCache.build(params.artifacts / "frames", data.frame_paths(), model.image_sizes)
        batch = Collate(cache, model.image_sizes)(list(data))._map(torch.Tensor.clone)
        markers = [len(g) + 1 for g in batch.gaps()]
        assert markers == ([1] * 5 if form == "training" else batch.frame_counts) and batch.frame_counts[1] == 3
        with torch.no_grad():
            frame_tokens = model._frame_tokens(batch)
            embeds, mask, _ = model._assemble(batch, frame_tokens, with_answers)
            expected, expected_mask = _reference(model, batch, frame_tokens, with_answers)
        assert torch.equal(embeds, expected) and torch.equal(mask, expected_mask)


@pytest.mark.parametrize("form", ["training", "official"])
def test_the_batch_tokenised_dataset_equals_each_text_tokenised_alone(qa_set, form):
    """QADataset tokenises every distinct text once in one call; each example holds what tokenising its own
    pieces one by one gives (the prompt split at its markers here by str.split, the answer ending in EOS)."""
    cfg = tiny_config()
    template = cfg.model.chat_template
    items = read_qa(qa_set.parquet, "train", form)
    tok = train_bpe(training_texts(items, template), cfg.model.tokenizer)

    def alone(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    for with_answers in (True, False):
        data = QADataset(items, tok, template, qa_set.image_root, with_answers)
        assert [ex.id for ex in data] == [it.id for it in items]
        for ex, it in zip(data, items):
            before, *gaps, after = template.replace("{prompt}", it.prompt).split("<image>")
            assert ex.prefix_ids.tolist() == alone(before) and ex.prompt_ids.tolist() == alone(after)
            assert [g.tolist() for g in ex.gap_ids] == [alone(g) for g in gaps]
            assert ex.answer_ids.tolist() == (alone(it.target) + [tok.eos_token_id] if with_answers else [])
            assert ex.prefix_ids.dtype == ex.answer_ids.dtype == torch.long


def test_a_marker_count_neither_one_nor_the_frame_count_names_the_question(qa_set):
    item = read_qa(qa_set.parquet, "train")[1]  # 3 frames
    two_markers = replace(item, prompt="<image>\n" + item.prompt)
    tok = train_bpe(["a b"], tiny_config().model.tokenizer)
    with pytest.raises(ValueError, match="QA qa-01: .* 2 <image> markers for 3 frames"):
        QADataset([two_markers], tok, "{prompt}\n", qa_set.image_root, with_answers=False)


def test_evaluation_with_the_official_prompt_runs_end_to_end(qa_set, params, tmp_path):
    checkpoint = train(tiny_config(max_steps=2), qa_set.parquet, qa_set.image_root, tmp_path / "run",
                       params).checkpoint
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = evaluate(checkpoint, qa_set.parquet, qa_set.image_root, tmp_path / "scores", "train", params,
                      TrackingConfig(uri, "prompt-tests"), prompt="official")
    assert result.table["micro"]["n"] == 32 and json.loads(result.scores.read_text()) == result.table
    run = MlflowClient(uri).get_run(result.mlflow_run_id)
    assert run.data.params["prompt"] == "official" and run.info.run_name == "eval-scores-official"
    mlflow.set_tracking_uri(None)
    scored = CliRunner().invoke(main, ["evaluate", "--checkpoint", str(checkpoint), "--qa", str(qa_set.parquet),
                                       "--images", str(qa_set.image_root), "--out", str(tmp_path / "cli"),
                                       "--split", "train", "--prompt", "official", "--no-tracking"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output) == json.loads((tmp_path / "cli" / "scores.json").read_text())
