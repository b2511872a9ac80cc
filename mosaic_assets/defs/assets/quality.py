"""Blocking Great Expectations checks: a failed expectation stops the assets downstream of the checked one.

Each check reads the Parquet table of the checked asset (of the check's partition) where
:mod:`mosaic_pipeline.paths` puts it, validates it with the suites of its scope
(:mod:`mosaic_pipeline.quality`), writes a GX context with Data Docs under
``<artifacts>/<quality.gx_dir>/<check>/<partition or all>/`` and returns the per-expectation results,
the failed ones with their observed values, an http link to the Data Docs (served by `mosaic ui`) and,
for QA tables, the review plots. The per-scene check also writes the shard's review page
(:mod:`mosaic_pipeline.quality.review`, docs/review.md) and links it.
Within a run, a failed check stops the assets downstream of the checked one; across runs, the
pipeline runner starts the ``datasets`` job only when every per-scene run (checks included) succeeded.

(No `from __future__ import annotations` in asset modules: Dagster inspects the context annotation.)
"""

from collections.abc import Callable, Mapping
from pathlib import Path

import dagster as dg
import pandas as pd
from matplotlib.figure import Figure

from mosaic_pipeline import paths
from mosaic_pipeline.params import Params
from mosaic_pipeline.quality.report import QualityReport
from mosaic_pipeline.quality.serve import review_url, url_of
from mosaic_pipeline.quality.suites import SCOPES

from ..metadata import figure_md
from ..partitions import scene_partitions
from ..resources import MosaicParams

PATH_KEY = "path"  # metadata key of an asset's table (shown in the UI; readers ask mosaic_pipeline.paths)
TablePath = Callable[[Params, str | None], Path]  # where a checked table is, from params and the partition
_OUTCOME_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("status", "string"), dg.TableColumn("suite", "string"), dg.TableColumn("expectation", "string"),
    dg.TableColumn("column", "string"), dg.TableColumn("parameters", "string"), dg.TableColumn("observed", "string"),
])


def _validate(tables: Mapping[str, pd.DataFrame], params: Params, docs: Path) -> QualityReport:
    from mosaic_pipeline.quality.suites import qa_tasks
    from mosaic_pipeline.quality.validation import validate_tables

    return validate_tables(tables, params, qa_tasks(params), docs)


def _figures(tables: Mapping[str, pd.DataFrame], params: Params) -> Mapping[str, Figure]:
    from mosaic_pipeline.plots.quality import review_figures

    qa = [t for scope, t in tables.items() if scope.startswith("qa_")]
    return review_figures(qa[0], params.views.max_overlap) if qa else {}


def _review(context: dg.AssetCheckExecutionContext, params: Params, partition: str,
            tables: Mapping[str, pd.DataFrame], report: QualityReport, sources: Mapping[str, Path],
            figures: Mapping[str, Figure]) -> dict[str, dg.MetadataValue]:
    """Write the shard's review page; its links (the page's URL has the partition in it).

    The page reports on the shard, it never decides the check: an error writing it is logged and shown
    in the check's metadata, and the check's verdict stays GX's.
    """
    from mosaic_pipeline.quality.review import write_review
    from mosaic_pipeline.quality.suites import qa_tasks

    try:
        page = write_review(params, partition, tables["qa_shard"], tables["visibility"], qa_tasks(params), report,
                            sources, figures)
    except Exception as exc:  # noqa: BLE001 - reported below, the validation result still stands
        context.log.exception(f"{partition}: review page not written")
        return {"review_page_error": dg.MetadataValue.text(f"{type(exc).__name__}: {exc}")}
    return {"review_page": dg.MetadataValue.url(review_url(params, partition)),
            "review_page_file": dg.MetadataValue.path(str(page))}


def check_result(report: QualityReport, figures: Mapping[str, Figure], sources: Mapping[str, Path],
                 params: Params, links: Mapping[str, dg.MetadataValue] | None = None) -> dg.AssetCheckResult:
    """An AssetCheckResult (severity ERROR, so a blocking check stops downstream assets) from a report;
    ``links`` go first in the metadata (the review page)."""
    failed = report.failed
    rows = [dg.TableRecord({"status": "PASS" if o.success else "FAIL", "suite": o.suite, "expectation": o.expectation,
                            "column": o.target, "parameters": o.parameters, "observed": o.observed})
            for o in sorted(report.outcomes, key=lambda o: o.success)]
    metadata = {
        **(links or {}),
        "n_expectations": len(report.outcomes), "n_failed": len(failed),
        "failed_expectations": dg.MetadataValue.md("\n".join(f"- {o.line()}" for o in failed) or "none"),
        "expectations": dg.MetadataValue.table(rows, schema=_OUTCOME_SCHEMA),
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in report.notes) or "none"),
        **{f"table_{scope}": dg.MetadataValue.path(str(path)) for scope, path in sources.items()},
        **{key: figure_md(fig, key) for key, fig in figures.items()},
    }
    if report.docs_index is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(report.docs_index))
        metadata["data_docs_url"] = dg.MetadataValue.url(url_of(params, report.docs_index))
    summary = "; ".join(o.line() for o in failed) or f"all {len(report.outcomes)} expectations passed"
    return dg.AssetCheckResult(passed=report.success, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata,
                               description=summary[:2000])


def gx_check(asset: dg.AssetKey, scope: str, name: str, table: TablePath,
             partitions_def: dg.PartitionsDefinition | None = None,
             upstream: Mapping[str, tuple[dg.AssetKey, TablePath]] | None = None,
             review: bool = False) -> dg.AssetChecksDefinition:
    """A blocking check of ``asset``'s table ``table(params, partition)`` (per partition with ``partitions_def``)
    with the suites of ``scope``; ``upstream`` adds other assets' tables (same partition) validated with the
    suites of their scope (key), in the same report and Data Docs. ``review``: also write the partition's
    review page (a QA shard with its visibility table upstream).

    Assets are named by key, so this module never imports the checked assets' modules.
    """
    inputs = {scope: (asset, table), **(upstream or {})}
    suites = [s for sc in inputs for s in SCOPES[sc]]

    @dg.asset_check(asset=asset, name=name, blocking=True, partitions_def=partitions_def,
                    additional_deps=[key for key, _ in (upstream or {}).values()],
                    description=f"Great Expectations suites {', '.join(suites)} (expectations/*.json); "
                                "a failure blocks the downstream assets.")
    def _check(context: dg.AssetCheckExecutionContext, mosaic: MosaicParams) -> dg.AssetCheckResult:
        params = mosaic.load()
        partition = context.partition_key if partitions_def is not None else None
        sources = {sc: path_of(params, partition) for sc, (_, path_of) in inputs.items()}
        missing = {sc: str(p) for sc, p in sources.items() if not p.is_file()}
        if missing:
            raise dg.Failure(f"{name} ({partition or 'unpartitioned'}): no table to check at {missing}")
        tables = {sc: pd.read_parquet(path) for sc, path in sources.items()}
        docs = paths.quality_docs(params, name, partition)
        report = _validate(tables, params, docs)
        context.log.info(report.text())
        figures = _figures(tables, params)
        write = review and partition is not None
        links = _review(context, params, partition, tables, report, sources, figures) if write else {}
        return check_result(report, figures, sources, params, links)

    return _check


# one check per scene (one GX start-up): the QA shard with the visibility and view-sample tables it came from
qa_shards_quality = gx_check(dg.AssetKey("qa_shards"), "qa_shard", "qa_shards_quality", paths.qa_shard, scene_partitions,
                             upstream={"visibility": (dg.AssetKey("visibility"), paths.visibility),
                                       "view_samples": (dg.AssetKey("view_samples"), paths.view_samples)},
                             review=True)
qa_dataset_quality = gx_check(dg.AssetKey("qa_dataset"), "qa_dataset", "qa_dataset_quality",
                              lambda params, _: paths.qa_dataset(params))


# --- bias audit (docs/audit.md): can the questions be answered from their text alone? -------------------

AUDIT_GROUP = "qa"


def _audit_md(table: pd.DataFrame) -> dg.MetadataValue:
    from mosaic_pipeline.quality.audit_io import markdown

    return dg.MetadataValue.md(markdown(table))


@dg.asset(group_name=AUDIT_GROUP, deps=[dg.AssetKey("qa_dataset")],
          description="Text-only stress test of the QA dataset per split and question type (k-fold by scene): "
                      "chance, answer prior, text-only accuracy with CI, gap; beside the generated data's audit "
                      "and what the split-level debiasing removed.")
def bias_audit(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    import json

    from mosaic_pipeline.plots import save_png
    from mosaic_pipeline.plots.audit import audit_figure
    from mosaic_pipeline.quality.audit import audit, audit_table, audit_types, before_after, question_table
    from mosaic_pipeline.quality.audit_io import FIGURE_FILE, write_questions, write_table

    params = mosaic.load()
    p = params.audit
    results = audit_types(pd.read_parquet(paths.qa_dataset(params)), p)
    generated, removal = paths.qa_generated(params), paths.qa_debias_report(params)
    before = audit(pd.read_parquet(generated), p) if generated.is_file() else None
    removed = pd.DataFrame(json.loads(removal.read_text())) if removal.is_file() else None
    table = before_after(audit_table(results, p), before, removed)
    out = paths.bias_audit_dir(params)
    files = write_table(table, out)
    write_questions(question_table(results), paths.bias_audit_questions(params))  # the review pages' rows
    figure = audit_figure(table, p.max_gap_type, p.max_gap_overall)
    save_png(figure, out / FIGURE_FILE)
    context.log.info(f"bias audit: {len(table)} rows -> {files['table']}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(files["table"])), "json": dg.MetadataValue.path(str(files["json"])),
        "questions": dg.MetadataValue.path(str(paths.bias_audit_questions(params))),
        "audit": _audit_md(table), "figure": figure_md(figure, "bias audit"),
    })


@dg.asset_check(asset=bias_audit, name="bias_audit_thresholds", blocking=True,
                description="Blocks when a judged split (params.yaml audit.splits) has a text-only gap above "
                            "audit.max_gap_overall overall or audit.max_gap_type on a question type, an answer "
                            "prior above audit.max_prior_gap_type, or one answer above audit.max_answer_share.")
def bias_audit_thresholds(context: dg.AssetCheckExecutionContext, mosaic: MosaicParams) -> dg.AssetCheckResult:
    from mosaic_pipeline.plots.audit import audit_figure
    from mosaic_pipeline.quality.audit import verdict
    from mosaic_pipeline.quality.audit_io import TABLE_FILE, read_audit_table

    params = mosaic.load()
    p = params.audit
    out = paths.bias_audit_dir(params)
    if not (out / TABLE_FILE).is_file():
        raise dg.Failure(f"bias_audit_thresholds: no audit table under {out} (materialize bias_audit first)")
    table = read_audit_table(out)
    judged = table[table["split"].isin(p.splits)]
    failures = verdict(table, p)
    missing = [s for s in p.splits if s not in set(table["split"])]
    context.log.info("bias audit: " + ("; ".join(failures) or "every threshold holds"))
    return dg.AssetCheckResult(
        passed=not failures, severity=dg.AssetCheckSeverity.ERROR,
        description=("; ".join(failures) or f"every threshold holds on {', '.join(sorted(set(judged['split'])))}")[:2000],
        metadata={
            "n_failed": len(failures),
            "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures) or "none"),
            "splits_without_questions": dg.MetadataValue.json(missing),
            "thresholds": dg.MetadataValue.json({"max_gap_overall": p.max_gap_overall, "max_gap_type": p.max_gap_type,
                                                 "max_prior_gap_type": p.max_prior_gap_type,
                                                 "max_answer_share": p.max_answer_share}),
            "audit": _audit_md(judged),
            "figure": figure_md(audit_figure(judged, p.max_gap_type, p.max_gap_overall), "bias audit"),
        })
