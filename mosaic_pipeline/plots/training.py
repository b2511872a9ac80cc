"""Figures: a training loss curve, and a score table (``metrics.score_table``) per question type and slice."""
from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure


def _bars(ax: Any, summaries: dict[str, dict[str, Any]], title: str) -> None:
    names = list(summaries)
    scores = [summaries[n]["score"] for n in names]
    low = [s - summaries[n]["ci"][0] for n, s in zip(names, scores)]
    high = [summaries[n]["ci"][1] - s for n, s in zip(names, scores)]
    ax.barh(names, scores, xerr=[low, high], capsize=3, color="#4c72b0")
    for y, n in enumerate(names):
        ax.text(1, y, f"n={summaries[n]['n']}", va="center", fontsize=7, color="white")
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)


def score_figure(table: dict[str, Any]) -> Figure:
    """Left: each question type (overall as a dashed line); right: every slice level; 95 % CI bars."""
    slices = {f"{name}={level}": s for name, levels in table["slices"].items() for level, s in levels.items()}
    fig = Figure(figsize=(11, 0.3 * max(len(table["per_type"]), len(slices)) + 1.5))
    left, right = fig.subplots(1, 2)
    _bars(left, table["per_type"], f"per question type (overall {table['overall']['score']:.1f})")
    left.axvline(table["overall"]["score"], ls="--", color="k", lw=1)
    _bars(right, slices, f"slices (micro {table['micro']['score']:.1f})")
    fig.tight_layout()
    return fig


def loss_figure(steps: list[int], losses: list[float], lrs: list[float]) -> Figure:
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    ax.plot(steps, losses, color="#4c72b0")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="#4c72b0")
    lr_ax = ax.twinx()
    lr_ax.plot(steps, lrs, color="#dd8452", lw=1)
    lr_ax.set_ylabel("learning rate", color="#dd8452")
    fig.tight_layout()
    return fig
