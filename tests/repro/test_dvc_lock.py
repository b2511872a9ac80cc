"""dvc.lock against dvc.yaml, params.yaml and the tracked code (mosaic_pipeline.repro.lock_status), with the
real DVC (.venv-dvc/): on a small DVC repository made here, and on this checkout (CI: scripts/test.sh).

When ``test_committed_dvc_lock_is_current`` fails: run the pipeline (``dvc repro``, docs/reproducing.md)
and commit the new dvc.lock with the results; `mosaic dvc-lock-check` lists what changed.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mosaic_pipeline.params import REPO_ROOT
from mosaic_pipeline.repro.lock_status import lock_staleness
from mosaic_pipeline.repro.tools import DVC_ENV, DVC_VENV, find_dvc, tool_env

pytestmark = pytest.mark.skipif(find_dvc() is None, reason=f"no DVC: {DVC_VENV}/ is missing (scripts/setup_env.sh "
                                                             f"creates it) and neither {DVC_ENV} nor PATH names dvc")

PIPELINE = {"stages": {
    "make": {"cmd": "cat ${data}/in.txt code.py > ${data}/out.txt && cp m.src m.json",
             "deps": ["${data}/in.txt", "code.py"], "params": ["a.x", "b"],
             "outs": ["${data}/out.txt"], "metrics": [{"m.json": {"cache": False}}]},
}}


def _sh(repo: Path, *cmd: str) -> str:
    proc = subprocess.run(cmd, cwd=repo, env=tool_env(), text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def _git(repo: Path, *args: str) -> str:
    return _sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", *args)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A committed DVC repository whose lock is current; its data folder is git-ignored (as artifacts/)."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "in.txt").write_text("data\n")
    (repo / "code.py").write_text("print(1)\n")
    (repo / "m.src").write_text('{"v": 1}\n')
    (repo / ".gitignore").write_text("/data/\n")
    (repo / "params.yaml").write_text(yaml.safe_dump({"data": "data", "a": {"x": 1, "y": 2}, "b": 3}))
    (repo / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE))
    _git(repo, "init", "-q")
    _sh(repo, find_dvc(), "init", "-q")
    _sh(repo, find_dvc(), "repro", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "result")
    return repo


def _edit_stage(repo: Path, **changes) -> None:
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    pipeline["stages"]["make"].update(changes)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline))


def _stale(repo: Path) -> list[str]:
    return [str(s) for s in lock_staleness(repo)]


@pytest.mark.timeout(300)
def test_lock_of_a_fresh_repro_is_current_also_without_the_data(repo):
    assert _stale(repo) == []
    shutil.rmtree(repo / "data")  # a clean clone: no data, no cache
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    assert _stale(repo) == []


@pytest.mark.timeout(300)
def test_code_params_and_committed_outputs_changed_since_the_lock_are_stale(repo):
    (repo / "code.py").write_text("print(2)\n")
    assert _stale(repo) == ["make: dep code.py: modified"]
    _git(repo, "checkout", "--", "code.py")
    (repo / "params.yaml").write_text(yaml.safe_dump({"data": "data", "a": {"x": 5, "y": 2}, "b": 3}))
    assert _stale(repo) == ["make: param a.x: modified"]
    _git(repo, "checkout", "--", "params.yaml")
    (repo / "m.json").write_text('{"v": 2}\n')
    assert _stale(repo) == ["make: out m.json: modified"]


@pytest.mark.timeout(300)
def test_dvc_yaml_changed_since_the_lock_is_stale(repo):
    _edit_stage(repo, cmd="cat ${data}/in.txt code.py > ${data}/out.txt && cp m.src m.json && true")
    assert _stale(repo) == ["make: changed command"]
    _git(repo, "checkout", "--", "dvc.yaml")
    _edit_stage(repo, params=["a.x"])  # `dvc status` alone does not see a parameter dropped ...
    assert _stale(repo) == ["make: param params.yaml:b: in dvc.lock, not in dvc.yaml"]
    _edit_stage(repo, params=["a.x", "b"], deps=["${data}/in.txt"])  # ... nor a dep dropped
    assert _stale(repo) == ["make: dep code.py: in dvc.lock, not in dvc.yaml"]
    _git(repo, "checkout", "--", "dvc.yaml")
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    pipeline["stages"]["more"] = {"cmd": "cp ${data}/out.txt ${data}/more.txt", "deps": ["${data}/out.txt"],
                                  "outs": ["${data}/more.txt"]}  # nor a new stage with data deps only
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline))
    assert _stale(repo) == ["more: in dvc.yaml, not in dvc.lock"]


@pytest.mark.timeout(120)
def test_committed_dvc_lock_is_current():
    """The lock the pipeline wrote for this commit's dvc.yaml, params.yaml and code (data need not be here)."""
    stale = _stale(REPO_ROOT)
    assert stale == [], ("dvc.lock is stale: run the pipeline (`dvc repro`, docs/reproducing.md) and commit "
                         "dvc.lock with results/pipeline:\n  " + "\n  ".join(stale))
