"""MLflow runs by commit: every training and evaluation run carries ``mlflow.source.git.commit``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import mlflow

from .versions import COMMIT_TAG

SHOWN_TAGS = ("mosaic.git.dirty", "dagster.run_id", "mosaic.data.sha256", "mosaic.train_run_id")


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    experiment: str
    name: str
    status: str
    started: str  # UTC, ISO 8601
    commit: str
    tags: dict[str, str]  # SHOWN_TAGS present on the run
    metrics: dict[str, float]


def commit_filter(commit: str) -> str:
    """MLflow search filter: the full hash, or every commit starting with an abbreviated one."""
    op = "=" if len(commit) == 40 else "LIKE"
    value = commit if op == "=" else f"{commit}%"
    return f"tags.`{COMMIT_TAG}` {op} '{value}'"


def find_runs(tracking_uri: str, commit: str) -> list[RunSummary]:
    """Runs of every experiment of the store made from ``commit`` (oldest first)."""
    if not commit or not all(c in "0123456789abcdef" for c in commit.lower()):
        raise ValueError(f"not a commit hash: {commit!r}")
    client = mlflow.MlflowClient(tracking_uri)
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    runs = client.search_runs(list(experiments), filter_string=commit_filter(commit.lower()),
                              order_by=["attributes.start_time ASC"])
    return [RunSummary(
        run_id=r.info.run_id, experiment=experiments[r.info.experiment_id], name=r.info.run_name or "",
        status=r.info.status, commit=r.data.tags[COMMIT_TAG],
        started=datetime.fromtimestamp(r.info.start_time / 1000, timezone.utc).isoformat(timespec="seconds"),
        tags={k: r.data.tags[k] for k in SHOWN_TAGS if k in r.data.tags}, metrics=dict(r.data.metrics),
    ) for r in runs]
