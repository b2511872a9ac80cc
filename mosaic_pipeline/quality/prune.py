"""Split-level debiasing of the assembled QA (docs/audit.md): what one scene cannot balance, then iterative
bias pruning as the last resort, then the answer letters balanced again.

Runs on the splits the audit judges (``audit.splits``), each on its own, deterministically:

1. *Balance over the split* (rules): within one scene a pair of objects keeps its relation, so the
   per-label-pair balance of relation questions needs the whole split. Questions are dropped in a
   fixed pseudo-random order (by ``qa_id``) until, with e = ``qa.relation_pair_max_excess``: per
   (target label, source label, asked direction) Yes and No differ by at most e questions; per (target
   label, source label, second axis) the four spatial direction combinations differ by at most e; an
   attribute option label answers at most 1/4 of the questions offering it plus e, per asked
   direction and per source label; per query frame position, Yes (per asked direction) and each true
   direction 50 % +- ``qa.direction_tolerance``; counts per label at most
   ``qa.count_max_answer_share``; both directions of the evaluated axis 50 % +- ``qa.direction_tolerance``,
   Yes 50 % +- ``qa.yes_no_tolerance``.
2. *Iterative bias pruning*: while the audit's thresholds fail, the question types above them lose,
   per round, ``audit.prune_round_fraction`` of their generated questions, those the failing text-only
   models (:mod:`.audit`: k-fold, or trained on the reference split of ``audit.cross_splits``) give the
   highest probability of the correct option (those the answer prior gets right first, when the type's
   prior is above its threshold), from each answer (Yes/No, and localization's "No" beside its points)
   or true direction in proportion to their sizes, so the balance holds; at most ``audit.prune_max_fraction``
   of a type.
   The rules of step 1 then run once more (pruning may tip a share by a question or two).
3. *Letters*: every multiple-choice type's correct letter is moved to the least used letter so far
   (swapping two options; Yes/No keep their order), so letters stay exactly balanced.

Nothing here imports Dagster.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..params import Params, QAParams
from ..qa.records import SCHEMA, SORT_KEYS, as_frame
from ..qa.relations import DIRECTIONS
from ..qa.selection import trim_to_excess, trim_to_rates, trim_to_shares
from .audit import OVERALL, AuditCache, audit_table, audit_types

YES_NO = ["Yes", "No"]


def _labels(option: str) -> str:
    """The object label an attribute option names ("Trash can" -> "trash can")."""
    return option[:1].lower() + option[1:]


def _family(qt: str) -> str:
    return qt.rsplit("_occ", 1)[0]


def _truth(md: Mapping) -> str | None:
    """The true direction on the evaluated axis (relation tasks), else None."""
    if "ground_truth_relation" in md:
        return md["ground_truth_relation"]
    if "ground_truth_relations" in md:
        return md["ground_truth_relations"].get(f"{md['evaluated_axis']}_axis")
    return None


@dataclass(frozen=True)
class Row:
    """What the split-level rules read of a question."""

    index: int
    question_type: str
    answer: str
    options: tuple[str, ...]
    k: int | None
    md: dict


def _rows(df: pd.DataFrame) -> list[Row]:
    """The questions in a fixed pseudo-random priority (by ``qa_id``: uuid5 ids), each column read once."""
    columns = zip(df.index, df["question_type"], df["answer"], df["options"], df["query_frame_id"], df["metadata"])
    rows = [Row(int(i), str(qt), str(answer), tuple(options), None if pd.isna(k) else int(k), json.loads(md))
            for i, qt, answer, options, k, md in columns]
    return [rows[i] for i in np.argsort(df["qa_id"].to_numpy(), kind="stable")]


def _pair(r: Row) -> tuple:
    return r.question_type, r.md["target_category"], r.md["source_category"]


def _combination(r: Row) -> tuple[str, int]:
    """The true direction on the evaluated axis and which of the second axis's two directions is true."""
    second = r.md["second_axis"]
    return _truth(r.md), DIRECTIONS[second].index(r.md["ground_truth_relations"][f"{second}_axis"])


def _attribute_memberships(r: Row) -> list[tuple[tuple, bool]]:
    cells = []
    for option in r.options:
        label, is_answer = _labels(option), option == r.answer
        cells += [((r.question_type, "direction", _truth(r.md), label), is_answer),
                  ((r.question_type, "source", r.md["source_category"], label), is_answer)]
    return cells


def _direction(r: Row):
    return r.question_type, _truth(r.md)


def _existence(rows: list[Row], qa: QAParams) -> list[Row]:
    rows = trim_to_excess(rows, [lambda r: ((*_pair(r), r.md["asked_relation"]), r.answer)], YES_NO,
                          qa.relation_pair_max_excess)
    shares = (0.5 + qa.direction_tolerance, 0.5 + qa.yes_no_tolerance)
    return trim_to_shares(rows, [lambda r: ((r.question_type, r.k, r.md["asked_relation"]), r.answer),
                                 lambda r: (r.question_type, r.answer)], lambda s, cell, value: shares[s])


def _spatial(rows: list[Row], qa: QAParams) -> list[Row]:
    axis = rows[0].md["evaluated_axis"]
    combos = [(d, i) for d in DIRECTIONS[axis] for i in range(2)]
    rows = trim_to_excess(rows, [lambda r: ((*_pair(r), r.md["second_axis"]), _combination(r))], combos,
                          qa.relation_pair_max_excess)
    half = 0.5 + qa.direction_tolerance
    return trim_to_shares(rows, [lambda r: ((r.question_type, r.k), _truth(r.md)), _direction],
                          lambda s, cell, value: half)


def _attribute(rows: list[Row], qa: QAParams) -> list[Row]:
    rate, half = 1 / qa.n_options, 0.5 + qa.direction_tolerance
    while True:
        kept = trim_to_rates(rows, _attribute_memberships, rate, qa.relation_pair_max_excess)
        kept = trim_to_shares(kept, [_direction], lambda s, cell, value: half)
        if len(kept) == len(rows):
            return kept
        rows = kept


def _count(rows: list[Row], qa: QAParams) -> list[Row]:
    return trim_to_shares(rows, [lambda r: ((r.question_type, r.md["target_category"]), r.answer)],
                          lambda s, cell, value: qa.count_max_answer_share)


RULES = {"obj_existence": _existence, "obj_spatial": _spatial, "obj_attribute": _attribute, "obj_count": _count}


def balance_split(df: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Step 1 of the module docstring, per question type."""
    keep = []
    rows = _rows(df)
    for qt in sorted({r.question_type for r in rows}):
        part = [r for r in rows if r.question_type == qt]
        rule = RULES.get(_family(qt))
        keep += [r.index for r in (rule(part, params.qa) if rule else part)]
    return df.loc[sorted(keep)]


def _stratum(df: pd.DataFrame) -> pd.Series:
    """Balance stratum of each question: a Yes or No answer (Yes/No questions, and the "No" of object
    localization, a fixed share of its questions by design), else its true direction for relations,
    else ''."""
    md = df["metadata"].map(json.loads)
    truth = md.map(lambda m: _truth(m) or "")
    return df["answer"].where(df["answer"].isin(YES_NO), truth).astype(str)


@dataclass(frozen=True)
class Failing:
    """Why a question type is pruned: its k-fold text-only gap, its answer prior, the cross-split model."""

    text: bool
    prior: bool
    cross: bool


def _failing(table: pd.DataFrame, params: Params) -> dict[str, Failing]:
    """Question types to prune: above a per-type threshold (text-only, answer prior, text-only trained on
    the reference split), or above the overall one while the overall fails."""
    p = params.audit
    types = table[(table["question_type"] != OVERALL) & (table["n"] >= p.min_type_size)]
    overall = table[table["question_type"] == OVERALL]
    over = {c: bool(len(overall)) and overall[c].iloc[0] > p.max_gap_overall for c in ("gap", "gap_cross")}
    out = {}
    for t in types.itertuples():
        why = Failing(t.gap > p.max_gap_type or (over["gap"] and t.gap > p.max_gap_overall),
                      t.prior_gap > p.max_prior_gap_type,
                      t.gap_cross > p.max_gap_type or (over["gap_cross"] and t.gap_cross > p.max_gap_overall))
        if why.text or why.prior or why.cross:
            out[t.question_type] = why
    return out


def _score(r, why: Failing) -> np.ndarray:
    """How text-solvable each question is for the failing models: the highest probability they give the
    correct option, plus 1 where the answer prior is right when the prior fails (those go first)."""
    models = [m.p_correct for m, bad in ((r.scored, why.text or why.prior), (r.cross, why.cross))
              if bad and m is not None] or [m.p_correct for m in (r.scored, r.cross) if m is not None]
    score = np.max(models, axis=0)
    return score + (r.prior_correct if why.prior else 0)


def _drop(qs: pd.DataFrame, score: np.ndarray, strata: pd.Series, k: int) -> list:
    """The ``k`` most text-solvable questions (highest score), from each stratum in proportion to its size
    (so its share holds; Yes/No strata are equal, so equally many)."""
    ranked = pd.DataFrame({"index": qs.index, "p": score, "s": strata.to_numpy(), "id": qs["qa_id"].to_numpy()})
    sizes = ranked["s"].value_counts()
    out = []
    for kind in sorted(sizes.index):
        part = ranked[ranked["s"] == kind].sort_values(["p", "id"], ascending=[False, True])
        out += part["index"].head(math.ceil(k * sizes[kind] / len(ranked))).tolist()
    return out


def prune_split(df: pd.DataFrame, params: Params, reference: pd.DataFrame | None = None
                ) -> tuple[pd.DataFrame, dict[str, int], int]:
    """Step 2 of the module docstring on one split's questions ``df`` (``reference``: the final questions of
    its reference split, ``audit.cross_splits``): (kept questions, pruned count per question type, rounds)."""
    p = params.audit
    split = str(df["split"].iloc[0]) if len(df) else ""
    generated = df["question_type"].value_counts().to_dict()
    cache = AuditCache(_with(df, reference), p)  # a question's features do not change while others go
    strata = _stratum(df)
    pruned: dict[str, int] = {}
    for rounds in range(p.prune_max_rounds):
        results = audit_types(_with(df, reference), p, only=split, cache=cache)
        failing = _failing(audit_table(results, p, ci=False), params)
        drop = []
        for r in results:
            if r.question_type not in failing or (r.scored is None and r.cross is None):
                continue
            budget = math.floor(p.prune_max_fraction * generated[r.question_type]) - pruned.get(r.question_type, 0)
            k = min(math.ceil(p.prune_round_fraction * generated[r.question_type]), budget)
            if k <= 0:
                continue
            at = _positions(df, r.questions)
            chosen = _drop(r.questions.set_index(at), _score(r, failing[r.question_type]), strata.loc[at], k)
            pruned[r.question_type] = pruned.get(r.question_type, 0) + len(chosen)
            drop += chosen
        if not drop:
            return df, pruned, rounds
        df = df.drop(index=drop)
    return df, pruned, p.prune_max_rounds


def _with(df: pd.DataFrame, reference: pd.DataFrame | None) -> pd.DataFrame:
    return df if reference is None else pd.concat([df, reference])


def _positions(df: pd.DataFrame, questions: pd.DataFrame) -> pd.Index:
    """The index labels in ``df`` of the audit's rows (matched by qa_id)."""
    where = pd.Series(df.index, index=df["qa_id"].to_numpy())
    return pd.Index(where.loc[questions["qa_id"].to_numpy()].to_numpy())


def reletter(df: pd.DataFrame) -> pd.DataFrame:
    """Step 3 of the module docstring, in the table's order, per question type."""
    df = df.copy()
    options, index = df["options"].map(list).tolist(), df["correct_option_index"].tolist()
    used: dict[str, list[int]] = {}
    for n, (qt, opts) in enumerate(zip(df["question_type"], options)):
        if len(opts) < 2 or opts == YES_NO:
            continue
        counts = used.setdefault(qt, [0] * len(opts))
        least = [i for i in range(len(opts)) if counts[i] == min(counts)]
        current = int(index[n])
        target = current if current in least else least[0]
        opts[current], opts[target] = opts[target], opts[current]
        options[n], index[n] = opts, target
        counts[target] += 1
    df["options"], df["correct_option_index"] = options, pd.array(index, dtype="Int64")
    return df


@dataclass(frozen=True)
class Debiased:
    tables: dict[str, pa.Table]
    report: pd.DataFrame  # per split and question type: generated, balanced_away, pruned, kept, pruned_pct
    rounds: dict[str, int]


def _table(df: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(df[SCHEMA.names], schema=SCHEMA, preserve_index=False)
    return table.sort_by([(k, "ascending") for k in SORT_KEYS])


def debias(tables: Mapping[str, pa.Table], params: Params) -> Debiased:
    """Steps 1-3 on each judged split (``audit.splits``; reference splits of ``audit.cross_splits`` first, their
    final questions train the cross-split model); other splits unchanged."""
    out, rows, rounds = dict(tables), [], {}
    references = set(params.audit.cross_splits.values())
    for split in sorted(params.audit.splits, key=lambda s: (s not in references, s)):
        if split not in tables or tables[split].num_rows == 0:
            continue
        df = as_frame(tables[split])
        generated = df["question_type"].value_counts()
        balanced = balance_split(df, params)
        after = balanced["question_type"].value_counts()
        ref = params.audit.cross_splits.get(split)
        reference = as_frame(out[ref]) if ref in out and ref != split else None
        pruned_df, pruned, rounds[split] = prune_split(balanced, params, reference)
        final = balance_split(pruned_df, params)  # pruning may tip a share by a question or two
        out[split] = _table(reletter(final))
        for qt in sorted(generated.index):
            n, pr = int(generated[qt]), pruned.get(qt, 0)
            b = int(after.get(qt, 0)) - int((pruned_df["question_type"] == qt).sum() - (final["question_type"] == qt).sum())
            rows.append({"split": split, "question_type": qt, "generated": n, "balanced_away": n - b,
                         "pruned": pr, "kept": b - pr, "pruned_pct": 100 * pr / n,
                         "removed_pct": 100 * (n - b + pr) / n})
    columns = ["split", "question_type", "generated", "balanced_away", "pruned", "kept", "pruned_pct",
               "removed_pct"]  # also when no split is judged (audit.splits empty)
    return Debiased(out, pd.DataFrame(rows, columns=columns), rounds)
