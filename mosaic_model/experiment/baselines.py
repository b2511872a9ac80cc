"""Baselines on the same questions and the same scoring as the model (docs/metrics.md).

- chance: the expected score of a uniform guess, exactly (no sampling): 1 / n_options for a
  multiple-choice question; for a free answer (numeric, point) the mean score of the train answers
  of its question type, i.e. the expectation of guessing a train answer uniformly at random.
- answer prior: the most frequent train answer of the question type; for multiple choice the letter
  of the option that carries that text, or the type's most frequent correct letter when no option
  does; for free answers the median train value (the mode of a continuous value is arbitrary).
- blind: the VLM trained and evaluated with every frame replaced by one uniform grey image
  (``write_blank_frames``), so the language model sees the questions but nothing of the scene.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mosaic_pipeline.params import EvalParams
from mosaic_pipeline.qa.export import image_path
from mosaic_pipeline.qa.options import letter

from ..data import QAItem, scoring_record
from ..metrics import ScoredQuestion, parse_point, score_question, score_table, to_float

BLANK_GREY = 128


def read_options(qa_path: Path) -> dict[str, list[str]]:
    """qa_id -> its options (empty for free answers)."""
    df = pd.read_parquet(qa_path, columns=["qa_id", "options"])
    return {str(i): [str(o) for o in opts] for i, opts in zip(df["qa_id"], df["options"])}


@dataclass(frozen=True)
class AnswerPrior:
    answers: dict[str, Counter[str]]  # question type -> train answer texts
    letters: dict[str, Counter[str]]  # question type -> train correct letters (multiple choice)


def answer_prior(train: list[QAItem]) -> AnswerPrior:
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    letters: dict[str, Counter[str]] = defaultdict(Counter)
    for item in train:
        answers[item.question_type][item.answer] += 1
        if item.correct_option_index is not None:
            letters[item.question_type][letter(item.correct_option_index)] += 1
    return AnswerPrior(dict(answers), dict(letters))


def _median_answer(item: QAItem, answers: Counter[str]) -> str:
    if item.kind == "point":
        points = np.array([p for a in answers.elements() if (p := parse_point(a)) is not None])
        x, y = np.median(points, axis=0)
        return f"({x:g}, {y:g})"
    values = [v for a in answers.elements() if (v := to_float(a)) is not None]
    return f"{float(np.median(values)):g}"


def prior_prediction(item: QAItem, options: list[str], prior: AnswerPrior) -> str:
    """What the answer-prior baseline answers to ``item``."""
    answers = prior.answers.get(item.question_type)
    if not answers:
        raise ValueError(f"answer prior: no train answers of question type {item.question_type!r}")
    if item.kind != "mc":
        return _median_answer(item, answers)
    for text, _ in answers.most_common():
        if text in options:
            return letter(options.index(text))
    return prior.letters[item.question_type].most_common(1)[0][0]


def prior_predictions(items: list[QAItem], options: dict[str, list[str]], prior: AnswerPrior) -> dict[str, str]:
    return {it.id: prior_prediction(it, options[it.id], prior) for it in items}


def chance_score(item: QAItem, n_options: int, prior: AnswerPrior, params: EvalParams) -> float:
    """The expected score of a uniform guess among the options (or among the type's train answers)."""
    if item.kind == "mc":
        return 1.0 / n_options
    answers = prior.answers.get(item.question_type)
    if not answers:
        raise ValueError(f"chance: no train answers of question type {item.question_type!r}")
    record = scoring_record(item)
    total = sum(n * score_question(record, a, params).score for a, n in answers.items())
    return total / sum(answers.values())


def chance_table(items: list[QAItem], options: dict[str, list[str]], prior: AnswerPrior,
                 params: EvalParams) -> dict:
    """The score table (metrics.score_table) of the expected chance scores."""
    scored = []
    for it in items:
        s = chance_score(it, len(options[it.id]), prior, params)
        scored.append(ScoredQuestion(it.id, it.question_type, "<chance>", None, s, False, it.slices))
    return score_table(scored, params)


def write_blank_frames(items: list[QAItem], out_root: Path, size: int) -> Path:
    """One uniform grey size x size JPEG at every frame path the items refer to, under ``out_root``."""
    blank = Image.new("RGB", (size, size), (BLANK_GREY,) * 3)
    frames = {(it.data_source, it.scene_id, frame_id) for it in items for frame_id in it.frame_ids}
    for source, scene, frame_id in sorted(frames):  # each distinct frame once (paper_small: 877k references, 5,341 frames)
        target = image_path(out_root, source, scene, frame_id)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            blank.save(target)
    return out_root
