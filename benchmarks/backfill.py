"""Wall time of a backfill of every scene partition of the default scene set, under the multiprocess
executor (one machine) and under dagster-celery (distributed), on loopback (JSON on stdout).

    python benchmarks/backfill.py [--executor multiprocess|multiprocess-spawn|celery|both|start-methods]
                                  [--scenes N] [--out result.json]

What is measured is what a person gets from the UI's Materialize dialog: `mosaic ui` (Dagster
webserver + daemon) is started, one asset backfill of the per-scene assets (`scenes`, `frames`,
`visibility`, `view_samples`, `qa_shards` and its blocking GX check) over the first N partitions (all
by default) is launched through the GraphQL API the UI calls, and the wall time runs from the launch
to the end of the last run (the runs' own end times, not the 2 s polling). Service start-up is timed
apart. The pipeline parameters are the repository's params.yaml as is (full-size frames); only the
output folders move to a fresh temporary folder per executor, so neither measurement reuses the
other's outputs (or the checkout's artifacts/).

- ``multiprocess``: the repository's dagster.yaml (SQLite instance, QueuedRunCoordinator with
  max_concurrent_runs 2) and Dagster's multiprocess executor: at most 2 runs, so 2 steps, at once
  (the per-scene assets form a chain, so a run executes one step at a time).
- ``multiprocess-spawn``: the same with ``MOSAIC_START_METHOD=spawn`` (Dagster's default start method: a fresh
  interpreter per step, which imports the definitions again), the baseline of the forkserver that
  ``multiprocess`` uses (``--executor start-methods`` runs the two one after the other).
- ``celery``: deploy/celery/dagster.yaml (PostgreSQL instance; max_concurrent_runs 8, the runs only
  orchestrate), Redis as broker and result backend, and two `mosaic worker`s with one slot each (each
  with its own DAGSTER_HOME, as on two hosts): at most 2 steps at once as well.

The machine's load average is recorded before, during (sampled) and after each backfill: on a shared
machine other work changes the figures, and the backfill itself adds about 2 to it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from mosaic_assets.services import DagsterUI, celery_worker, dagster_ui, postgres, project_env, redis_server
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import REPO_ROOT, load_params

EXECUTORS = ("multiprocess", "multiprocess-spawn", "celery")
GROUPS = {"both": ("multiprocess", "celery"), "start-methods": ("multiprocess-spawn", "multiprocess")}
WORKERS = ("w1", "w2")
STEP_EVENTS = """
query($runId: ID!) { logsForRun(runId: $runId, limit: 100000) { __typename ... on EventConnection { events {
  __typename ... on MessageEvent { timestamp stepKey message }
  ... on DisplayableEvent { metadataEntries { label ... on TextMetadataEntry { text } } } } } } }
"""
STEP_END = {"ExecutionStepSuccessEvent": "succeeded", "ExecutionStepFailureEvent": "failed"}


def benchmark_params(params_file: Path, workdir: Path) -> Path:
    """A copy of ``params_file`` whose outputs (artifacts, synthetic release) go under ``workdir``.

    Every other value is kept; relative paths that remain (the scene list) are made absolute, since
    they are resolved against the repository root and the copy lives elsewhere.
    """
    params = load_params(params_file)
    data = yaml.safe_load(params_file.read_text())
    data["paths"]["artifacts"] = str(workdir / "artifacts")
    data["paths"]["synthetic_release"] = str(workdir / "artifacts" / "synthetic")
    if data["paths"].get("scannetpp_release"):
        data["paths"]["scannetpp_release"] = str(params.resolve(data["paths"]["scannetpp_release"]))
    data["scene_set"]["list"] = str(params.resolve(data["scene_set"]["list"]))
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class LoadSampler:
    """The 1-minute load average, sampled every ``every`` seconds in a daemon thread."""

    def __init__(self, every: float = 15.0):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float | int]:
        s = self.samples or [os.getloadavg()[0]]
        return {"samples": len(s), "mean_1min": round(sum(s) / len(s), 2), "max_1min": round(max(s), 2)}


def load_average() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1min": round(one, 2), "5min": round(five, 2), "15min": round(fifteen, 2)}


@contextmanager
def services(executor: str, params: Path, workdir: Path) -> Iterator[DagsterUI]:
    """`mosaic ui` for ``executor`` (and for celery: PostgreSQL, Redis and the two workers)."""
    with ExitStack() as stack:
        env: dict[str, str | os.PathLike] = {"MOSAIC_PARAMS": params}
        if executor == "multiprocess-spawn":
            env["MOSAIC_START_METHOD"] = "spawn"
        if executor == "celery":
            pg_url = stack.enter_context(postgres(workdir))
            redis_url = stack.enter_context(redis_server(workdir))
            env.update({"MOSAIC_EXECUTOR": "celery", "MOSAIC_DAGSTER_YAML": "deploy/celery/dagster.yaml",
                        "MOSAIC_CELERY_BROKER": f"{redis_url}/0", "MOSAIC_CELERY_BACKEND": f"{redis_url}/1",
                        "MOSAIC_POSTGRES_URL": pg_url.replace("postgresql://", "postgresql+psycopg2://", 1)})
            for name in WORKERS:
                stack.enter_context(celery_worker(name, project_env(**env, DAGSTER_HOME=workdir / f"home_{name}"),
                                                  workdir))
        yield stack.enter_context(dagster_ui(project_env(**env, DAGSTER_HOME=workdir / "home_ui"), workdir))


def step_summary(ui: DagsterUI, run_ids: list[str]) -> dict[str, Any]:
    """Steps that succeeded / failed over all runs, the most that ran at once, (celery) per worker, and the
    median gap from a step's end to the next step's start in the same run: the cost of starting a step."""
    ends: Counter[str] = Counter()
    gaps: list[float] = []
    by_worker: Counter[str] = Counter()
    edges: list[tuple[float, int]] = []  # +1 at a step's start, -1 at its end, over all runs
    for run_id in run_ids:
        events = ui.graphql(STEP_EVENTS, {"runId": run_id})["logsForRun"]["events"]
        started: dict[str, float] = {}
        last_end: float | None = None
        for e in events:
            kind, step = e["__typename"], e.get("stepKey")
            if kind == "ExecutionStepStartEvent":
                started[step] = float(e["timestamp"]) / 1000
                if last_end is not None:
                    gaps.append(started[step] - last_end)
            elif kind in STEP_END:
                ends[STEP_END[kind]] += 1
                last_end = float(e["timestamp"]) / 1000
                if step in started:
                    edges += [(started.pop(step), 1), (last_end, -1)]
            elif "in celery worker" in (e.get("message") or ""):  # one event per step given to a worker
                (node,) = [m["text"] for m in e["metadataEntries"] if m["label"] == "Celery worker"]
                by_worker[node.split("@")[0]] += 1
    running = most = 0
    for _, delta in sorted(edges, key=lambda edge: (edge[0], edge[1])):  # ends before starts at a tie
        running += delta
        most = max(most, running)
    return {"succeeded": ends["succeeded"], "failed": ends["failed"], "max_at_once": most,
            "median_start_gap_seconds": round(statistics.median(gaps), 2) if gaps else None,
            **({"by_worker": dict(by_worker)} if by_worker else {})}


def measure(executor: str, params_file: Path, n_scenes: int | None, timeout: float, keep: bool) -> dict[str, Any]:
    """One backfill of the per-scene assets under ``executor`` in a fresh temporary folder."""
    workdir = Path(tempfile.mkdtemp(prefix=f"mosaic-backfill-{executor}-"))
    params = benchmark_params(params_file, workdir)
    partitions = [e.scene_id for e in load_catalog(load_params(params))][:n_scenes]
    result: dict[str, Any] = {"executor": executor, "workdir": str(workdir), "scenes": len(partitions),
                              "partitions": partitions, "load_before": load_average()}
    failed = True
    try:
        t_start = time.monotonic()
        with services(executor, params, workdir) as ui:
            result["startup_seconds"] = round(time.monotonic() - t_start, 1)
            assets = ui.partitioned_assets()
            result["assets"] = ["/".join(a) for a in assets]
            with LoadSampler() as load:
                launched = time.time()
                runs = ui.wait_backfill(ui.launch_backfill(assets, partitions), timeout)
                polled = time.time() - launched
            result["load_during"] = load.summary()
            result["load_after"] = load_average()
            ended = [r["endTime"] for r in runs if r.get("endTime")]
            result["wall_seconds"] = round(max(ended) - launched, 1) if ended else None
            result["wall_seconds_polled"] = round(polled, 1)
            statuses = Counter(r["status"] for r in runs)
            result["runs"] = {"total": len(runs), "succeeded": statuses["SUCCESS"],
                              "failed": len(runs) - statuses["SUCCESS"], "statuses": dict(statuses)}
            result["steps"] = step_summary(ui, [r["runId"] for r in runs])
            result["errors"] = {r["runId"]: ui.run_errors(r["runId"]) for r in runs if r["status"] != "SUCCESS"}
        failed = bool(result["runs"]["failed"])
        return result
    finally:
        if keep or failed:
            result["kept"] = True  # logs of the services (*.log) and the outputs, to look at
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return {"hash": git("rev-parse", "HEAD"), "dirty_paths": len(git("status", "--porcelain").splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=[*EXECUTORS, *GROUPS], default="both")
    parser.add_argument("--scenes", type=int, default=None, help="only the first N partitions (default: all)")
    parser.add_argument("--params", type=Path, default=REPO_ROOT / "params.yaml",
                        help="parameters to run with (default: the repository's params.yaml); outputs are moved to a temporary folder")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds a backfill may take")
    parser.add_argument("--keep", action="store_true", help="keep each executor's temporary folder (outputs, service logs)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here (after each executor)")
    args = parser.parse_args()
    if args.scenes is not None and args.scenes < 1:
        parser.error("--scenes must be at least 1")

    report: dict[str, Any] = {
        "benchmark": "backfill of the per-scene assets, launch to the last run's end",
        "params": str(args.params), "scene_list": load_params(args.params).scene_set.list,
        "commit": commit(), "cpu_count": os.cpu_count(), "host": platform.node(),
        "dagster": version("dagster"), "dagster_celery": version("dagster-celery"),
        "parallelism": {"multiprocess": "dagster.yaml: QueuedRunCoordinator max_concurrent_runs 2 -> 2 runs (steps) at once",
                        "celery": f"{len(WORKERS)} mosaic workers x 1 slot -> 2 steps at once "
                                  "(deploy/celery/dagster.yaml: max_concurrent_runs 8, runs only orchestrate)"},
        "results": {},
    }
    for executor in GROUPS.get(args.executor, (args.executor,)):
        report["results"][executor] = measure(executor, args.params, args.scenes, args.timeout, args.keep)
        text = json.dumps(report, indent=2)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
