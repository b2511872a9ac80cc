"""Split-level debiasing (mosaic_pipeline.quality.prune) on hand-made QA: the label-pair rule, iterative bias
pruning of a planted shortcut within its 40 % budget, balance kept, letters re-balanced, determinism, and
the pruning's cache (features and results of the audits across rounds) giving what recomputing gives."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from audit_data import attribute_rows, count_rows, existence_rows, localization_rows, qa_table

from mosaic_pipeline.params import load_params
from mosaic_pipeline.qa.records import SCHEMA
from mosaic_pipeline.quality import prune
from mosaic_pipeline.quality.audit import AuditCache, audit, audit_table, audit_types, verdict
from mosaic_pipeline.quality.prune import balance_split, debias, prune_split, reletter


@pytest.fixture(scope="module")
def shortcut_counts() -> pd.DataFrame:
    """Count questions, 40 % of them answered by their largest option."""
    return qa_table(shortcut_share=0.4, kinds=(count_rows,), per_scene=50)


def _is_shortcut(qa: pd.DataFrame) -> pd.Series:
    return qa.apply(lambda r: int(r["answer"]) == max(int(o) for o in r["options"]), axis=1)


def test_pruning_removes_the_text_solvable_questions_within_budget(shortcut_counts, params):
    before = audit(shortcut_counts, params.audit).set_index("question_type").loc["obj_count_occ"]
    kept, pruned, rounds = prune_split(shortcut_counts, params)
    after = audit(kept, params.audit).set_index("question_type").loc["obj_count_occ"]
    n = len(shortcut_counts)
    assert before["gap"] > params.audit.max_gap_type and rounds >= 1
    assert 0 < pruned["obj_count_occ"] == n - len(kept) <= params.audit.prune_max_fraction * n
    assert after["gap"] < before["gap"] - 10
    removed = shortcut_counts.drop(index=kept.index)
    assert _is_shortcut(removed).mean() > 0.8  # what went is mostly the planted shortcut
    assert after["gap"] <= params.audit.max_gap_overall or pruned["obj_count_occ"] >= 0.35 * n


def test_pruning_uses_the_model_trained_on_the_reference_split(params):
    """A one-scene bench cannot be scored k-fold; the model trained on train still finds its shortcut."""
    bench = qa_table(shortcut_share=0.6, kinds=(count_rows,), n_scenes=1, per_scene=100)
    train = qa_table(shortcut_share=0.6, kinds=(count_rows,), seed=1, split="train", per_scene=50)
    kept, pruned, _ = prune_split(bench, params, reference=train)
    assert pruned["obj_count_occ"] == int(params.audit.prune_max_fraction * len(bench)) == len(bench) - len(kept)
    assert _is_shortcut(bench.drop(index=kept.index)).mean() > 0.9


def test_pruning_stops_at_its_budget(shortcut_counts, params):
    tight = load_params(overrides={"audit": {"prune_max_fraction": 0.1}})
    kept, pruned, _ = prune_split(shortcut_counts, tight)
    assert pruned["obj_count_occ"] == int(0.1 * len(shortcut_counts)) == len(shortcut_counts) - len(kept)


def test_pruning_takes_localization_s_no_in_proportion_so_it_stays_a_quarter(params):
    """The shortcut is in the points; "No" (a quarter by design, as often right as each option) must not
    rise above the audit's answer-share threshold because only points were pruned."""
    qa = qa_table(shortcut_share=0.3, kinds=(localization_rows,), per_scene=40)
    kept, pruned, _ = prune_split(qa, params)
    assert (qa["answer"] == "No").mean() == 0.25 and pruned["obj_localization_occ"] > 0
    assert (kept["answer"] == "No").sum() * 4 == len(kept)
    assert not [f for f in verdict(audit(kept, params.audit), params.audit) if "answer 'No'" in f]


def test_label_pair_rule_keeps_yes_and_no_within_the_excess(params):
    # "is the lamp above the X": Yes in every scene; other targets: No
    qa = qa_table(shortcut_share=1.0, kinds=(existence_rows,), per_scene=60)
    kept = balance_split(qa, params)
    md = kept["metadata"].map(json.loads)
    cells = pd.crosstab([md.map(lambda m: (m["target_category"], m["source_category"]))], kept["answer"])
    gap = (cells.get("Yes", 0) - cells.get("No", 0)).abs()
    assert len(kept) < len(qa) and (gap <= params.qa.relation_pair_max_excess).all()
    assert abs((kept["answer"] == "Yes").mean() - 0.5) <= params.qa.yes_no_tolerance


def test_reletter_balances_letters_and_keeps_answers():
    qa = qa_table(shortcut_share=0.0, kinds=(count_rows,), per_scene=10)
    qa["options"] = [[a, *[o for o in opts if o != a]] for a, opts in zip(qa["answer"], qa["options"])]
    qa["correct_option_index"] = pd.array([0] * len(qa), dtype="Int64")  # every answer on A
    out = reletter(qa)
    letters = out["correct_option_index"].value_counts()
    assert letters.max() - letters.min() <= 1 and len(letters) == 4
    assert all(o[i] == a for o, i, a in zip(out["options"], out["correct_option_index"], out["answer"]))
    assert all(sorted(a) == sorted(b) for a, b in zip(out["options"], qa["options"]))


def test_debias_is_deterministic_and_balanced(params):
    qa = qa_table(shortcut_share=0.3, kinds=(count_rows, existence_rows), per_scene=40, split="bench")
    tables = {"bench": pa.Table.from_pandas(qa, schema=SCHEMA, preserve_index=False)}
    first, second = debias(tables, params), debias(tables, params)
    assert first.tables["bench"].equals(second.tables["bench"])
    out = first.tables["bench"].to_pandas()
    yes_no = out[out["question_type"] == "obj_existence_occ_ab"]
    assert (yes_no["answer"] == "Yes").mean() == pytest.approx(0.5, abs=params.qa.yes_no_tolerance)
    report = first.report.set_index("question_type")
    assert (report["pruned_pct"] <= 100 * params.audit.prune_max_fraction).all()
    assert (report["kept"] == out["question_type"].value_counts().reindex(report.index)).all()


def _bench_and_train() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two kinds of questions, some with a shortcut, in a bench and a train split (the train's ids repeat
    the bench's: the same scene names, the cache tells them apart by split)."""
    kinds = (count_rows, attribute_rows)
    bench = qa_table(shortcut_share=0.4, kinds=kinds, per_scene=30)
    train = qa_table(shortcut_share=0.4, kinds=kinds, per_scene=30, seed=1, split="train")
    return bench, train


def test_cached_audits_of_subsets_equal_fresh_ones(params):
    """A question's features depend on itself alone, so an audit of a subset from the cache built on the
    whole set (and results kept from an earlier audit) is the audit computed from scratch."""
    bench, train = _bench_and_train()
    everything = pd.concat([bench, train], ignore_index=True)
    cache = AuditCache(everything, params.audit)
    for seed in range(3):  # the same subset twice: the second audit reuses the kept results
        subset = everything.sample(frac=0.7, random_state=seed % 2).sort_index()
        cached = audit_types(subset, params.audit, cache=cache)
        fresh = audit_types(subset, params.audit)
        pd.testing.assert_frame_equal(audit_table(cached, params.audit), audit_table(fresh, params.audit))
        for c, f in zip(cached, fresh):
            for mine, theirs in ((c.scored, f.scored), (c.cross, f.cross)):
                assert (mine is None) == (theirs is None)
                if mine is not None:
                    assert all((a == b).all() for a, b in zip(mine.probabilities, theirs.probabilities))
            assert (c.prior_correct == f.prior_correct).all()


@pytest.mark.parametrize("cross", [False, True])
def test_pruning_with_the_cache_equals_pruning_without(params, monkeypatch, cross):
    bench, train = _bench_and_train()
    reference = train if cross else None
    cached = prune_split(bench, params, reference)
    monkeypatch.setattr(prune, "audit_types", lambda qa, p, only=None, cache=None: audit_types(qa, p, only))
    fresh = prune_split(bench, params, reference)
    assert cached[2] >= 2 and cached[1]  # several rounds: kept results are reused
    pd.testing.assert_frame_equal(cached[0], fresh[0])
    assert cached[1:] == fresh[1:]
