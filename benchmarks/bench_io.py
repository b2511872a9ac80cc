"""What the benchmark scripts share: the JSON they print and write, and a baseline measured on another checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def emit(result: dict, out: Path | None) -> None:
    """``result`` as sorted, indented JSON on stdout and, with ``out``, in that file."""
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
