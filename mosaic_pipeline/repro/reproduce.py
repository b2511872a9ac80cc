"""``mosaic reproduce COMMIT``: a commit's result rebuilt in a fresh git worktree and checked against its record.

1. ``git worktree add --detach`` of the commit (a temporary folder unless one is given);
2. the worktree's DVC remote pointed at this checkout's default remote, configured from params.yaml
   ``repro.remote`` and created first (``remote.configure_remote``; a folder remote is written relative
   to ``.dvc/``, which would resolve inside the worktree);
3. ``dvc pull --allow-missing``: the pinned data of the commit's dvc.lock, as far as the remote has it;
4. ``dvc repro``: every stage whose outputs are missing (or stale) is rerun;
5. ``dvc repro --force --downstream START`` (default ``train``): the result itself is recomputed, unless
   step 4 already did;
6. the new scores are compared with the commit's committed metrics file, within the commit's
   ``repro.score_tolerance``; the outputs whose hash differs from the commit's dvc.lock are listed.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..params import REPO_ROOT, Params, load_params
from .remote import configure_remote, default_remote, is_url
from .scores import ScoreDiff, compare_scores
from .tools import ReproError, dvc, run
from .versions import LOCK_FILE, OutputChange, changed_outputs, read_lock

SCORES = "bench/scores.json"  # under repro.reports: the metrics file of the evaluate stage

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Reproduction:
    commit: str
    workdir: Path
    stale: list[str]  # stages that were missing or stale after the pull
    timings: dict[str, float]  # seconds per step
    score_diffs: list[ScoreDiff]
    data_changes: list[OutputChange]  # outputs not byte-identical to the commit's dvc.lock

    @property
    def matched(self) -> bool:
        return all(d.ok for d in self.score_diffs)


def resolve_commit(repo: Path, commit: str) -> str:
    return run(["git", "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], repo, capture=True).strip()


def show(repo: Path, sha: str, path: str) -> str:
    """A file as committed; ReproError naming the file when the commit has none."""
    try:
        return run(["git", "show", f"{sha}:{path}"], repo, capture=True)
    except ReproError as exc:
        raise ReproError(f"commit {sha[:12]} has no {path}: it has no recorded result to reproduce") from exc


def point_remote(repo: Path, workdir: Path, params: Params) -> str:
    """Give the worktree this checkout's default remote (in its git-ignored .dvc/config.local), configured
    from this checkout's params.yaml and created when it is a folder."""
    configure_remote(params, repo)
    name, url = default_remote(repo)
    if not is_url(url):
        dvc(workdir, "remote", "modify", "--local", name, "url", str(Path(url).resolve()), capture=True)
    return url


def stale_stages(workdir: Path) -> list[str]:
    """Stages that ``dvc repro`` would run (outputs missing, deps or params changed)."""
    status = json.loads(dvc(workdir, "status", "--json", capture=True) or "{}")
    return sorted(name.rsplit(":", 1)[-1] for name in status)


@contextmanager
def timed(timings: dict[str, float], step: str, echo: Echo) -> Iterator[None]:
    echo(f"== {step}")
    t0 = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - t0
    echo(f"== {step}: {timings[step]:.0f} s")


def _rebuild(repo: Path, workdir: Path, start: str, timings: dict[str, float], echo: Echo) -> list[str]:
    """Steps 2-5 in the worktree ``workdir``; returns the stages found stale after the pull."""
    remote = point_remote(repo, workdir, load_params(repo / "params.yaml"))
    with timed(timings, f"dvc pull from {remote}", echo):
        dvc(workdir, "pull", "--allow-missing")
    stale = stale_stages(workdir)
    if stale:
        with timed(timings, f"dvc repro (missing or stale: {', '.join(stale)})", echo):
            dvc(workdir, "repro")
    if start not in stale:
        with timed(timings, f"dvc repro --force --downstream {start}", echo):
            dvc(workdir, "repro", "--force", "--downstream", start)
    return stale


def reproduce(commit: str, workdir: Path | None = None, start: str = "train", keep: bool = False,
              repo: Path = REPO_ROOT, echo: Echo = print) -> Reproduction:
    """Rebuild ``commit``'s result in a fresh worktree and compare it with the committed one."""
    sha = resolve_commit(repo, commit)
    repro: dict[str, Any] = (yaml.safe_load(show(repo, sha, "params.yaml")) or {}).get("repro") or {}
    if not repro:
        raise ReproError(f"commit {sha[:12]} has no repro section in params.yaml: it predates the DVC pipeline")
    scores_path = f"{repro['reports']}/{SCORES}"
    recorded, pinned = json.loads(show(repo, sha, scores_path)), read_lock(show(repo, sha, LOCK_FILE))
    scratch = None if workdir else Path(tempfile.mkdtemp(prefix=f"mosaic-reproduce-{sha[:12]}-"))
    workdir = (workdir or scratch / "checkout").resolve()
    timings: dict[str, float] = {}
    with timed(timings, f"worktree of {sha[:12]} in {workdir}", echo):
        run(["git", "worktree", "add", "--detach", str(workdir), sha], repo, capture=True)
    try:
        stale = _rebuild(repo, workdir, start, timings, echo)
        reproduced = json.loads((workdir / scores_path).read_text())
        now = read_lock((workdir / LOCK_FILE).read_text())
    finally:
        if not keep:
            run(["git", "worktree", "remove", "--force", str(workdir)], repo, capture=True)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
    return Reproduction(sha, workdir, stale, timings, compare_scores(recorded, reproduced, repro["score_tolerance"]),
                        changed_outputs(pinned, now))
