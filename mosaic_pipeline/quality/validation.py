"""Run the Great Expectations suites on validation frames; optionally build Data Docs.

GX runs offline: analytics are off (``GX_ANALYTICS_ENABLED=false`` before the import), the Data Docs
load the project's copies of their scripts and styles (``data_docs.py``), and the context is either in
memory or a file context under the given folder, written atomically (one folder per validated asset
and partition, so parallel runs never share a context).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import atomic_dir
from ..params import Params
from .data_docs import localize_site
from .report import QualityReport, outcome
from .suites import SCOPES, QATasks, suite_parameters, suite_path
from .tables import (
    QA_COLUMNS,
    VIEW_COLUMNS,
    VISIBILITY_COLUMNS,
    ValidationFrame,
    qa_frames,
    require_columns,
    view_samples,
    visibility_rows,
)

DOCS_INDEX = Path("gx/uncommitted/data_docs/local_site/index.html")  # inside a docs folder
RESULT_FORMAT = {"result_format": "SUMMARY", "unexpected_index_column_names": ["row"]}


def _gx():
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    return gx


def load_suite(name: str):
    """The ExpectationSuite stored as ``expectations/<name>.json``."""
    return _gx().ExpectationSuite(**json.loads(suite_path(name).read_text()))


def _context(root: Path | None):
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral") if root is None else gx.get_context(mode="file", project_root_dir=root)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_suites(frames: Sequence[ValidationFrame], parameters: Mapping[str, Any],
               docs_dir: Path | None = None) -> QualityReport:
    """Validate each frame with its suite; with ``docs_dir``, the context and its Data Docs go there."""
    gx = _gx()
    outcomes = []
    with atomic_dir(docs_dir) if docs_dir else nullcontext(None) as root:
        context = _context(root)
        source = context.data_sources.add_pandas("mosaic")
        for vf in frames:
            suite = context.suites.add(load_suite(vf.suite))
            batch = source.add_dataframe_asset(vf.suite).add_batch_definition_whole_dataframe("whole")
            definition = context.validation_definitions.add(gx.ValidationDefinition(name=vf.suite, data=batch,
                                                                                    suite=suite))
            result = definition.run(batch_parameters={"dataframe": vf.frame}, expectation_parameters=dict(parameters),
                                    result_format=RESULT_FORMAT)
            outcomes += [outcome(vf.suite, r, vf) for r in result.results]
        if root is not None:
            context.build_data_docs()
            localize_site((root / DOCS_INDEX).parent)
    return QualityReport(tuple(outcomes), tuple(f"{vf.suite}: {vf.note}" for vf in frames if vf.note),
                         docs_dir / DOCS_INDEX if docs_dir else None)


def scope_frames(table: pd.DataFrame, scope: str, params: Params, tasks: QATasks | None) -> list[ValidationFrame]:
    """The validation frames of ``scope`` (a key of SCOPES) derived from ``table``."""
    if scope in ("qa_shard", "qa_dataset"):
        if tasks is None:
            raise ValueError(f"scope {scope} needs the QA package's tasks")
        require_columns(table, QA_COLUMNS, "QA")
        return qa_frames(table, tasks.n_options, tasks.directions, params.quality.min_group_size, SCOPES[scope])
    build, columns = {"visibility": (visibility_rows, VISIBILITY_COLUMNS),
                      "view_samples": (view_samples, VIEW_COLUMNS)}[scope]
    require_columns(table, columns, scope)
    return [build(table)]


def validate_tables(tables: Mapping[str, pd.DataFrame], params: Params, tasks: QATasks | None = None,
                    docs_dir: Path | None = None) -> QualityReport:
    """Validate each table with the suites of its scope (the key), in one GX context and one report."""
    frames = [vf for scope, table in tables.items() for vf in scope_frames(table, scope, params, tasks)]
    splits = {s for scope, t in tables.items() if scope.startswith("qa_") for s in t["split"].dropna()}
    return run_suites(frames, suite_parameters(params, tasks, sorted(splits)), docs_dir)
