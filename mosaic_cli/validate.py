"""``mosaic validate``: run the Great Expectations suites on a QA (or visibility / view-sample) table."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from mosaic_pipeline.errors import FileInputError
from mosaic_pipeline.params import load_params


@click.command("validate")
@click.argument("table", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--scope", type=click.Choice(["qa_dataset", "qa_shard", "visibility", "view_samples"]),
              default="qa_dataset", show_default=True,
              help="Which suites: a whole QA dataset (adds task coverage), one scene's QA shard, or an upstream table.")
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Also write a GX context with Data Docs (HTML) to this folder.")
def validate(table: Path, scope: str, docs_dir: Path | None) -> None:
    """Validate TABLE (Parquet): one line per expectation (status, suite, expectation, column, parameters,
    observed value); exit 1 when any expectation fails, 2 when the table lacks needed columns or, for the QA
    scopes, has no split at all (docs/bad_input.md)."""
    import pandas as pd

    from mosaic_pipeline.quality.suites import qa_tasks
    from mosaic_pipeline.quality.tables import TableSchemaError
    from mosaic_pipeline.quality.validation import validate_tables

    params = load_params()
    frame = pd.read_parquet(table)
    if scope.startswith("qa_") and "split" in frame and len(frame) and frame["split"].isna().all():
        raise FileInputError(table, "no QA has a split (a `mosaic qa` shard written without --split), and the QA "
                             "suites check the splits: write it with `mosaic qa SCENE --out DIR --split "
                             "train|bench|transfer`, then validate", field="split")
    try:
        report = validate_tables({scope: frame}, params, qa_tasks(params), docs_dir)
    except TableSchemaError as exc:
        click.echo(f"error: {table}: {exc}", err=True)
        sys.exit(2)
    click.echo(report.text())
    sys.exit(0 if report.success else 1)
