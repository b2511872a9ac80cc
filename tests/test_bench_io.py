"""benchmarks/bench_io.py: every benchmark JSON names the command that made it and the commit it ran at."""
from __future__ import annotations

import json
import subprocess
import sys

from mosaic_pipeline.params import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"


def _emit(tmp_path, result: dict) -> dict:
    """``emit(result)`` in a child process, as a benchmark script calls it (argv: ``--flag``)."""
    script = tmp_path / "script.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(BENCHMARKS)!r})\nfrom bench_io import emit\n"
                      f"from pathlib import Path\nemit({result!r}, Path(sys.argv[2]))\n")
    out = tmp_path / "out" / "r.json"
    subprocess.run([sys.executable, str(script), "--flag", str(out)], check=True, capture_output=True,
                   cwd=REPO_ROOT)
    return json.loads(out.read_text())


def test_emit_adds_the_command_and_the_commit_of_the_checkout(tmp_path):
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    written = _emit(tmp_path, {"figure": 1.5})
    assert written["figure"] == 1.5 and written["commit"] == head
    assert written["command"].startswith("python ") and written["command"].endswith(f"--flag {tmp_path}/out/r.json")
    assert isinstance(written["commit_dirty"], bool)


def test_a_commit_the_script_names_wins_and_a_missing_one_does_not(tmp_path):
    """On the GPU machine there is no git: ``--commit`` names it; a script leaving it None gets git's."""
    assert _emit(tmp_path, {"commit": "abc123", "command": "x"})["commit"] == "abc123"
    assert _emit(tmp_path, {"commit": None})["commit"] is not None
