"""A QA shard's review page: one static HTML report per scene, what a reviewer reads to judge the shard.

Written by the shard's blocking check beside its Data Docs (``paths.review_dir``: ``index.html``, the
plots and the rendered questions as files beside it; no script, nothing loaded from elsewhere) and served
by `mosaic ui` at a stable URL with the scene in it (``serve.review_url``). It shows (docs/review.md):

- the balance figures the GX expectations compare, as numbers with their bounds and a verdict per row:
  the bounds are read from the suites (``expectations/*.json``, ``expect_column_values_to_be_between``)
  with the check's parameters substituted, the numbers are the validation frames of ``tables.py``;
- every expectation's outcome (as in the check's metadata), the review plots inline;
- the bias audit's row of the scene, when the audit has run (``review_audit.py``);
- a deterministic sample of questions rendered with their frames (``review_questions.py``).

Same inputs and parameters give byte-identical files.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from matplotlib.figure import Figure

from .. import paths
from ..atomic import atomic_dir
from ..params import Params
from ..plots.quality import question_image, review_figures
from .report import QualityReport
from .review_audit import AuditView, audit_view
from .review_questions import SceneFrames, question_view, sample_questions
from .serve import url_of
from .suites import QATasks, suite_parameters, suite_path
from .tables import QA_COLUMNS, letter_counts, letters_per_task, qa_frames, require_columns

TEMPLATE = "review.html.j2"  # beside this module
BETWEEN = "expect_column_values_to_be_between"
FIGURE_DPI = 100
# besides what the checks validate (QA_COLUMNS): what the rendered questions need of the native record
QUESTION_COLUMNS = ("qa_id", "question_type", "data_source", "query_frame_id")
VISIBILITY_COLUMNS = ("frame_id", "instance_id", "bbox_2d", "image_width", "min_cam", "max_cam")
# balance suite -> title, and the validation frame's columns shown before the checked ones
BALANCE = {
    "qa_letter_balance": ("Correct-letter balance per task", ("task_key", "n")),
    "qa_yes_no_balance": ("Yes/No balance per subtask", ("task_key", "n")),
    "qa_direction_balance": ("Direction balance per task and axis", ("task_type", "axis", "direction", "n")),
}


@dataclass(frozen=True)
class Bound:
    """One ``expect_column_values_to_be_between`` of a suite, its parameters substituted."""

    column: str
    low: float | None
    high: float | None

    def verdict(self, value: float) -> str:
        """PASS or FAIL as GX decides it (bounds inclusive); n/a for a missing value, which GX skips."""
        if value is None or math.isnan(value):
            return "n/a"
        ok = (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        return "PASS" if ok else "FAIL"

    def text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{_num(self.low)} to {_num(self.high)}"
        return f">= {_num(self.low)}" if self.low is not None else f"<= {_num(self.high)}"


@dataclass(frozen=True)
class Cell:
    text: str
    verdict: str = ""  # PASS / FAIL / n/a: how the page colours it


@dataclass(frozen=True)
class BalanceTable:
    suite: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str  # groups too small to judge
    gx_verdict: str  # the check's outcome of the suite's bounds: PASS / FAIL


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _resolve(value: Any, parameters: Mapping[str, Any]) -> float | None:
    if isinstance(value, Mapping):
        value = parameters[value["$PARAMETER"]]
    return None if value is None else float(value)


def suite_bounds(suite: str, parameters: Mapping[str, Any]) -> list[Bound]:
    """The column bounds of a suite's between-expectations, as the check substitutes them."""
    expectations = json.loads(suite_path(suite).read_text())["expectations"]
    return [Bound(e["kwargs"]["column"], _resolve(e["kwargs"].get("min_value"), parameters),
                  _resolve(e["kwargs"].get("max_value"), parameters)) for e in expectations if e["type"] == BETWEEN]


def _letter_shares(qa: pd.DataFrame) -> pd.DataFrame:
    """Per task key: each letter's share of the correct answers (blank beyond the task's letters)."""
    counts = letter_counts(qa)
    shares = counts.div(counts.sum(axis=1), axis=0)
    k = letters_per_task(qa).reindex(shares.index)
    return shares.apply(lambda row: row.where([i < k[row.name] for i in range(len(row))]), axis=1)


def _gx_verdict(report: QualityReport, suite: str) -> str:
    outcomes = [o for o in report.outcomes if o.suite == suite]
    return "PASS" if all(o.success for o in outcomes) else "FAIL"


def balance_tables(qa: pd.DataFrame, params: Params, tasks: QATasks, report: QualityReport) -> list[BalanceTable]:
    """The balance suites' validation frames, each row with its checked values, bounds and verdicts."""
    parameters = suite_parameters(params, tasks, sorted(set(qa["split"].dropna())))
    frames = qa_frames(qa, tasks.n_options, tasks.directions, params.quality.min_group_size, list(BALANCE))
    shares = _letter_shares(qa)
    tables = []
    for vf in frames:
        title, shown = BALANCE[vf.suite]
        bounds = suite_bounds(vf.suite, parameters)
        extra = list(shares.columns) if vf.suite == "qa_letter_balance" else []
        header = (*shown, *extra, *(f"{b.column} ({b.text()})" for b in bounds), "verdict")
        rows = []
        for r in vf.frame.to_dict("records"):
            checked = [Cell(_num(float(r[b.column])), b.verdict(float(r[b.column]))) for b in bounds]
            letters = [Cell("" if pd.isna(s) else f"{s:.3f}") for s in shares.loc[r["task_key"]]] if extra else []
            verdict = "FAIL" if any(c.verdict == "FAIL" for c in checked) else "PASS"
            rows.append((*(Cell(_num(r[c])) for c in shown), *letters, *checked, Cell(verdict, verdict)))
        tables.append(BalanceTable(vf.suite, title, header, tuple(rows), vf.note, _gx_verdict(report, vf.suite)))
    return tables


def _save_figures(figures: Mapping[str, Figure], folder: Path) -> list[tuple[str, str]]:
    """The review plots as PNG files; (file name, title) each."""
    saved = []
    for key, fig in figures.items():
        name = f"{key}.png"
        fig.savefig(folder / name, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
        saved.append((name, key.removeprefix("plot_").replace("_", " ")))
    return saved


def _render_questions(qa: pd.DataFrame, scene: SceneFrames, params: Params, folder: Path) -> list[dict[str, Any]]:
    (folder / "questions").mkdir()
    out = []
    for i, q in sample_questions(qa, params.review.questions).iterrows():
        view = question_view(q, scene)
        name = f"questions/{i:02d}_{view.qa_id}.jpg"
        question_image(view, params.review.frame_height).save(folder / name, quality=params.review.jpeg_quality)
        out.append({"view": view, "image": name})
    return out


def _page(context: Mapping[str, Any]) -> str:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True)
    return env.get_template(TEMPLATE).render(**context)


def write_review(params: Params, scene_id: str, qa: pd.DataFrame, visibility: pd.DataFrame, tasks: QATasks,
                 report: QualityReport, sources: Mapping[str, Path],
                 figures: Mapping[str, Figure] | None = None) -> Path:
    """Write the shard's review page (atomically, as a folder); returns its index.html.

    ``report``: the check's validation of the shard (its Data Docs linked when built); ``sources``: the
    checked tables' files (shown on the page); ``figures``: the review plots when the caller has them
    (``review_figures`` of the shard), else they are drawn here.
    """
    require_columns(qa, (*QA_COLUMNS, *QUESTION_COLUMNS), f"QA shard {scene_id}")
    require_columns(visibility, VISIBILITY_COLUMNS, f"visibility ({scene_id})")
    figures = figures if figures is not None else review_figures(qa, params.views.max_overlap)
    sources_of = {scope: str(p) for scope, p in sources.items()}
    source = str(qa["data_source"].iloc[0]) if len(qa) else "synthetic"
    scene = SceneFrames.load(visibility, paths.frames_dir(params, source, scene_id))
    audit: AuditView = audit_view(paths.bias_audit_questions(params), scene_id, qa)
    docs_url = url_of(params, report.docs_index) if report.docs_index is not None else None
    with atomic_dir(paths.review_dir(params, scene_id)) as folder:
        context = {
            "scene_id": scene_id, "splits": ", ".join(sorted(set(qa["split"].dropna()))) or "none",
            "n_qa": len(qa), "n_types": qa["question_type"].nunique(), "report": report,
            "outcomes": sorted(report.outcomes, key=lambda o: o.success), "docs_url": docs_url,
            "sources": sources_of, "balance": balance_tables(qa, params, tasks, report), "audit": audit,
            "figures": _save_figures(figures, folder),
            "questions": _render_questions(qa, scene, params, folder), "n_sample": params.review.questions,
        }
        (folder / "index.html").write_text(_page(context), encoding="utf-8")
    return paths.review_dir(params, scene_id) / "index.html"

