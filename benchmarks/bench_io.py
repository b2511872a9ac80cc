"""What the benchmark scripts share: the JSON they print and write, and a baseline measured on another checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mosaic_pipeline.provenance import COMMIT_TAG, DIRTY_TAG, git_tags


def provenance() -> dict:
    """The command line that ran, the commit of the checkout it ran in and whether its tracked files differ
    from it (``mosaic_pipeline.provenance.git_tags``); None where there is no git, as on the GPU machine:
    pass ``--commit`` there."""
    tags = git_tags()
    commit, dirty = tags[COMMIT_TAG], tags[DIRTY_TAG]
    return {"command": " ".join(["python", *sys.argv]), "commit": None if commit == "unknown" else commit,
            "commit_dirty": None if dirty == "unknown" else dirty == "true"}


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
