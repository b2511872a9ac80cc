"""Provenance: the git commit of the checkout and the hashes that name a data version.

Every MLflow run, Dagster materialization and result file names its commit and data through these
(docs/reproducing.md, "Traceability"). No MLflow, no Dagster: the orchestration layer, the model
and the repro tools share them.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import yaml

from .params import REPO_ROOT

_HASH_CHUNK = 1 << 20


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def git_tags() -> dict[str, str]:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"mlflow.source.git.commit": commit or "unknown",
            "mosaic.git.dirty": "unknown" if status is None else str(bool(status)).lower()}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dvc_md5(path: Path) -> str | None:
    """The md5 DVC records for ``path``: from ``<path>.dvc`` or an output in the repository's dvc.lock."""
    path = Path(path).resolve()
    sidecar = path.with_name(path.name + ".dvc")
    if sidecar.is_file():
        outs = yaml.safe_load(sidecar.read_text()).get("outs", [])
        return outs[0].get("md5") if outs else None
    lock = REPO_ROOT / "dvc.lock"
    if not lock.is_file():
        return None
    for stage in (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).values():
        for out in stage.get("outs", []):
            if (REPO_ROOT / out.get("path", "")).resolve() == path:
                return out.get("md5")
    return None


def data_version_tags(qa_path: Path) -> dict[str, str]:
    tags = {"mosaic.data.path": str(qa_path), "mosaic.data.sha256": file_sha256(qa_path)}
    md5 = dvc_md5(qa_path)
    if md5:
        tags["mosaic.data.dvc_md5"] = md5
    return tags
