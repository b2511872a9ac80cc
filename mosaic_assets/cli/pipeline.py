"""``mosaic run`` (materialize the pipeline on the default scene set) and ``mosaic ui`` (the Dagster UI)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import click

from ..params import REPO_ROOT, default_params

UI_HOST = "127.0.0.1"


@click.command("run")
@click.option("--scene", "scene_ids", multiple=True, help="Only these scene partitions (default: the whole catalog).")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default=True,
              help="Scene partitions materialized in parallel (one process each).")
@click.option("--no-downstream", is_flag=True, help="Stop after the per-scene assets.")
def run(scene_ids: tuple[str, ...], workers: int, no_downstream: bool) -> None:
    """Materialize every asset on the catalog's scenes, with runs recorded in the Dagster instance."""
    from ..catalog import load_catalog
    from ..defs.runner import run_pipeline

    params = default_params()
    ids = list(scene_ids) or [e.scene_id for e in load_catalog(params)]
    t0 = time.perf_counter()
    outcomes = run_pipeline(ids, workers, downstream=not no_downstream)
    failed = [o for o in outcomes if not o.success]
    for o in outcomes:
        click.echo(f"{'ok    ' if o.success else 'FAILED'} {o.what:<16} run {o.run_id}" + (f"  {o.error}" if o.error else ""))
    click.echo(f"\n{len(outcomes) - len(failed)}/{len(outcomes)} runs succeeded in {time.perf_counter() - t0:.0f} s")
    click.echo(f"outputs:        {params.artifacts}")
    click.echo(f"dagster home:   {os.environ['DAGSTER_HOME']}")
    click.echo(f"UI:             `mosaic ui` (or scripts/ui.sh), then open http://{UI_HOST}:3000")
    sys.exit(1 if failed else 0)


@click.command("ui")
@click.option("--port", type=int, default=3000, show_default=True)
def ui(port: int) -> None:
    """Serve the Dagster UI (webserver + daemon) on 127.0.0.1 over the project's own instance."""
    from ..defs.runner import prepare_dagster_home

    prepare_dagster_home()
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", UI_HOST, "-p", str(port), "-m", "mosaic_assets.definitions"]
    click.echo(f"Dagster UI on http://{UI_HOST}:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    sys.exit(subprocess.call(cmd, cwd=REPO_ROOT))
