"""What the benchmark scripts share: the JSON they print and write, and a baseline measured on another checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def provenance() -> dict:
    """The command line that ran and the commit of the checkout it ran in (``"dirty"`` when its tracked files
    differ from the commit; None where there is no git, as on the GPU machine: pass ``--commit`` there)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"command": " ".join(["python", *sys.argv]), "commit": git("rev-parse", "HEAD"),
            "commit_dirty": None if dirty is None else bool(dirty)}


STARTED_AT = provenance()  # read when the script starts: a commit made while it runs is not the code that ran


def emit(result: dict, out: Path | None) -> None:
    """``result`` as sorted, indented JSON on stdout and, with ``out``, in that file; the command and the
    commit (:data:`STARTED_AT`) added where the script did not set them."""
    result = {**STARTED_AT, **{k: v for k, v in result.items() if v is not None or k not in ("command", "commit")}}
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def run_baseline(tree: Path, script: str, argv: list[str]) -> dict:
    """``script`` run with ``argv`` in a child process importing the checkout ``tree`` first: its ``this_tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    done = subprocess.run([sys.executable, script, *argv], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["this_tree"]
