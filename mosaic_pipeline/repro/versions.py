"""Data versions: the hash of dvc.lock and the output hashes it pins."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..params import REPO_ROOT
from ..provenance import COMMIT_TAG, DIRTY_TAG, LOCK_FILE, dvc_lock_sha256, git_tags

__all__ = ["COMMIT_TAG", "LOCK_FILE", "OutputChange", "changed_outputs", "dvc_lock_sha256", "lock_outputs",
           "provenance", "read_lock"]


def lock_outputs(lock: Mapping[str, Any]) -> dict[str, str]:
    """{output path: md5} of every stage of a parsed dvc.lock."""
    return {out["path"]: out.get("md5", "") for stage in (lock.get("stages") or {}).values()
            for out in stage.get("outs", [])}


def read_lock(text: str) -> dict[str, Any]:
    return yaml.safe_load(text) or {}


@dataclass(frozen=True)
class OutputChange:
    path: str
    pinned: str  # md5 in the commit's dvc.lock ("" when it had none)
    now: str


def changed_outputs(pinned: Mapping[str, Any], now: Mapping[str, Any]) -> list[OutputChange]:
    """Outputs whose hash differs between two dvc.lock files (regenerated data that is not byte-identical)."""
    a, b = lock_outputs(pinned), lock_outputs(now)
    return [OutputChange(p, a.get(p, ""), b.get(p, "")) for p in sorted(a.keys() | b.keys()) if a.get(p) != b.get(p)]


def provenance(mlflow_run_id: str | None, root: Path = REPO_ROOT) -> dict[str, str]:
    """What a result was made from: the commit (and whether the tree had uncommitted changes), the
    hash of dvc.lock (the data version) and the MLflow run that logged it."""
    tags = git_tags()
    return {"git_commit": tags[COMMIT_TAG], "git_dirty": tags[DIRTY_TAG],
            "dvc_lock_sha256": dvc_lock_sha256(root), "mlflow_run_id": str(mlflow_run_id)}
