"""Review plots of a QA table (matplotlib figures, no pyplot state): what a reviewer looks at beside
the expectation results."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..quality.tables import letter_counts, letters_per_task, metadata, task_keys

_BINS = np.linspace(0.0, 1.0, 21)


def letter_distribution(qa: pd.DataFrame) -> Figure:
    """Correct-letter share per task (multiple-choice rows), with each task's uniform share dashed."""
    counts = letter_counts(qa)
    shares = counts.div(counts.sum(axis=1), axis=0)
    fig = Figure(figsize=(9, 0.5 + 0.45 * max(1, len(shares))))
    ax = fig.subplots()
    left = np.zeros(len(shares))
    for letter in shares.columns:
        ax.barh(shares.index, shares[letter], left=left, label=letter)
        left += shares[letter].to_numpy()
    for y, k in enumerate(letters_per_task(qa).reindex(shares.index)):
        for j in range(1, int(k)):
            ax.plot([j / k] * 2, [y - 0.4, y + 0.4], "k--", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of correct answers per letter (dashed: uniform)")
    ax.legend(ncol=max(1, len(shares.columns)), loc="upper center",
              bbox_to_anchor=(0.5, -0.25 if len(shares) < 4 else -0.1))
    ax.set_title("correct-letter distribution per task")
    return fig


def qa_counts(qa: pd.DataFrame) -> Figure:
    """QA count per task key and split (stacked horizontal bars)."""
    table = pd.crosstab(task_keys(qa), qa["split"])
    fig = Figure(figsize=(9, 0.5 + 0.35 * max(1, len(table))))
    ax = fig.subplots()
    left = np.zeros(len(table))
    for split in table.columns:
        ax.barh(table.index, table[split], left=left, label=split)
        left += table[split].to_numpy()
    ax.set_xlabel("QA")
    ax.legend()
    ax.set_title("QA count per task and split")
    return fig


def _ratio(md: Mapping, keys: tuple[str, ...]) -> float:
    return next((float(md[k]) for k in keys if md.get(k) is not None), np.nan)


def occlusion_truncation(qa: pd.DataFrame) -> Figure:
    """Histograms of the QA's occlusion_avg and of the target's occlusion and FOV truncation ratios."""
    md = metadata(qa)
    series = {
        "occlusion_avg (QA targets)": qa["occlusion_avg"],
        "target occlusion_ratio in the query frame": md.map(
            lambda m: _ratio(m, ("target_occlusion_ratio", "occlusion_ratio_in_frame"))),
        "target fov_ratio (truncation) in the query frame": md.map(
            lambda m: _ratio(m, ("target_fov_ratio", "fov_occlusion_ratio"))),
    }
    fig = Figure(figsize=(12, 3))
    for ax, (title, values) in zip(fig.subplots(1, 3), series.items()):
        v = pd.to_numeric(values, errors="coerce").dropna()
        ax.hist(v, bins=_BINS)
        ax.set_title(f"{title}\n(n {len(v)})", fontsize=9)
        ax.set_xlabel("ratio")
    return fig


def overlap_histogram(qa: pd.DataFrame, cap: float) -> Figure:
    """Histogram of overlap_avg per QA, with the view sampler's cap."""
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    ax.hist(qa["overlap_avg"].dropna(), bins=np.linspace(0.0, max(cap * 1.2, 0.05), 25))
    ax.axvline(cap, color="r", ls="--", label=f"views.max_overlap {cap}")
    ax.set_xlabel("overlap_avg (mean pairwise IoU of the view sample)")
    ax.legend()
    return fig


def _label(md: Mapping) -> str | None:
    if md.get("target_category"):
        return str(md["target_category"])
    name = md.get("target_instance")
    return str(name).rsplit("_", 1)[0].replace("_", " ") if name else None


def label_histogram(qa: pd.DataFrame, top: int = 30) -> Figure:
    """The target labels the questions are about (the ``top`` most frequent)."""
    counts = metadata(qa).map(_label).dropna().value_counts().head(top)[::-1]
    fig = Figure(figsize=(7, 0.5 + 0.25 * max(1, len(counts))))
    ax = fig.subplots()
    ax.barh(counts.index, counts.to_numpy())
    ax.set_xlabel("QA")
    ax.set_title(f"target labels (top {top})")
    return fig


def review_figures(qa: pd.DataFrame, max_overlap: float) -> dict[str, Figure]:
    """Every review plot of a QA table, by metadata key."""
    return {
        "plot_letter_distribution": letter_distribution(qa),
        "plot_occlusion_truncation": occlusion_truncation(qa),
        "plot_overlap": overlap_histogram(qa, max_overlap),
        "plot_labels": label_histogram(qa),
        "plot_qa_per_task_split": qa_counts(qa),
    }
