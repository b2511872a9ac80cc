"""The distributed mode for real, on loopback: PostgreSQL (run storage) and Redis (Celery broker and
results) started here, two `mosaic worker`s with their own DAGSTER_HOME (as on two hosts), `mosaic ui`
with MOSAIC_EXECUTOR=celery, and a backfill of three scene partitions spread across the workers."""
from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack

import psycopg2
import pytest
from small_params import write_small_params
from stack import record_wall_time

from mosaic_assets.services import celery_worker, dagster_ui, postgres, project_env, redis_server
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import load_params

WORKERS = ("w1", "w2")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_backfill_on_two_celery_workers(tmp_path):
    params = write_small_params(tmp_path, n_scenes=3)
    partitions = [e.scene_id for e in load_catalog(load_params(params))]
    with ExitStack() as services:
        pg_url = services.enter_context(postgres(tmp_path))
        redis_url = services.enter_context(redis_server(tmp_path))
        env = {"MOSAIC_PARAMS": params, "MOSAIC_EXECUTOR": "celery", "MOSAIC_DAGSTER_YAML": "deploy/celery/dagster.yaml",
               "MOSAIC_CELERY_BROKER": f"{redis_url}/0", "MOSAIC_CELERY_BACKEND": f"{redis_url}/1",
               "MOSAIC_POSTGRES_URL": pg_url.replace("postgresql://", "postgresql+psycopg2://", 1)}
        for name in WORKERS:
            services.enter_context(celery_worker(name, project_env(**env, DAGSTER_HOME=tmp_path / f"home_{name}"),
                                                 tmp_path))
        ui = services.enter_context(dagster_ui(project_env(**env, DAGSTER_HOME=tmp_path / "home_ui"), tmp_path))
        assets = ui.partitioned_assets()
        t0 = time.monotonic()
        runs = ui.wait_backfill(ui.launch_backfill(assets, partitions), 1500)
        wall = time.monotonic() - t0

        statuses = {t["value"]: r["status"] for r in runs for t in r["tags"] if t["key"] == "dagster/partition"}
        assert statuses == {p: "SUCCESS" for p in partitions}, [ui.run_errors(r["runId"]) for r in runs]
        # Every step of every run ran in a Celery worker, and both workers took some.
        steps_by_worker: Counter[str] = Counter()
        for run in runs:
            events = ui.run_logs(run["runId"])
            executed = {e["stepKey"] for e in events if e["__typename"] == "ExecutionStepSuccessEvent"}
            delegated = {e["stepKey"]: _worker(e) for e in events if "in celery worker" in e.get("message", "")}
            assert executed and executed == set(delegated), (executed, delegated)
            steps_by_worker.update(delegated.values())
        assert set(steps_by_worker) == set(WORKERS), steps_by_worker
        # The runs live in PostgreSQL, which every host reaches.
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
            assert cur.fetchone()[0] == len(partitions)
    record_wall_time("backfill_celery", wall, partitions=len(partitions), assets=["/".join(a) for a in assets],
                     executor="celery (2 workers x 1 slot)", instance="postgresql",
                     steps_by_worker=dict(steps_by_worker))


def _worker(event: dict) -> str:
    """The worker name (before @host) from the executor's 'Executing steps ... in celery worker' event."""
    (node,) = [m["text"] for m in event["metadataEntries"] if m["label"] == "Celery worker"]
    return node.split("@")[0]
