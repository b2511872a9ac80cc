"""A result folder's provenance: ``summary.json`` names exactly one commit, and every MLflow run it lists
carries that commit, from a clean tree, on the data the summary names.

The folder is what ``mosaic_model.experiment.report`` writes: ``summary.json`` (``commit``, ``qa_sha256``,
``mlflow_run_ids``: name -> run id) and ``mlflow_runs.json`` (every run with its ``run_id`` and ``tags``).
``check_results`` lists every problem; an empty list is a result that can be reproduced by its commit
(docs/reproducing.md, "Checking a result").
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..provenance import COMMIT_TAG, DATA_SHA256_TAG, DIRTY_TAG

SUMMARY = "summary.json"
RUNS = "mlflow_runs.json"
COMMIT_KEYS = frozenset({"commit", "commits", "git_commit"})  # keys that name a commit, at any depth of summary.json
DATA_KEY = "qa_sha256"
RUN_IDS_KEY = "mlflow_run_ids"
_FULL_HASH = re.compile(r"[0-9a-f]{40}")


class ResultsError(ValueError):
    """The folder lacks a file the check reads, or a file is not what the report writes."""


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ResultsError(f"{path}: missing (a result folder holds {SUMMARY} and {RUNS})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from exc


def named_commits(data: Any) -> Iterator[str]:
    """Every value of a commit key (``COMMIT_KEYS``) anywhere in ``data``; lists are flattened."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key in COMMIT_KEYS:
                yield from (value if isinstance(value, list) else [value])
            else:
                yield from named_commits(value)
    elif isinstance(data, list):
        for item in data:
            yield from named_commits(item)


def summary_problems(summary: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """(the one commit summary.json names, or None; problems of the summary itself)."""
    commits = sorted({str(c) for c in named_commits(summary)})
    if len(commits) != 1:
        return None, [f"{SUMMARY} names {len(commits)} commits ({', '.join(commits) or 'none'}); a result has exactly one"]
    if not _FULL_HASH.fullmatch(commits[0]):
        return None, [f"{SUMMARY}: commit {commits[0]!r} is not a full 40-digit git hash"]
    if not summary.get(RUN_IDS_KEY):
        return commits[0], [f"{SUMMARY} lists no MLflow run ({RUN_IDS_KEY})"]
    return commits[0], []


def run_problems(run: Mapping[str, Any], commit: str, data_sha256: str | None) -> list[str]:
    """What one exported MLflow run lacks: the summary's commit, a clean tree, the data hash (the summary's)."""
    tags = run.get("tags") or {}
    name = f"run {run.get('run_name', '?')} ({run.get('run_id', '?')}, store {run.get('store', '?')})"
    problems = []
    if tags.get(COMMIT_TAG) != commit:
        problems.append(f"{name}: {COMMIT_TAG} = {tags.get(COMMIT_TAG, 'missing')}, {SUMMARY} names {commit}")
    if tags.get(DIRTY_TAG) != "false":
        problems.append(f"{name}: {DIRTY_TAG} = {tags.get(DIRTY_TAG, 'missing')} (made from uncommitted changes "
                        "or outside git: its commit does not pin its code)")
    if DATA_SHA256_TAG not in tags:
        problems.append(f"{name}: no {DATA_SHA256_TAG} tag (the data it read)")
    elif data_sha256 is not None and tags[DATA_SHA256_TAG] != data_sha256:
        problems.append(f"{name}: {DATA_SHA256_TAG} = {tags[DATA_SHA256_TAG]}, {SUMMARY} names {DATA_KEY} {data_sha256}")
    return problems


def _listed_ids(summary: Mapping[str, Any]) -> set[str]:
    ids = summary.get(RUN_IDS_KEY) or {}
    return set(ids.values() if isinstance(ids, Mapping) else ids)


def check_results(folder: Path) -> list[str]:
    """Every provenance problem of a result folder (empty: one commit, every listed run carries it)."""
    summary, runs = _read_json(folder / SUMMARY), _read_json(folder / RUNS)
    if not isinstance(summary, Mapping) or not isinstance(runs, list):
        raise ResultsError(f"{folder}: {SUMMARY} must hold an object and {RUNS} a list of runs")
    commit, problems = summary_problems(summary)
    exported = {r.get("run_id"): r for r in runs}
    problems += [f"run {rid} listed in {SUMMARY} is not in {RUNS}: its tags cannot be checked"
                 for rid in sorted(_listed_ids(summary) - exported.keys())]
    if commit is not None:
        for run in runs:
            problems += run_problems(run, commit, summary.get(DATA_KEY))
    return problems
