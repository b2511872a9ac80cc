"""The README's run command from a clean clone: wall time of ``scripts/run.sh`` with its setup (JSON).

    python benchmarks/readme_run.py [--out benchmarks/results/readme_run.json]

Clones this checkout's HEAD into a temporary folder, runs ``scripts/run.sh`` there (environment setup, then
every asset on the default scene set, its own Dagster instance) and reports the wall time of the whole command,
of the setup (until ``mosaic run`` starts: the line "N/N runs succeeded in S s" gives the pipeline's part),
the CPU seconds of all its processes, and the load average before and after. The installers' caches are
whatever this machine holds (``pip_cache_entries`` counts only the wheels pip built locally, ``pip cache
list``; its HTTP cache of downloads is not counted), unless ``--cold-cache``: then pip and uv get empty caches
in the temporary folder, so every wheel is downloaded, as on a fresh machine (``cold_cache`` in the JSON).
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_io import emit

REPO = Path(__file__).resolve().parents[1]
SUCCEEDED = re.compile(r"(\d+)/(\d+) runs succeeded in (\d+) s")


def _pip_cache_entries() -> int:
    out = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "--format=abspath"], capture_output=True,
                         text=True)
    return len(out.stdout.splitlines()) if out.returncode == 0 else -1


def measure(cold_cache: bool) -> dict:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "mosaic"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = {**os.environ, "DAGSTER_HOME": str(clone / ".dagster_home")}
        if cold_cache:
            env |= {"PIP_CACHE_DIR": str(Path(tmp) / "pip-cache"), "UV_CACHE_DIR": str(Path(tmp) / "uv-cache")}
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        done = subprocess.run(["scripts/run.sh"], cwd=clone, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        load_after = os.getloadavg()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = SUCCEEDED.search(done.stdout + done.stderr)
    pipeline = float(match.group(3)) if match else None
    return {"command": "python benchmarks/readme_run.py" + (" --cold-cache" if cold_cache else ""), "commit": commit,
            "cold_cache": cold_cache, "exit_status": done.returncode,
            "runs": f"{match.group(1)}/{match.group(2)}" if match else None,
            "wall_seconds": round(wall, 1), "pipeline_seconds": pipeline,
            "setup_seconds": round(wall - pipeline, 1) if pipeline is not None else None,
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "pip_cache_entries": _pip_cache_entries(), "target_wall_seconds": 600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--cold-cache", action="store_true", help="empty pip and uv caches (a fresh machine)")
    args = parser.parse_args()
    emit(measure(args.cold_cache), args.out)


if __name__ == "__main__":
    main()
