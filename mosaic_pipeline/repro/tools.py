"""git and DVC as commands: DVC lives in its own environment (.venv-dvc/, scripts/setup_env.sh) and is
never imported; the stages it runs use this Python environment (``python -m mosaic_cli``)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..params import REPO_ROOT

DVC_ENV = "MOSAIC_DVC"  # the dvc executable; default: .venv-dvc/bin/dvc of this checkout, else dvc on PATH
DVC_VENV = ".venv-dvc"
CHECKOUT_LOCAL_ENV = ("DAGSTER_HOME", "MOSAIC_PARAMS", "MOSAIC_ARTIFACTS")  # would point stages at another checkout


class ReproError(RuntimeError):
    """A step of the reproduction failed (its command and output are in the message)."""


def find_dvc() -> str | None:
    local = REPO_ROOT / DVC_VENV / "bin" / "dvc"
    return os.environ.get(DVC_ENV) or (str(local) if local.is_file() else shutil.which("dvc"))


def dvc_executable() -> str:
    found = find_dvc()
    if not found:
        raise ReproError(f"no dvc: run scripts/setup_env.sh (it creates {DVC_VENV}/) or set {DVC_ENV}")
    return found


def tool_env() -> dict[str, str]:
    """The environment of git, DVC and the stages: this Python environment first on PATH (stages run
    ``python -m mosaic_cli``), without variables that point at another checkout."""
    env = {k: v for k, v in os.environ.items() if k not in CHECKOUT_LOCAL_ENV}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DVC_NO_ANALYTICS"] = "1"
    dvc = find_dvc()
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
