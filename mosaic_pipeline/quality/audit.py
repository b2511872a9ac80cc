"""Bias audit: can the multiple-choice questions be answered from their text alone? (docs/audit.md)

A text-only stress test in the manner of VSI-Bench-Debiased's test-set stress test. Per split and per
question type, with whole scenes held out (``GroupKFold``, groups = scenes, ``audit.folds`` folds):

- ``chance``: the mean of 1 / number of options;
- ``prior``: the answer prior, the most frequent answer of the question's *pattern* (its text with
  pixel references such as ``chair(217,122)`` removed) among the training folds' questions, else the
  type's most frequent answer, whichever is one of the options; else the type's most frequent letter;
- ``text_only``: a linear model (scikit-learn ``LogisticRegression`` on hashed features) that scores
  every option from question and option text (:func:`question_features`; groups in ``audit.features``)
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
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
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


def _central(nums: Sequence[Sequence[float]]) -> dict[int, str]:
    """For vectors of 2+ numbers, where 3+ options have one of that length: the rank of each one's distance
    to the others' mean vector (is the truth the central one?)."""
    out = {}
    for length in sorted({len(n) for n in nums if len(n) >= 2}):
        same = [i for i, n in enumerate(nums) if len(n) == length]
        if len(same) >= 3:
            vec = {i: np.array(nums[i]) for i in same}
            dist = {i: float(np.linalg.norm(vec[i] - np.mean([vec[k] for k in same if k != i], axis=0))) for i in same}
            out.update({i: f"central={_rank(d, list(dist.values()))}" for i, d in dist.items()})
    return out


def _number_features(nums: Sequence[Sequence[float]], width: float) -> list[list[str]]:
    """Per option (``nums``: each option's numbers), per number position p: its value (small values exact,
    large ones in buckets) and its rank among the options' p-th numbers; then its :func:`_central` rank."""
    central, out = _central(nums), []
    for j, own in enumerate(nums):
        features = []
        for p, v in enumerate(own):
            column = [n[p] for n in nums if len(n) > p]
            features += [f"v{p}={_bucket(v, width)}", f"r{p}={_rank(v, column)}"]
        out.append(features + ([central[j]] if j in central else []))
    return out


@dataclass(frozen=True)
class _Parsed:
    """The tokens and numbers of a question and its options, read once for the features of every option."""

    unigrams: list[str]  # the question's distinct tokens, sorted
    bigrams: list[tuple[str, str]]  # its distinct token bigrams, sorted
    options: list[list[str]]  # each option's tokens
    numbers: list[list[float]]  # each option's numbers

    @classmethod
    def of(cls, question: str, options: Sequence[str]) -> _Parsed:
        q = _tokens(question)
        return cls(sorted(set(q)), sorted(set(zip(q, q[1:]))), [_tokens(o) for o in options],
                   [_numbers(o) for o in options])


def _option_features(parsed: _Parsed, j: int, groups: set[str]) -> list[str]:
    """The features of option ``j`` but its numbers'."""
    toks = parsed.options[j]
    text = " ".join(toks)
    out: list[str] = []
    if "option_text" in groups:
        out += [f"o={text}"] + [f"o:{t}" for t in toks] + [f"o2:{a}_{b}" for a, b in zip(toks, toks[1:])]
    if "letter" in groups:
        out.append(f"L={LETTERS[j]}")
    if "question_x_option" in groups:
        out += [f"x:{q}|{text}" for q in parsed.unigrams]
    if "question_bigram_x_option" in groups:
        out += [f"x2:{a}_{b}|{text}" for a, b in parsed.bigrams]
    if "option_overlap" in groups:
        others = [set(o) for i, o in enumerate(parsed.options) if i != j]
        shared = [sum(t in s for s in others) for t in toks]
        out += [f"share:{t}={n}" for t, n in zip(toks, shared)] + [f"shared_tokens={sum(n > 0 for n in shared)}"]
    return out


def question_features(question: str, options: Sequence[str], groups: Iterable[str],
                      number_bin: float) -> list[list[str]]:
    """String features of each option of a question (hashed by the model), from the enabled ``groups``.
    They depend on this question's text and options alone."""
    parsed, groups = _Parsed.of(question, options), set(groups)
    numbers = _number_features(parsed.numbers, number_bin) if "numbers" in groups else [[] for _ in options]
    return [_option_features(parsed, j, groups) + numbers[j] for j in range(len(options))]


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


def _features(qs: pd.DataFrame, p: AuditParams) -> Iterator[list[str]]:
    """One feature list per (question, option), lazily (the hasher keeps only the hashed indices)."""
    for question, options in zip(qs["question"], qs["options"]):
        yield from question_features(question, list(options), p.features, p.number_bin)


def _option_positions(sizes: np.ndarray) -> np.ndarray:
    """Each (question, option) row's option index, for questions of ``sizes`` options."""
    return np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def _owners(qs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each (question, option) row's question index, and whether the option is correct."""
    sizes = qs["options"].map(len).to_numpy()
    truth = np.repeat(qs["correct_option_index"].astype(int).to_numpy(), sizes)
    return np.repeat(np.arange(len(qs)), sizes), _option_positions(sizes) == truth


def _hashed(feats: Iterable[list[str]], p: AuditParams) -> sp.csr_matrix:
    return FeatureHasher(n_features=2 ** p.hash_bits, input_type="string", alternate_sign=False).transform(feats)


def _design(qs: pd.DataFrame, p: AuditParams, cache: AuditCache | None) -> sp.csr_matrix:
    """The hashed features of every (question, option) row of ``qs``, from ``cache`` when given."""
    return _hashed(_features(qs, p), p) if cache is None else cache.rows(qs)


def _used_columns(X: sp.csr_matrix) -> sp.csr_matrix:
    """Only the hashed columns in use (liblinear's cost grows with the width)."""
    return X[:, np.unique(X.indices)]


def _model(p: AuditParams) -> LogisticRegression:
    return LogisticRegression(C=p.C, solver="liblinear", max_iter=p.max_iter, random_state=p.seed)


def _scored(qs: pd.DataFrame, scores: np.ndarray, owner: np.ndarray) -> Scored:
    """Per question, the softmax over its options' decision values and the highest-scoring option."""
    probabilities = []
    bounds = np.searchsorted(owner, np.arange(len(qs) + 1))  # a question's options are consecutive rows
    for start, end in zip(bounds[:-1], bounds[1:]):
        s = scores[start:end]
        e = np.exp(s - s.max())
        probabilities.append(e / e.sum())
    truth = qs["correct_option_index"].astype(int).to_numpy()
    predicted = np.array([int(np.argmax(pr)) for pr in probabilities])
    return Scored(probabilities, predicted, predicted == truth, truth)


def text_only(qs: pd.DataFrame, p: AuditParams, cache: AuditCache | None = None) -> Scored | None:
    """k-fold (scenes held out) text-only answers to the questions ``qs`` of one question type; None when
    they come from fewer than two scenes (nothing to hold out)."""
    folds = _folds(qs["scene_id"].tolist(), p.folds)
    if not folds:
        return None
    owner, label = _owners(qs)
    X = _used_columns(_design(qs, p, cache))
    scores = np.zeros(len(owner))
    for train_q, test_q in folds:
        train, test = np.isin(owner, train_q), np.isin(owner, test_q)
        if len(set(label[train])) < 2:
            continue
        scores[test] = _model(p).fit(X[train], label[train]).decision_function(X[test])
    return _scored(qs, scores, owner)


def text_only_from(reference: pd.DataFrame, qs: pd.DataFrame, p: AuditParams,
                   cache: AuditCache | None = None) -> Scored | None:
    """Text-only answers to ``qs`` by a model trained on the ``reference`` questions of the same type (another
    split, so no scene is shared); None without two classes to learn."""
    _, ref_label = _owners(reference)
    owner, _ = _owners(qs)
    if len(set(ref_label)) < 2 or not len(owner):
        return None
    X = _used_columns(sp.vstack([_design(reference, p, cache), _design(qs, p, cache)], format="csr"))
    model = _model(p).fit(X[: len(ref_label)], ref_label)
    return _scored(qs, model.decision_function(X[len(ref_label):]), owner)


def _top(counter: Counter, among: Iterable[Hashable]) -> Hashable | None:
    """The most common of ``among`` in the counter (ties by value), None when it holds none of them."""
    return min((a for a in among if a in counter), key=lambda a: (-counter[a], a), default=None)


def _prior_guess(by_pattern: Counter, overall: Counter, options: list[str], top_letter: int) -> int:
    """The option index of the pattern's most common answer among the options, else the type's, else the
    type's most common letter."""
    for counter in (by_pattern, overall):
        answer = _top(counter, options)
        if answer is not None:
            return options.index(answer)
    return top_letter


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
        overall = Counter(answers[train])
        letters = Counter(truth[train].tolist())
        top_letter = _top(letters, letters)
        for n in test:
            guess = _prior_guess(by_pattern.get(patterns[n], Counter()), overall, options[n], top_letter)
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


class AuditCache:
    """What repeated audits of subsets of one set of questions share (the iterative pruning, :mod:`.prune`),
    under one parameter set: each question's hashed option features, which depend on its own text and
    options alone (looked up by split and ``qa_id``, unique within a split), and each (split, question
    type)'s latest results, reused while its questions and its reference questions are the same."""

    def __init__(self, qa: pd.DataFrame, p: AuditParams) -> None:
        mc = multiple_choice(qa)
        self.matrix = _hashed(_features(mc, p), p) if len(mc) else None  # the hasher refuses no rows
        self.ids = _keys(mc)
        self.sizes = mc["options"].map(len).to_numpy()
        self.starts = np.cumsum(self.sizes) - self.sizes
        self.p = p
        self.results: dict[tuple[str, str], tuple[tuple, TypeResult]] = {}

    def rows(self, qs: pd.DataFrame) -> sp.csr_matrix:
        """The hashed (question, option) rows of the questions ``qs``, as :func:`_hashed` gives them."""
        at = self.ids.get_indexer(_keys(qs))
        if (at < 0).any():
            raise KeyError("bias audit: questions outside the cache")
        sizes = self.sizes[at]
        return self.matrix[np.repeat(self.starts[at], sizes) + _option_positions(sizes)]

    def result(self, split: str, qtype: str, qs: pd.DataFrame, reference: pd.DataFrame) -> TypeResult:
        ids = (tuple(qs["qa_id"]), tuple(reference["qa_id"]))
        last = self.results.get((split, qtype))
        if last is None or last[0] != ids:
            last = self.results[(split, qtype)] = (ids, _type_result(split, qtype, qs, reference, self.p, self))
        return last[1]


def _split_of(qa: pd.DataFrame) -> pd.Series:
    return qa["split"].fillna("(no split)")


def _keys(qs: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([_split_of(qs), qs["qa_id"]])


def _type_result(split: str, qtype: str, qs: pd.DataFrame, reference: pd.DataFrame, p: AuditParams,
                 cache: AuditCache | None = None) -> TypeResult:
    cross = text_only_from(reference, qs, p, cache) if len(reference) else None
    return TypeResult(split, qtype, qs, text_only(qs, p, cache), answer_prior(qs, p), cross)


def audit_types(qa: pd.DataFrame, p: AuditParams, only: str | None = None,
                cache: AuditCache | None = None) -> list[TypeResult]:
    """Text-only and answer-prior results per (split, question type) of the multiple-choice rows (of the
    split ``only`` when given; the table may hold its reference split too); ``cache``: one built on a
    superset of ``qa`` with the same parameters."""
    missing = [c for c in REQUIRED if c not in qa.columns]
    if missing:
        raise ValueError(f"bias audit: the QA table lacks column(s) {missing}")
    mc = multiple_choice(qa)
    split_of = _split_of(mc)
    out = []
    for (split, qtype), qs in mc.groupby([split_of, "question_type"], sort=True):
        if only is not None and split != only:
            continue
        qs = qs.reset_index(drop=True)
        reference = mc[(split_of == p.cross_splits.get(str(split))) & (mc["question_type"] == qtype)]
        args = (str(split), str(qtype), qs, reference.reset_index(drop=True))
        out.append(_type_result(*args, p) if cache is None else cache.result(*args))
    return out


def _row(r: TypeResult, p: AuditParams, resamples: dict, ci: bool) -> dict:
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
    acc = float(r.scored.correct.mean())
    row.update(text_only=100 * acc, text_only_lo=np.nan, text_only_hi=np.nan, gap=100 * (acc - chance))
    if ci:
        samples = _bootstrap(r.scored.correct.astype(float), p, f"{r.split}/{r.question_type}")
        resamples[(r.split, r.question_type)] = (samples, chance)
        lo, hi = np.percentile(samples, [50 * (1 - p.ci_level), 100 - 50 * (1 - p.ci_level)])
        row.update(text_only_lo=100 * lo, text_only_hi=100 * hi)
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


def audit_table(results: Sequence[TypeResult], p: AuditParams, ci: bool = True) -> pd.DataFrame:
    """One row per (split, question type) plus an ``overall`` row per split (module docstring); without
    ``ci``, no bootstrap (``text_only_lo``, ``text_only_hi`` NaN: the pruning judges the gaps alone)."""
    resamples: dict = {}
    rows = [_row(r, p, resamples, ci) for r in results]
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
