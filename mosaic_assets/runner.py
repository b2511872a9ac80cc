"""Running the pipeline outside the UI (``mosaic run``): same instance, same runs as the UI shows.

Unpartitioned assets first (the catalog), then the per-scene job for every partition (several
partitions in parallel, each in its own process), then the unpartitioned downstream assets. One
failed scene does not stop the others; the summary names it. ``assets`` restricts every run to
those assets (a DVC stage materializes its own assets only; dvc.yaml).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Collection
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from mosaic_pipeline.params import REPO_ROOT, params_path
from mosaic_pipeline.provenance import dagster_run_tags

DAGSTER_HOME_DIR = ".dagster_home"
DOWNSTREAM_JOBS = ("datasets", "model")  # after the per-scene partitions, in this order
INSTANCE_YAML_ENV = "MOSAIC_DAGSTER_YAML"  # the instance config to install (distributed: deploy/celery/dagster.yaml)


def prepare_dagster_home(root: Path = REPO_ROOT) -> Path:
    """Point DAGSTER_HOME at the project-local home (unless the user set one) holding our dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or root / DAGSTER_HOME_DIR)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / os.environ.get(INSTANCE_YAML_ENV, "dagster.yaml"), home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass(frozen=True)
class RunOutcome:
    what: str  # a partition key or a job name
    run_id: str
    success: bool
    error: str = ""


def failure_message(step_failure_event) -> str:
    """The innermost error of a step failure (the user code's own message, e.g. a SceneError)."""
    err = step_failure_event.event_specific_data.error
    while err.cause is not None:
        err = err.cause
    return err.message.strip()


def asset_names() -> set[str]:
    from .definitions import defs

    return {key.to_user_string() for key in defs.resolve_all_asset_keys()}


def job_assets(job_name: str, assets: Collection[str] | None) -> list[str] | None:
    """The assets of a job among ``assets`` (None: the whole job, [] when it has none of them)."""
    from .definitions import defs

    if assets is None:
        return None
    keys = defs.resolve_job_def(job_name).asset_layer.executable_asset_keys
    return sorted(name for name in (k.to_user_string() for k in keys) if name in assets)


def _execute(job_name: str, partition_key: str | None, tags: dict[str, str],
             selection: list[str] | None = None) -> RunOutcome:
    import dagster as dg

    from .definitions import defs

    job = defs.resolve_job_def(job_name)
    instance = dg.DagsterInstance.get()
    try:
        keys = None if selection is None else [dg.AssetKey(name) for name in selection]
        result = job.execute_in_process(instance=instance, partition_key=partition_key, tags=tags,
                                        raise_on_error=False, asset_selection=keys)
    except Exception as exc:  # a definition-level error still must not stop the other scenes
        return RunOutcome(partition_key or job_name, "", False, f"{type(exc).__name__}: {exc}")
    error = ""
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = "; ".join(f"{e.step_key}: {failure_message(e)}" for e in failures)
    return RunOutcome(partition_key or job_name, result.run_id, result.success, error)


def run_pipeline(scene_ids: list[str], workers: int, tags: dict[str, str] | None = None,
                 downstream: bool = True, on_scene: Callable[[RunOutcome], None] | None = None,
                 assets: Collection[str] | None = None) -> list[RunOutcome]:
    """Catalog, then every scene partition, then (while everything succeeded) the all-scene jobs.

    ``on_scene`` is called as each scene partition finishes (the CLI's progress bar). With ``assets``,
    each job runs only those of its assets, and a job with none of them does not run. Every run is
    tagged with the commit and the params and dvc.lock hashes of now (``tags`` added to them).
    """
    from .definitions import jobs

    prepare_dagster_home()
    tags = {**dagster_run_tags(params_path()), **(tags or {})}
    outcomes: list[RunOutcome] = []
    catalog = job_assets("catalog", assets)
    if catalog != []:
        outcomes.append(_execute("catalog", None, tags, catalog))
        if not outcomes[0].success:
            return outcomes
    per_scene = job_assets("per_scene", assets)
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_execute, "per_scene", sid, tags, per_scene) for sid in scene_ids if per_scene != []]
        for done in as_completed(futures):
            if on_scene:
                on_scene(done.result())
        outcomes += [f.result() for f in futures]
    for name in DOWNSTREAM_JOBS if downstream else ():
        if not all(o.success for o in outcomes):
            break
        if any(j.name == name for j in jobs) and (selection := job_assets(name, assets)) != []:
            outcomes.append(_execute(name, None, tags, selection))
    return outcomes
