"""Bias audit: can the multiple-choice questions be answered from their text alone? (docs/audit.md)

A text-only stress test in the manner of VSI-Bench-Debiased's test-set stress test. Per split and per
question type, with whole scenes held out (``GroupKFold``, groups = scenes, ``audit.folds`` folds):

- ``chance``: the mean of 1 / number of options;
- ``prior``: the answer prior, the most frequent answer of the question's *pattern* (its text with
  pixel references such as ``chair(217,122)`` removed) among the training folds' questions, else the
  type's most frequent answer, whichever is one of the options; else the type's most frequent letter;
- ``text_only``: a linear model (scikit-learn ``LogisticRegression`` on hashed features) that scores
  every option from question and option text (:func:`option_features`; groups in ``audit.features``)
  and answers with the highest-scoring option, with a percentile-bootstrap CI over questions;
- ``gap`` = text_only - chance and ``prior_gap`` = prior - chance, in points; ``max_answer_share``:
  the share of the type's most frequent answer text;
- ``text_only_cross``, ``gap_cross``: the same model trained on another split (``audit.cross_splits``,
  e.g. the bench scored by a model trained on train: shortcuts the larger split teaches).

``overall`` rows average the question types (unweighted, like the bench's Overall score). Free-answer
questions (no options) are not audited. :func:`verdict` lists what breaks the ``audit`` thresholds on
the checked splits; the ``bias_audit`` asset check blocks on it. Nothing here imports Dagster.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from ..params import AuditParams

OVERALL = "overall"
REQUIRED = ("split", "scene_id", "question_type", "question", "options", "answer", "correct_option_index")
LETTERS = "ABCDEFGHIJ"
FEATURE_GROUPS = ("option_text", "letter", "question_x_option", "question_bigram_x_option", "option_overlap",
                  "numbers")
_POINT_REF = re.compile(r"\(\d+,\s*\d+\)")  # "chair(217,122)": the point names one instance, not a pattern
_TOKEN = re.compile(r"[a-z]+|\d+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
COLUMNS = ["split", "question_type", "n", "n_scenes", "chance", "prior", "text_only", "text_only_lo",
           "text_only_hi", "gap", "prior_gap", "text_only_cross", "gap_cross", "max_answer_share", "top_answer",
           "n_answer_values"]


def pattern(question: str) -> str:
    """The question without pixel references (the unit of the answer prior)."""
    return _POINT_REF.sub("", question)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(pattern(text).lower())


def _numbers(text: str) -> list[float]:
    return [float(v) for v in _NUMBER.findall(text)]


def _bucket(value: float, width: float) -> str:
    return f"{value:g}" if value < 10 else f"~{int(value // width) * width:g}"


def _rank(value: float, values: Sequence[float]) -> str:
    distinct = sorted(set(values))
    return f"{distinct.index(value)}/{len(distinct)}"


def _number_features(options: Sequence[str], j: int, width: float) -> list[str]:
    """Per number position p of option j: its value (small values exact, large ones in buckets) and its
    rank among the options' p-th numbers; for vectors of 2+ numbers, the rank of the option's distance
    to the other options' mean vector (is the truth the central one?)."""
    nums = [_numbers(o) for o in options]
    out = []
    for p, v in enumerate(nums[j]):
        column = [n[p] for n in nums if len(n) > p]
        out += [f"v{p}={_bucket(v, width)}", f"r{p}={_rank(v, column)}"]
    same = [i for i, n in enumerate(nums) if len(n) == len(nums[j]) >= 2]
    if j in same and len(same) >= 3:
        vec = {i: np.array(nums[i]) for i in same}
        dist = {i: float(np.linalg.norm(vec[i] - np.mean([vec[k] for k in same if k != i], axis=0))) for i in same}
        out.append(f"central={_rank(dist[j], list(dist.values()))}")
    return out


def option_features(question: str, options: Sequence[str], j: int, groups: Iterable[str],
                    number_bin: float) -> list[str]:
    """String features of option ``j`` of a question (hashed by the model), from the enabled ``groups``."""
    groups = set(groups)
    text = " ".join(_tokens(options[j]))
    toks = text.split()
    out: list[str] = []
    if "option_text" in groups:
        out += [f"o={text}"] + [f"o:{t}" for t in toks] + [f"o2:{a}_{b}" for a, b in zip(toks, toks[1:])]
    if "letter" in groups:
        out.append(f"L={LETTERS[j]}")
    if "question_x_option" in groups:
        out += [f"x:{q}|{text}" for q in sorted(set(_tokens(question)))]
    if "question_bigram_x_option" in groups:
        qt = _tokens(question)
        out += [f"x2:{a}_{b}|{text}" for a, b in sorted(set(zip(qt, qt[1:])))]
    if "option_overlap" in groups:
        others = [set(_tokens(o)) for i, o in enumerate(options) if i != j]
        shared = [sum(t in s for s in others) for t in toks]
        out += [f"share:{t}={n}" for t, n in zip(toks, shared)] + [f"shared_tokens={sum(n > 0 for n in shared)}"]
    if "numbers" in groups:
        out += _number_features(options, j, number_bin)
    return out


@dataclass(frozen=True)
class Scored:
    """Text-only k-fold results of one set of questions: per question the probability of each option."""

    probabilities: list[np.ndarray]
    predicted: np.ndarray  # option index
    correct: np.ndarray  # bool
    truth: np.ndarray  # correct option index

    @property
    def p_correct(self) -> np.ndarray:
        """The probability the model gives the correct option (how text-solvable a question is)."""
        return np.array([p[i] for p, i in zip(self.probabilities, self.truth)])


def _folds(groups: Sequence[str], n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n_groups = len(set(groups))
    if n_groups < 2:
        return []
    return list(GroupKFold(n_splits=min(n_folds, n_groups)).split(np.zeros(len(groups)), groups=groups))


def _option_rows(qs: pd.DataFrame, p: AuditParams) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    """One feature list per (question, option), each row's question index, and whether the option is correct."""
    feats, owner, label = [], [], []
    for n, (question, options, truth) in enumerate(zip(qs["question"], qs["options"], qs["correct_option_index"])):
        options = list(options)
        for j in range(len(options)):
            feats.append(option_features(question, options, j, p.features, p.number_bin))
            owner.append(n)
            label.append(j == int(truth))
    return feats, np.array(owner), np.array(label)


def _hashed(feats: list[list[str]], p: AuditParams):
    return FeatureHasher(n_features=2 ** p.hash_bits, input_type="string", alternate_sign=False).transform(feats)


def _model(p: AuditParams) -> LogisticRegression:
    return LogisticRegression(C=p.C, solver="liblinear", max_iter=p.max_iter, random_state=p.seed)


def _scored(qs: pd.DataFrame, scores: np.ndarray, owner: np.ndarray) -> Scored:
    """Per question, the softmax over its options' decision values and the highest-scoring option."""
    probabilities = []
    for n in range(len(qs)):
        s = scores[owner == n]
        e = np.exp(s - s.max())
        probabilities.append(e / e.sum())
    truth = qs["correct_option_index"].astype(int).to_numpy()
    predicted = np.array([int(np.argmax(pr)) for pr in probabilities])
    return Scored(probabilities, predicted, predicted == truth, truth)


def text_only(qs: pd.DataFrame, p: AuditParams) -> Scored | None:
    """k-fold (scenes held out) text-only answers to the questions ``qs`` of one question type; None when
    they come from fewer than two scenes (nothing to hold out)."""
    folds = _folds(qs["scene_id"].tolist(), p.folds)
    if not folds:
        return None
    feats, owner, label = _option_rows(qs, p)
    X = _hashed(feats, p)
    X = X[:, np.unique(X.indices)]  # only the hashed columns in use (liblinear's cost grows with the width)
    scores = np.zeros(len(owner))
    for train_q, test_q in folds:
        train, test = np.isin(owner, train_q), np.isin(owner, test_q)
        if len(set(label[train])) < 2:
            continue
        scores[test] = _model(p).fit(X[train], label[train]).decision_function(X[test])
    return _scored(qs, scores, owner)


def text_only_from(reference: pd.DataFrame, qs: pd.DataFrame, p: AuditParams) -> Scored | None:
    """Text-only answers to ``qs`` by a model trained on the ``reference`` questions of the same type (another
    split, so no scene is shared); None without two classes to learn."""
    ref_feats, _, ref_label = _option_rows(reference, p)
    feats, owner, _ = _option_rows(qs, p)
    if len(set(ref_label)) < 2 or not len(owner):
        return None
    X = _hashed(ref_feats + feats, p)
    X = X[:, np.unique(X.indices)]
    model = _model(p).fit(X[: len(ref_feats)], ref_label)
    return _scored(qs, model.decision_function(X[len(ref_feats):]), owner)


def _most_common(counter: Counter) -> list[str]:
    return [a for a, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def answer_prior(qs: pd.DataFrame, p: AuditParams) -> np.ndarray | None:
    """k-fold (scenes held out) answer-prior correctness per question (module docstring); None as text_only."""
    folds = _folds(qs["scene_id"].tolist(), p.folds)
    if not folds:
        return None
    patterns = qs["question"].map(pattern).to_numpy()
    answers = qs["answer"].astype(str).to_numpy()
    truth = qs["correct_option_index"].astype(int).to_numpy()
    options = [list(o) for o in qs["options"]]
    correct = np.zeros(len(qs), bool)
    for train, test in folds:
        by_pattern: dict[str, Counter] = {}
        for pat, ans in zip(patterns[train], answers[train]):
            by_pattern.setdefault(pat, Counter())[ans] += 1
        overall = _most_common(Counter(answers[train]))
        top_letter = _most_common(Counter(truth[train].tolist()))[0]
        for n in test:
            ranked = _most_common(by_pattern.get(patterns[n], Counter())) + overall
            guess = next((options[n].index(a) for a in ranked if a in options[n]), top_letter)
            correct[n] = guess == truth[n]
    return correct


def _bootstrap(correct: np.ndarray, p: AuditParams, key: str) -> np.ndarray:
    """Percentile-bootstrap resample means of a 0/1 vector (seeded per split and type)."""
    rng = np.random.default_rng([p.seed, zlib.crc32(key.encode())])
    return correct[rng.integers(len(correct), size=(p.bootstrap_resamples, len(correct)))].mean(axis=1)


def multiple_choice(qa: pd.DataFrame) -> pd.DataFrame:
    """The audited rows: questions with two or more options, one row per question."""
    mc = qa[qa["options"].map(len).to_numpy() >= 2]
    return mc.reset_index(drop=True)


@dataclass(frozen=True)
class TypeResult:
    split: str
    question_type: str
    questions: pd.DataFrame
    scored: Scored | None
    prior_correct: np.ndarray | None
    cross: Scored | None = None  # trained on the split's reference split (``audit.cross_splits``)


def audit_types(qa: pd.DataFrame, p: AuditParams, only: str | None = None) -> list[TypeResult]:
    """Text-only and answer-prior results per (split, question type) of the multiple-choice rows (of the
    split ``only`` when given; the table may hold its reference split too)."""
    missing = [c for c in REQUIRED if c not in qa.columns]
    if missing:
        raise ValueError(f"bias audit: the QA table lacks column(s) {missing}")
    mc = multiple_choice(qa)
    split_of = mc["split"].fillna("(no split)")
    out = []
    for (split, qtype), qs in mc.groupby([split_of, "question_type"], sort=True):
        if only is not None and split != only:
            continue
        qs = qs.reset_index(drop=True)
        reference = mc[(split_of == p.cross_splits.get(str(split))) & (mc["question_type"] == qtype)]
        cross = text_only_from(reference.reset_index(drop=True), qs, p) if len(reference) else None
        out.append(TypeResult(str(split), str(qtype), qs, text_only(qs, p), answer_prior(qs, p), cross))
    return out


def _row(r: TypeResult, p: AuditParams, resamples: dict) -> dict:
    qs = r.questions
    chance = float((1.0 / qs["options"].map(len)).mean())
    answers = qs["answer"].astype(str).value_counts()
    row = {"split": r.split, "question_type": r.question_type, "n": len(qs), "n_scenes": qs["scene_id"].nunique(),
           "chance": 100 * chance, "max_answer_share": float(answers.iloc[0] / len(qs)),
           "top_answer": str(answers.index[0]), "n_answer_values": int(len(answers))}
    prior = None if r.prior_correct is None else float(r.prior_correct.mean())
    row["prior"] = np.nan if prior is None else 100 * prior
    row["prior_gap"] = np.nan if prior is None else 100 * (prior - chance)
    cross = np.nan if r.cross is None else float(r.cross.correct.mean())
    row.update(text_only_cross=100 * cross, gap_cross=100 * (cross - chance))
    if r.scored is None:
        row.update(text_only=np.nan, text_only_lo=np.nan, text_only_hi=np.nan, gap=np.nan)
        return row
    samples = _bootstrap(r.scored.correct.astype(float), p, f"{r.split}/{r.question_type}")
    resamples[(r.split, r.question_type)] = (samples, chance)
    lo, hi = np.percentile(samples, [50 * (1 - p.ci_level), 100 - 50 * (1 - p.ci_level)])
    acc = float(r.scored.correct.mean())
    row.update(text_only=100 * acc, text_only_lo=100 * lo, text_only_hi=100 * hi, gap=100 * (acc - chance))
    return row


def _overall(split: str, rows: list[dict], resamples: dict, p: AuditParams) -> dict:
    """Unweighted mean over the split's question types; its CI from the per-type resamples averaged."""
    part = pd.DataFrame(rows)
    mean = {c: float(part[c].mean()) for c in ("chance", "prior", "text_only", "gap", "prior_gap",
                                               "text_only_cross", "gap_cross")}
    samples = [s for (sp, _), (s, _) in resamples.items() if sp == split]
    lo = hi = np.nan
    if samples:
        avg = 100 * np.mean(samples, axis=0)
        lo, hi = np.percentile(avg, [50 * (1 - p.ci_level), 100 - 50 * (1 - p.ci_level)])
    return {"split": split, "question_type": OVERALL, "n": int(part["n"].sum()),
            "n_scenes": int(part["n_scenes"].max()), **mean, "text_only_lo": lo, "text_only_hi": hi,
            "max_answer_share": float(part["max_answer_share"].max()), "top_answer": "",
            "n_answer_values": int(part["n_answer_values"].sum())}


def audit_table(results: Sequence[TypeResult], p: AuditParams) -> pd.DataFrame:
    """One row per (split, question type) plus an ``overall`` row per split (module docstring)."""
    resamples: dict = {}
    rows = [_row(r, p, resamples) for r in results]
    table = []
    for split in sorted({r["split"] for r in rows}):
        part = [r for r in rows if r["split"] == split]
        table += part + [_overall(split, part, resamples, p)]
    return pd.DataFrame(table, columns=COLUMNS)


def audit(qa: pd.DataFrame, p: AuditParams) -> pd.DataFrame:
    """The audit table of a QA table (native records: split, scene_id, question_type, question, options,
    answer, correct_option_index)."""
    return audit_table(audit_types(qa, p), p)


def verdict(table: pd.DataFrame, p: AuditParams) -> list[str]:
    """What breaks the thresholds on the checked splits (``audit.splits``); empty when the audit passes.
    Question types with fewer than ``audit.min_type_size`` questions are not judged."""
    failures = []
    for split in p.splits:
        part = table[table["split"] == split]
        types = part[(part["question_type"] != OVERALL) & (part["n"] >= p.min_type_size)]
        for t in types.itertuples(index=False):
            if t.gap > p.max_gap_type:
                failures.append(f"{split} {t.question_type}: text-only gap {t.gap:+.1f} > {p.max_gap_type:g} points")
            if t.gap_cross > p.max_gap_type:
                failures.append(f"{split} {t.question_type}: text-only gap of a model trained on "
                                f"{p.cross_splits[split]} {t.gap_cross:+.1f} > {p.max_gap_type:g} points")
            if t.prior_gap > p.max_prior_gap_type:
                failures.append(f"{split} {t.question_type}: answer-prior gap {t.prior_gap:+.1f} > "
                                f"{p.max_prior_gap_type:g} points")
            if t.n_answer_values > p.answer_share_min_values and t.max_answer_share > p.max_answer_share:
                failures.append(f"{split} {t.question_type}: answer {t.top_answer!r} is {t.max_answer_share:.0%} "
                                f"of the questions > {p.max_answer_share:.0%}")
        overall = part[part["question_type"] == OVERALL]
        if len(overall) and overall["gap"].iloc[0] > p.max_gap_overall:
            failures.append(f"{split} overall: text-only gap {overall['gap'].iloc[0]:+.1f} > {p.max_gap_overall:g} points")
        if len(overall) and overall["gap_cross"].iloc[0] > p.max_gap_overall:
            failures.append(f"{split} overall: text-only gap of a model trained on {p.cross_splits[split]} "
                            f"{overall['gap_cross'].iloc[0]:+.1f} > {p.max_gap_overall:g} points")
    return failures


BEFORE = ("n", "prior", "text_only", "gap", "prior_gap")  # columns of the generated data's audit kept beside
REMOVAL = ("balanced_away", "pruned", "pruned_pct", "removed_pct")


def before_after(after: pd.DataFrame, before: pd.DataFrame | None = None,
                 removal: pd.DataFrame | None = None) -> pd.DataFrame:
    """The audit of the final QA with, per (split, question type), the audit of the generated QA
    (columns ``*_generated``) and what the split-level debiasing removed (:mod:`.prune`)."""
    table = after.copy()
    keys = ["split", "question_type"]
    if before is not None:
        renamed = before[[*keys, *BEFORE]].rename(columns={c: f"{c}_generated" for c in BEFORE})
        table = table.merge(renamed, on=keys, how="left")
    if removal is not None and len(removal):
        table = table.merge(removal[[*keys, *REMOVAL]], on=keys, how="left")
        for split in table["split"].unique():
            part = removal[removal["split"] == split]
            mask = (table["split"] == split) & (table["question_type"] == OVERALL)
            if len(part) and mask.any():
                generated = part["generated"].sum()
                table.loc[mask, "balanced_away"] = part["balanced_away"].sum()
                table.loc[mask, "pruned"] = part["pruned"].sum()
                table.loc[mask, "pruned_pct"] = 100 * part["pruned"].sum() / generated
                table.loc[mask, "removed_pct"] = 100 * (part["balanced_away"] + part["pruned"]).sum() / generated
    for column in ("n_generated", "balanced_away", "pruned"):
        if column in table.columns:
            table[column] = table[column].astype("Int64")
    return table


def question_table(results: Sequence[TypeResult]) -> pd.DataFrame:
    """One row per audited question: the k-fold text-only model's correctness and probability of the
    correct option, the answer prior's correctness, chance (what a shard's review page shows, per scene)."""
    parts = []
    for r in results:
        qs = r.questions
        parts.append(pd.DataFrame({
            "split": r.split, "scene_id": qs["scene_id"].to_numpy(), "question_type": r.question_type,
            "qa_id": qs["qa_id"].to_numpy() if "qa_id" in qs else np.arange(len(qs)).astype(str),
            "chance": (1.0 / qs["options"].map(len)).to_numpy(),
            "text_only_correct": np.nan if r.scored is None else r.scored.correct.astype(float),
            "p_correct": np.nan if r.scored is None else r.scored.p_correct,
            "prior_correct": np.nan if r.prior_correct is None else r.prior_correct.astype(float)}))
    columns = ["split", "scene_id", "question_type", "qa_id", "chance", "text_only_correct", "p_correct",
               "prior_correct"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
