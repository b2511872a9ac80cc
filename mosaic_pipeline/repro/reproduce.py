"""``mosaic reproduce COMMIT``: a commit's result rebuilt in a fresh git worktree and checked against its record.

1. ``git worktree add --detach`` of the commit (a temporary folder unless one is given);
2. the worktree's DVC remote pointed at this checkout's default remote (a folder remote is written
   relative to ``.dvc/``, which would resolve beside the worktree);
3. ``dvc pull --allow-missing``: the pinned data of the commit's dvc.lock, as far as the remote has it;
4. ``dvc repro``: every stage whose outputs are missing (or stale) is rerun;
5. ``dvc repro --force --downstream START`` (default ``train``): the result itself is recomputed, unless
   step 4 already did;
6. the new scores are compared with the commit's committed metrics file, within the commit's
   ``repro.score_tolerance``; the outputs whose hash differs from the commit's dvc.lock are listed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..params import REPO_ROOT
from .scores import ScoreDiff, compare_scores
from .versions import LOCK_FILE, OutputChange, changed_outputs, read_lock

DVC_ENV = "MOSAIC_DVC"  # the dvc executable; default: .venv-dvc/bin/dvc of this checkout, else dvc on PATH
CHECKOUT_LOCAL_ENV = ("DAGSTER_HOME", "MOSAIC_PARAMS", "MOSAIC_ARTIFACTS")  # would point stages at another checkout
SCORES = "bench/scores.json"  # under repro.reports: the metrics file of the evaluate stage

Echo = Callable[[str], None]


class ReproError(RuntimeError):
    """A step of the reproduction failed (its command and output are in the message)."""


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


def _find_dvc() -> str | None:
    local = REPO_ROOT / ".venv-dvc" / "bin" / "dvc"
    return os.environ.get(DVC_ENV) or (str(local) if local.is_file() else shutil.which("dvc"))


def dvc_executable() -> str:
    found = _find_dvc()
    if not found:
        raise ReproError(f"no dvc: run scripts/setup_env.sh (it creates .venv-dvc/) or set {DVC_ENV}")
    return found


def tool_env() -> dict[str, str]:
    """The environment of git, DVC and the stages: this Python environment first on PATH (stages run
    ``python -m mosaic_cli``), without variables that point at another checkout."""
    env = {k: v for k, v in os.environ.items() if k not in CHECKOUT_LOCAL_ENV}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DVC_NO_ANALYTICS"] = "1"
    dvc = _find_dvc()
    if dvc:  # a `mosaic reproduce` run from another checkout (a worktree, a copy) uses this same DVC
        env[DVC_ENV] = dvc
    return env


def run(cmd: list[str], cwd: Path, capture: bool = False) -> str:
    """Run a command, its output captured or streamed to stderr (stdout keeps the report); ReproError on
    a non-zero exit."""
    streams = {"capture_output": True} if capture else {"stdout": sys.stderr}
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(), text=True, **streams)
    if proc.returncode:
        detail = f":\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}" if capture else ""
        raise ReproError(f"`{' '.join(cmd)}` failed in {cwd} (exit {proc.returncode}){detail}")
    return proc.stdout if capture else ""


def dvc(cwd: Path, *args: str, capture: bool = False) -> str:
    return run([dvc_executable(), *args], cwd, capture)


def resolve_commit(repo: Path, commit: str) -> str:
    return run(["git", "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], repo, capture=True).strip()


def show(repo: Path, sha: str, path: str) -> str:
    """A file as committed; ReproError naming the file when the commit has none."""
    try:
        return run(["git", "show", f"{sha}:{path}"], repo, capture=True)
    except ReproError as exc:
        raise ReproError(f"commit {sha[:12]} has no {path}: it has no recorded result to reproduce") from exc


def default_remote(repo: Path) -> tuple[str, str]:
    """(name, resolved URL) of the checkout's default DVC remote."""
    name = dvc(repo, "remote", "default", capture=True).strip()
    for line in dvc(repo, "remote", "list", capture=True).splitlines():
        fields = line.split()
        if fields and fields[0] == name:
            return name, fields[1]
    raise ReproError(f"{repo}: no default DVC remote (`dvc remote add -d NAME URL`)")


def point_remote(repo: Path, workdir: Path) -> str:
    """Give the worktree this checkout's default remote (in its git-ignored .dvc/config.local)."""
    name, url = default_remote(repo)
    if "://" not in url:
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
    remote = point_remote(repo, workdir)
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
