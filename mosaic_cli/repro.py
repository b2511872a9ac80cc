"""``mosaic reproduce COMMIT``, ``mosaic runs --commit SHA | --check-results DIR``, ``mosaic dvc-remote``,
``mosaic dvc-lock-check`` and ``mosaic plot`` (the DVC pipeline's plots)."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_EXISTING = click.Path(path_type=Path, exists=True, dir_okay=False)
_OUT = click.Path(path_type=Path, dir_okay=False)


@click.command()
@click.argument("commit")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where the worktree goes (must not exist; default: a temporary folder).")
@click.option("--from", "start", default="train", show_default=True,
              help="First stage recomputed even when its outputs were pulled (with everything downstream of it); "
                   "`scenes` regenerates every stage.")
@click.option("--keep", is_flag=True, help="Keep the worktree (its outputs, .dagster_home/ and .mlflow/).")
def reproduce(commit: str, workdir: Path | None, start: str, keep: bool) -> None:
    """Rebuild COMMIT's bench scores in a fresh worktree from its pinned data; exit 1 when they differ
    from the committed ones by more than that commit's repro.score_tolerance."""
    from mosaic_model.tracking import TRACKING_URI_ENV, tracking_uri
    from mosaic_pipeline.params import default_params
    from mosaic_pipeline.repro.reproduce import ReproError
    from mosaic_pipeline.repro.reproduce import reproduce as run_reproduction
    from mosaic_pipeline.repro.scores import format_diffs

    # the worktree's training and evaluation runs go to this checkout's store: `mosaic runs --commit` finds them
    os.environ.setdefault(TRACKING_URI_ENV, tracking_uri(default_params().model.tracking_uri))
    try:
        result = run_reproduction(commit, workdir, start, keep, echo=lambda line: click.echo(line, err=True))
    except ReproError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"commit {result.commit}")
    click.echo(f"stale after the pull: {', '.join(result.stale) or 'none'}")
    click.echo("times: " + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in result.timings.items()))
    click.echo(f"outputs not byte-identical to the commit's dvc.lock: {len(result.data_changes)}")
    for change in result.data_changes:
        click.echo(f"  {change.path}: {change.pinned or '-'} -> {change.now or '-'}")
    click.echo(f"score differences: {len(result.score_diffs)}")
    for line in format_diffs(result.score_diffs):
        click.echo(line)
    if keep:
        click.echo(f"worktree kept: {result.workdir}")
    click.echo("MATCH: the bench scores reproduce" if result.matched else "MISMATCH: the bench scores do not reproduce")
    sys.exit(0 if result.matched else 1)


@click.command()
@click.option("--commit", default=None, help="A commit hash (full or abbreviated).")
@click.option("--check-results", "results", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Instead: check a result folder (summary.json names one commit, every run in it carries that "
                   "commit from a clean tree on the summary's data); exit 1 on any problem.")
@click.option("--tracking-uri", default=None, help="MLflow store; default: params.yaml model.tracking_uri.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run (tags and metrics included).")
def runs(commit: str | None, results: Path | None, tracking_uri: str | None, as_json: bool) -> None:
    """The MLflow runs (training, evaluation, geometry pretraining) made from a commit, oldest first; or,
    with --check-results, the provenance check of a result folder."""
    if (commit is None) == (results is None):
        raise click.UsageError("give --commit SHA or --check-results DIR")
    if results is not None:
        _check_results(results)
        return
    from mosaic_model.tracking import tracking_uri as resolve_uri
    from mosaic_pipeline.params import default_params
    from mosaic_pipeline.repro.runs import find_runs

    try:
        found = find_runs(resolve_uri(tracking_uri or default_params().model.tracking_uri), commit)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--commit") from exc
    for r in found:
        if as_json:
            click.echo(json.dumps(asdict(r)))
        else:
            click.echo(f"{r.run_id}  {r.started}  {r.status:<9} {r.experiment}/{r.name}  commit {r.commit[:12]}"
                       + "".join(f"  {k}={v}" for k, v in r.tags.items()))
    if not found:
        click.echo(f"no MLflow run from commit {commit}", err=True)
        sys.exit(1)


def _check_results(folder: Path) -> None:
    from mosaic_pipeline.repro.results import ResultsError, check_results

    try:
        problems = check_results(folder)
    except ResultsError as exc:
        raise click.ClickException(str(exc)) from exc
    for problem in problems:
        click.echo(problem)
    click.echo(f"{folder}: {len(problems)} provenance problem(s)" if problems else
               f"{folder}: one commit, every listed run carries it")
    sys.exit(1 if problems else 0)


@click.command("dvc-remote")
@click.option("--push", is_flag=True, help="Then `dvc push` the outputs of dvc.lock to it.")
def dvc_remote(push: bool) -> None:
    """Make params.yaml repro.remote the default DVC remote (.dvc/config) and create it when it is a folder."""
    from mosaic_pipeline.params import REPO_ROOT, default_params
    from mosaic_pipeline.repro.remote import REMOTE_NAME, configure_remote
    from mosaic_pipeline.repro.tools import ReproError, dvc

    try:
        remote = configure_remote(default_params())
        click.echo(f"DVC remote '{REMOTE_NAME}' (default): {remote.url}")
        if push:
            dvc(REPO_ROOT, "push")
    except ReproError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("dvc-lock-check")
def dvc_lock_check() -> None:
    """Exit 1 when dvc.lock is stale against dvc.yaml, params.yaml or the code the stages depend on
    (only what git tracks counts: the data need not be here)."""
    from mosaic_pipeline.repro.lock_status import lock_staleness
    from mosaic_pipeline.repro.tools import ReproError

    try:
        stale = lock_staleness()
    except ReproError as exc:
        raise click.ClickException(str(exc)) from exc
    for entry in stale:
        click.echo(str(entry))
    click.echo(f"dvc.lock is stale ({len(stale)} changes): run `dvc repro` and commit dvc.lock" if stale else
               "dvc.lock is current")
    sys.exit(1 if stale else 0)


@click.group()
def plot() -> None:
    """The plots of the DVC pipeline (dvc.yaml `plots`), as PNG files."""


@plot.command("balance")
@click.argument("qa_parquet", type=_EXISTING)
@click.argument("out", type=_OUT)
def plot_balance(qa_parquet: Path, out: Path) -> None:
    """Correct-letter share per task of a QA table (the data-quality review plot)."""
    import pandas as pd

    from mosaic_pipeline.plots.quality import letter_distribution

    _print_saved(letter_distribution(pd.read_parquet(qa_parquet)), out)


@plot.command("scores")
@click.argument("scores_json", type=_EXISTING)
@click.argument("out", type=_OUT)
def plot_scores(scores_json: Path, out: Path) -> None:
    """Bench scores per question type and slice, with confidence intervals."""
    from mosaic_pipeline.plots.training import score_figure

    _print_saved(score_figure(json.loads(scores_json.read_text())), out)


def _print_saved(figure: Figure, out: Path) -> None:
    from mosaic_pipeline.plots import save_png

    click.echo(str(save_png(figure, out)))


COMMANDS = (reproduce, runs, dvc_remote, dvc_lock_check, plot)
