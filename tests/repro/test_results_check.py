"""``check_results`` and ``mosaic runs --check-results`` on hand-made result folders (never on the committed
results/: the check is what the next experiment run must pass)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mosaic_cli import main
from mosaic_pipeline.repro.results import ResultsError, check_results

COMMIT, OTHER = "a" * 40, "b" * 40
DATA = "d" * 64


def _run(run_id: str, name: str, **tags: str) -> dict:
    base = {"mlflow.source.git.commit": COMMIT, "mosaic.git.dirty": "false", "mosaic.data.sha256": DATA}
    return {"store": f"{name}.db", "run_id": run_id, "run_name": name, "tags": {**base, **tags}}


def _results(root: Path, summary: dict | None = None, runs: list[dict] | None = None) -> Path:
    runs = runs if runs is not None else [_run("r1", "full"), _run("r2", "eval-bench")]
    summary = summary if summary is not None else {
        "commit": COMMIT, "qa_sha256": DATA, "splits": {"bench": {}},
        "mlflow_run_ids": {f"{r['run_name']}/{r['run_name']}": r["run_id"] for r in runs}}
    root.mkdir(parents=True, exist_ok=True)
    (root / "summary.json").write_text(json.dumps(summary))
    (root / "mlflow_runs.json").write_text(json.dumps(runs))
    return root


def _check(folder: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["runs", "--check-results", str(folder)])
    return result.exit_code, result.output


def test_one_commit_carried_by_every_run_passes(tmp_path):
    folder = _results(tmp_path / "good")
    assert check_results(folder) == []
    code, out = _check(folder)
    assert code == 0 and "one commit, every listed run carries it" in out


def test_a_run_of_another_commit_fails_naming_the_run(tmp_path):
    folder = _results(tmp_path / "other", runs=[_run("r1", "full"), _run("r2", "eval-bench", **{
        "mlflow.source.git.commit": OTHER})])
    (problem,) = check_results(folder)
    assert "r2" in problem and OTHER in problem and COMMIT in problem
    code, out = _check(folder)
    assert code == 1 and "1 provenance problem" in out


@pytest.mark.parametrize("summary", [
    {"commit": [COMMIT, OTHER]},
    {"commit": COMMIT, "splits": {"bench": {"full": {"git_commit": OTHER}}}},
    {"qa_sha256": DATA},
])
def test_a_summary_naming_two_commits_or_none_fails(tmp_path, summary):
    folder = _results(tmp_path / "two", {**summary, "mlflow_run_ids": {"full/full": "r1"}}, [_run("r1", "full")])
    problems = check_results(folder)
    assert len(problems) == 1 and "summary.json names" in problems[0] and "a result has exactly one" in problems[0]
    assert _check(folder)[0] == 1


@pytest.mark.parametrize("tags, expected", [
    ({"mosaic.git.dirty": "true"}, "mosaic.git.dirty = true"),
    ({"mosaic.data.sha256": "e" * 64}, "mosaic.data.sha256 = " + "e" * 64),
])
def test_a_dirty_run_or_one_on_other_data_fails(tmp_path, tags, expected):
    folder = _results(tmp_path / "bad", runs=[_run("r1", "full", **tags)])
    (problem,) = check_results(folder)
    assert expected in problem and "r1" in problem


def test_runs_without_tags_or_missing_from_the_export_fail(tmp_path):
    bare = {"store": "x.db", "run_id": "r1", "run_name": "full", "tags": {}}
    summary = {"commit": COMMIT, "qa_sha256": DATA, "mlflow_run_ids": {"full/full": "r1", "eval/eval": "r9"}}
    problems = check_results(_results(tmp_path / "bare", summary, [bare]))
    assert any("r9 listed in summary.json is not in mlflow_runs.json" in p for p in problems)
    assert sum("r1" in p for p in problems) == 3  # commit, dirty flag, data hash all missing


def test_a_folder_without_summary_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(ResultsError, match="summary.json: missing"):
        check_results(tmp_path)
    code, out = _check(tmp_path)
    assert code == 1 and "summary.json: missing" in out
