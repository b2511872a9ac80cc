"""``mosaic run`` (materialize the pipeline on the default scene set) and ``mosaic ui`` (the Dagster UI with the
review site beside it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
from tqdm import tqdm

from mosaic_pipeline.params import REPO_ROOT, default_params

UI_HOST = "127.0.0.1"


@click.command("run")
@click.option("--scene", "scene_ids", multiple=True, help="Only these scene partitions (default: the whole catalog).")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default=True,
              help="Scene partitions materialized in parallel (one process each).")
@click.option("--no-downstream", is_flag=True, help="Stop after the per-scene assets.")
@click.option("--asset", "assets", multiple=True,
              help="Only these assets (repeatable; default: every asset). A DVC stage runs its own (dvc.yaml).")
def run(scene_ids: tuple[str, ...], workers: int, no_downstream: bool, assets: tuple[str, ...]) -> None:
    """Materialize every asset on the catalog's scenes, with runs recorded in the Dagster instance."""
    from mosaic_assets.runner import RunOutcome, asset_names, run_pipeline
    from mosaic_pipeline.catalog import load_catalog

    params = default_params()
    catalog = [e.scene_id for e in load_catalog(params)]
    if unknown := sorted(set(scene_ids) - set(catalog)):
        raise click.BadParameter(f"unknown scene id(s) {', '.join(unknown)}: not in the catalog "
                                 f"({params.scene_set.list}, paths.scannetpp_release)", param_hint="--scene")
    ids = list(scene_ids) or catalog
    if unknown := set(assets) - asset_names():
        raise click.BadParameter(f"no such asset: {', '.join(sorted(unknown))}", param_hint="--asset")
    t0 = time.perf_counter()
    with tqdm(total=len(ids), desc="scene partitions", unit="scene") as bar:
        def scene_done(outcome: RunOutcome) -> None:
            if not outcome.success:
                bar.write(f"FAILED {outcome.what}: {outcome.error}", file=sys.stderr)
            bar.update(1)

        outcomes = run_pipeline(ids, workers, downstream=not no_downstream, on_scene=scene_done,
                                assets=set(assets) or None)
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
@click.option("--review-server/--no-review-server", default=True, show_default=True,
              help="Serve the review pages and Data Docs on params.yaml review.host:review.port beside the UI.")
def ui(port: int, review_server: bool) -> None:
    """Serve the Dagster UI (webserver + daemon) on 127.0.0.1 over the project's own instance, and beside it
    the QA review pages and Great Expectations Data Docs that the UI links (docs/review.md)."""
    from mosaic_assets.runner import prepare_dagster_home
    from mosaic_pipeline.quality.serve import PortTaken, serve

    prepare_dagster_home()
    _stoppable_by_sigint()
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", UI_HOST, "-p", str(port), "-m", "mosaic_assets.definitions"]
    click.echo(f"Dagster UI on http://{UI_HOST}:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", err=True)
    if not review_server:
        _exec(cmd)
    try:
        with serve(default_params()) as base:
            click.echo(f"review pages on {base}/review/, Data Docs on {base}/data_docs/", err=True)
            code = _run_beside(cmd)
    except PortTaken as exc:
        raise click.ClickException(f"{exc}; another `mosaic ui`? (or --no-review-server)") from None
    sys.exit(code)


def _stoppable_by_sigint() -> None:
    """SIGINT is how `dagster dev` stops. A process a shell starts in the background (`cmd &`, nohup, many CI
    runners) inherits SIGINT *ignored*, and Python keeps it so: `dagster dev` and its webserver would then never
    stop on it (only the daemon, which sets its own handler). A handled SIGINT becomes the default again at exec,
    so `dagster dev` gets its KeyboardInterrupt back."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _exec(cmd: list[str]) -> None:
    """`dagster dev` takes this process over, so Ctrl-C / SIGINT reach it (and it stops its children)."""
    os.chdir(REPO_ROOT)
    os.execv(cmd[0], cmd)


def _run_beside(cmd: list[str]) -> int:
    """Run `dagster dev` as a child while this process serves the review site; its exit status.

    Ctrl-C reaches the child with the rest of the terminal's process group (this process ignores it and
    waits for the child's shutdown); a SIGTERM to this process is passed on.
    """
    child = subprocess.Popen(cmd, cwd=REPO_ROOT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda sig, _: child.send_signal(sig))
    return child.wait()


@click.command("worker")
@click.option("--name", default=None, help="Worker name (the node name is NAME@host; default: a unique one).")
@click.option("--concurrency", type=int, default=os.cpu_count() or 1, show_default=True,
              help="Steps this worker runs at once.")
def worker(name: str | None, concurrency: int) -> None:
    """A dagster-celery worker for the distributed mode (MOSAIC_EXECUTOR=celery; docs/operations.md)."""
    from mosaic_assets.defs.executors import celery_config_path
    from mosaic_assets.runner import prepare_dagster_home

    prepare_dagster_home()
    bin_dir = os.path.dirname(sys.executable)  # dagster-celery starts `celery` from PATH: this environment's
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    cmd = [os.path.join(bin_dir, "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
           "-y", str(celery_config_path())] + (["--name", name] if name else []) + ["--", f"--concurrency={concurrency}"]
    os.chdir(REPO_ROOT)
    os.execv(cmd[0], cmd)
