"""A temporary git repository holding this checkout's pipeline (code, dvc.yaml, .dvc/config) on tiny scenes.

Its DVC remote is the committed one (params.yaml ``repro.remote``, ``.dvc-remote/`` inside the repository,
created by ``mosaic dvc-remote``). DVC runs from ``.venv-dvc/`` (scripts/setup_env.sh) or ``$MOSAIC_DVC``;
the stages run this test's Python (``tool_env`` puts it first on PATH).
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import yaml
from small_params import SMALL_OVERRIDES

from mosaic_pipeline.params import REPO_ROOT
from mosaic_pipeline.repro.tools import dvc_executable, tool_env

PIPELINE_FILES = ("mosaic_pipeline", "mosaic_model", "mosaic_assets", "mosaic_cli", "configs", "expectations", "dvc.yaml", ".dvc/config",
                  ".dvc/.gitignore", ".dvcignore", ".gitignore", "params.yaml", "dagster.yaml", "pyproject.toml")
TINY = {**SMALL_OVERRIDES, "synthetic": {"n_frames": 24, "image_width": 160, "image_height": 120},
        "views": {"max_overlap": 0.6}, "model": {"config": "ci"},
        # 8 scenes (4 bench): after the split-level debiasing (docs/audit.md) every task still reaches both splits;
        # balance is not judged on groups this small (the balance tests are tests/qa and tests/quality)
        "qa": {"max_per_scene_task": 10}, "quality": {"min_group_size": 1000},
        "geometry_pretrain": {"steps": 4, "batch_size": 2, "frames_per_sample": 2, "frame_window": 4,
                              "eval_samples": 2, "log_every": 1}}
CI_TRAIN = {"max_steps": 4, "save_every": 4, "eval_batch_size": 32}  # the tiny model, 4 steps
SCENE_SEED = 1  # its two scenes between them have every task of the train and bench splits (coverage check)
SCENE_LIST = "scene_lists/test.yaml"


def sh(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(), text=True, capture_output=True, timeout=900)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(repo, dvc_executable(), *args, check=check)


def git(repo: Path, *args: str) -> str:
    return sh(repo, "git", "-c", "user.name=repro-test", "-c", "user.email=repro@test", *args).stdout


def _copy_pipeline(repo: Path) -> None:
    listed = sh(REPO_ROOT, "git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *PIPELINE_FILES)
    for rel in listed.stdout.splitlines():
        src, dst = REPO_ROOT / rel, repo / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())


def _tiny_params(repo: Path, n_scenes: int) -> None:
    (repo / SCENE_LIST).parent.mkdir(parents=True, exist_ok=True)
    (repo / SCENE_LIST).write_text(yaml.safe_dump({
        "name": "test", "synthetic": {"seed": SCENE_SEED, "count": n_scenes, "id_prefix": "synth"},
        "splits": {"bench": [f"synth_{i:04d}" for i in range(n_scenes // 2, n_scenes)]}}))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section] = {**params[section], **values}
    params["scene_set"] = {"list": SCENE_LIST}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    config = yaml.safe_load((repo / "configs/model/tiny.yaml").read_text())
    config["model"]["name"] = "ci"
    config["train"].update(CI_TRAIN)
    (repo / "configs/model/ci.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def make_pipeline_repo(root: Path, n_scenes: int = 8) -> Path:
    """root/repo: the pipeline on ``n_scenes`` tiny scenes, committed; its remote is root/repo/.dvc-remote."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    _copy_pipeline(repo)
    _tiny_params(repo, n_scenes)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pipeline on tiny scenes")
    return repo


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> hash)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
