"""Provenance: the git commit of the checkout and the hashes that name a data version.

Every MLflow run, Dagster run, Dagster materialization and result file names its commit and data
through these (docs/reproducing.md, "Traceability"). No MLflow, no Dagster: the orchestration layer,
the model and the repro tools share them. The same facts under the names of each system:

    fact                      MLflow run tag              Dagster run tag            metadata / result key
    commit of the checkout    mlflow.source.git.commit    mosaic/git_commit          git_commit
    uncommitted changes       mosaic.git.dirty            mosaic/git_dirty           git_dirty
    params file               -                           mosaic/params_sha256       -
    dvc.lock (data version)   -                           mosaic/dvc_lock_sha256     dvc_lock_sha256
    QA data read              mosaic.data.sha256          -                          qa_sha256
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import yaml

from .params import REPO_ROOT

_HASH_CHUNK = 1 << 20
LOCK_FILE = "dvc.lock"
NO_LOCK = "none"  # the dvc.lock hash of a checkout without one

# MLflow run tags (mlflow.source.git.commit is MLflow's own name, which its UI shows)
COMMIT_TAG = "mlflow.source.git.commit"
DIRTY_TAG = "mosaic.git.dirty"
DATA_SHA256_TAG = "mosaic.data.sha256"
DATA_PATH_TAG = "mosaic.data.path"
DATA_DVC_MD5_TAG = "mosaic.data.dvc_md5"

# Dagster run tags (namespace/key, as Dagster's own dagster/... tags)
DAGSTER_COMMIT_TAG = "mosaic/git_commit"
DAGSTER_DIRTY_TAG = "mosaic/git_dirty"
PARAMS_FILE_TAG = "mosaic/params_file"  # only on a run whose run config names another parameter file
PARAMS_SHA256_TAG = "mosaic/params_sha256"
DVC_LOCK_SHA256_TAG = "mosaic/dvc_lock_sha256"
DAGSTER_PROVENANCE_TAGS = (DAGSTER_COMMIT_TAG, DAGSTER_DIRTY_TAG, PARAMS_SHA256_TAG, DVC_LOCK_SHA256_TAG)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def git_tags() -> dict[str, str]:
    """The commit of this checkout and whether tracked files differ from it ("unknown" outside git)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {COMMIT_TAG: commit or "unknown",
            DIRTY_TAG: "unknown" if status is None else str(bool(status)).lower()}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dvc_lock_sha256(root: Path = REPO_ROOT) -> str:
    """sha256 of the checkout's dvc.lock (the data version of everything the pipeline made), or "none"."""
    lock = root / LOCK_FILE
    return file_sha256(lock) if lock.is_file() else NO_LOCK


def dagster_run_tags(params_file: Path, root: Path = REPO_ROOT) -> dict[str, str]:
    """The tags every Dagster run carries: commit, dirty flag, the params file's and dvc.lock's sha256."""
    git = git_tags()
    return {DAGSTER_COMMIT_TAG: git[COMMIT_TAG], DAGSTER_DIRTY_TAG: git[DIRTY_TAG],
            PARAMS_SHA256_TAG: file_sha256(params_file), DVC_LOCK_SHA256_TAG: dvc_lock_sha256(root)}


def dvc_md5(path: Path) -> str | None:
    """The md5 DVC records for ``path``: from ``<path>.dvc`` or an output in the repository's dvc.lock."""
    path = Path(path).resolve()
    sidecar = path.with_name(path.name + ".dvc")
    if sidecar.is_file():
        outs = yaml.safe_load(sidecar.read_text()).get("outs", [])
        return outs[0].get("md5") if outs else None
    lock = REPO_ROOT / LOCK_FILE
    if not lock.is_file():
        return None
    for stage in (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).values():
        for out in stage.get("outs", []):
            if (REPO_ROOT / out.get("path", "")).resolve() == path:
                return out.get("md5")
    return None


def data_version_tags(qa_path: Path) -> dict[str, str]:
    tags = {DATA_PATH_TAG: str(qa_path), DATA_SHA256_TAG: file_sha256(qa_path)}
    md5 = dvc_md5(qa_path)
    if md5:
        tags[DATA_DVC_MD5_TAG] = md5
    return tags


def tracked_blobs(root: Path = REPO_ROOT) -> dict[str, str] | None:
    """Every tracked file of the checkout -> its git blob id at HEAD (None outside git)."""
    out = _git("ls-tree", "-r", "HEAD")
    if out is None:
        return None
    blobs = {}
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob":
            blobs[path] = sha
    return blobs


def blob_id(path: Path) -> str:
    """The git blob id of a file as it is on disk (of a symbolic link: of its target path)."""
    data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def tree_differences(blobs: dict[str, str], root: Path = REPO_ROOT) -> list[str]:
    """The files of ``blobs`` (``tracked_blobs`` of a commit) that a copy of the checkout at ``root`` lacks or
    holds with other content: where a copy has no git history, an empty list proves it is that commit."""
    return [p for p, sha in sorted(blobs.items())
            if (not (root / p).is_file() and not (root / p).is_symlink()) or blob_id(root / p) != sha]
