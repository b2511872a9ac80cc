"""Blocking Great Expectations checks: a failed expectation stops the assets downstream of the checked one.

Each check reads the Parquet table that the checked asset's latest materialization (of the check's
partition) records under the metadata key ``path``, validates it with the suites of its scope
(:mod:`mosaic_assets.quality`), writes a GX context with Data Docs under
``<artifacts>/<quality.gx_dir>/<check>/<partition or all>/`` and returns the per-expectation results,
the failed ones with their observed values, a link to the Data Docs and, for QA tables, the review plots.
Within a run, a failed check stops the assets downstream of the checked one; across runs, the
pipeline runner starts the ``datasets`` job only when every per-scene run (checks included) succeeded.

(No `from __future__ import annotations` in asset modules: Dagster inspects the context annotation.)
"""

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pandas as pd
from matplotlib.figure import Figure

from ...params import Params
from ...quality.report import QualityReport
from ...quality.suites import SCOPES
from ..metadata import figure_md
from ..partitions import scene_partitions
from ..resources import MosaicParams

PATH_KEY = "path"  # metadata key of the checked asset's Parquet table
_OUTCOME_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("status", "string"), dg.TableColumn("suite", "string"), dg.TableColumn("expectation", "string"),
    dg.TableColumn("column", "string"), dg.TableColumn("parameters", "string"), dg.TableColumn("observed", "string"),
])


def materialized_path(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> Path:
    """The ``path`` metadata of the latest materialization of ``key`` (of ``partition``)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1).records
    if not records:
        raise dg.Failure(f"{key.to_user_string()} ({partition or 'unpartitioned'}) has no materialization to check")
    meta = records[0].asset_materialization.metadata
    if PATH_KEY not in meta:
        raise dg.Failure(f"{key.to_user_string()}: materialization metadata has no '{PATH_KEY}' (has {sorted(meta)})")
    return Path(str(meta[PATH_KEY].value))


def _validate(tables: Mapping[str, pd.DataFrame], params: Params, docs: Path) -> QualityReport:
    from ...quality.suites import qa_tasks
    from ...quality.validation import validate_tables

    return validate_tables(tables, params, qa_tasks(params), docs)


def _figures(tables: Mapping[str, pd.DataFrame], params: Params) -> Mapping[str, Figure]:
    from ...quality.plots import review_figures

    qa = [t for scope, t in tables.items() if scope.startswith("qa_")]
    return review_figures(qa[0], params.views.max_overlap) if qa else {}


def check_result(report: QualityReport, figures: Mapping[str, Figure],
                 sources: Mapping[str, Path]) -> dg.AssetCheckResult:
    """An AssetCheckResult (severity ERROR, so a blocking check stops downstream assets) from a report."""
    failed = report.failed
    rows = [dg.TableRecord({"status": "PASS" if o.success else "FAIL", "suite": o.suite, "expectation": o.expectation,
                            "column": o.target, "parameters": o.parameters, "observed": o.observed})
            for o in sorted(report.outcomes, key=lambda o: o.success)]
    metadata = {
        "n_expectations": len(report.outcomes), "n_failed": len(failed),
        "failed_expectations": dg.MetadataValue.md("\n".join(f"- {o.line()}" for o in failed) or "none"),
        "expectations": dg.MetadataValue.table(rows, schema=_OUTCOME_SCHEMA),
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in report.notes) or "none"),
        **{f"table_{scope}": dg.MetadataValue.path(str(path)) for scope, path in sources.items()},
        **{key: figure_md(fig, key) for key, fig in figures.items()},
    }
    if report.docs_index is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(report.docs_index))
        metadata["data_docs_url"] = dg.MetadataValue.url(report.docs_index.as_uri())
    summary = "; ".join(o.line() for o in failed) or f"all {len(report.outcomes)} expectations passed"
    return dg.AssetCheckResult(passed=report.success, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata,
                               description=summary[:2000])


def gx_check(asset: dg.AssetKey, scope: str, name: str, partitions_def: dg.PartitionsDefinition | None = None,
             upstream: Mapping[str, dg.AssetKey] | None = None) -> dg.AssetChecksDefinition:
    """A blocking check of ``asset`` (per partition with ``partitions_def``) with the suites of ``scope``;
    ``upstream`` adds other assets' tables (same partition) validated with the suites of their scope
    (key), in the same report and Data Docs.

    Assets are named by key, so this module never imports the checked assets' modules.
    """
    inputs = {scope: asset, **(upstream or {})}
    suites = [s for sc in inputs for s in SCOPES[sc]]

    @dg.asset_check(asset=asset, name=name, blocking=True, partitions_def=partitions_def,
                    additional_deps=list((upstream or {}).values()),
                    description=f"Great Expectations suites {', '.join(suites)} (expectations/*.json); "
                                "a failure blocks the downstream assets.")
    def _check(context: dg.AssetCheckExecutionContext, mosaic: MosaicParams) -> dg.AssetCheckResult:
        params = mosaic.load()
        partition = context.partition_key if partitions_def is not None else None
        sources = {sc: materialized_path(context.instance, key, partition) for sc, key in inputs.items()}
        tables = {sc: pd.read_parquet(path) for sc, path in sources.items()}
        docs = params.artifacts / params.quality.gx_dir / name / (partition or "all")
        report = _validate(tables, params, docs)
        context.log.info(report.text())
        return check_result(report, _figures(tables, params), sources)

    return _check


# one check per scene (one GX start-up): the QA shard with the visibility and view-sample tables it came from
qa_shards_quality = gx_check(dg.AssetKey("qa_shards"), "qa_shard", "qa_shards_quality", scene_partitions,
                             upstream={"visibility": dg.AssetKey("visibility"),
                                       "view_samples": dg.AssetKey("view_samples")})
qa_dataset_quality = gx_check(dg.AssetKey("qa_dataset"), "qa_dataset", "qa_dataset_quality")
