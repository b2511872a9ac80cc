"""``mosaic audit``: the bias audit (text-only stress test, docs/audit.md) of any QA table, ours or a peer's."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("audit")
@click.argument("qa_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for audit.parquet, audit.json, audit.png and questions.parquet (default: print only).")
@click.option("--judge", "judged", multiple=True,
              help="Splits the thresholds judge (repeatable; default params.yaml audit.splits). A file without a "
                   "split column is one split named after the file.")
def audit(qa_file: Path, out: Path | None, judged: tuple[str, ...]) -> None:
    """Text-only stress test of QA_FILE (native QA Parquet or official test-record JSON): per split and
    question type, chance, answer prior, text-only accuracy (k-fold by scene) and gap. Prints the table
    and the verdict; exits 1 when a judged split breaks a threshold of params.yaml ``audit``."""
    from mosaic_pipeline.params import load_params
    from mosaic_pipeline.quality.audit import audit_table, audit_types, question_table, verdict
    from mosaic_pipeline.quality.audit_io import FIGURE_FILE, markdown, read_qa, write_questions, write_table

    params = load_params()
    p = params.audit.model_copy(update={"splits": judged}) if judged else params.audit
    try:
        results = audit_types(read_qa(qa_file), p)
        table = audit_table(results, p)
    except (ValueError, KeyError) as exc:
        click.echo(f"error: {qa_file}: {exc}", err=True)
        sys.exit(2)
    click.echo(markdown(table))
    if out is not None:
        from mosaic_pipeline.plots import save_png
        from mosaic_pipeline.plots.audit import audit_figure

        files = write_table(table, out)
        write_questions(question_table(results), out / "questions.parquet")
        save_png(audit_figure(table, p.max_gap_type, p.max_gap_overall), out / FIGURE_FILE)
        click.echo(f"\nwrote {files['table']}, {files['json']}, {out / FIGURE_FILE}")
    failures = verdict(table, p)
    judged_present = [s for s in p.splits if s in set(table["split"])]
    click.echo(f"\njudged splits: {', '.join(judged_present) or 'none present'}")
    click.echo("\n".join(f"FAIL {f}" for f in failures) or "PASS: every threshold holds")
    if failures:
        sys.exit(1)
