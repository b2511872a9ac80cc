"""The bias audit's figure (docs/audit.md): per split and question type, chance, answer prior and text-only
accuracy (with its bootstrap CI), the text-only gap threshold dashed above chance."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..quality.audit import OVERALL

BARS = (("chance", "chance", "0.75"), ("prior", "answer prior", "tab:orange"), ("text_only", "text-only", "tab:blue"))


def audit_figure(table: pd.DataFrame, max_gap_type: float, max_gap_overall: float,
                 title: str = "bias audit: can the questions be answered from their text?") -> Figure:
    """One panel per split: grouped horizontal bars per question type (overall last), accuracies in %."""
    splits = list(dict.fromkeys(table["split"]))
    height = 1.0 + sum(0.32 * (table["split"] == s).sum() for s in splits)
    fig = Figure(figsize=(9, max(3.0, height)))
    rows = [max(1, int((table["split"] == s).sum())) for s in splits]
    axes = fig.subplots(len(splits), 1, squeeze=False, gridspec_kw={"height_ratios": rows})[:, 0]
    for ax, split in zip(axes, splits):
        part = table[table["split"] == split]
        part = pd.concat([part[part["question_type"] != OVERALL], part[part["question_type"] == OVERALL]])
        y = np.arange(len(part))[::-1]
        for j, (column, label, colour) in enumerate(BARS):
            offsets = y + (1 - j) * 0.27
            ax.barh(offsets, part[column].fillna(0), height=0.26, color=colour, label=label)
        err = np.vstack([part["text_only"] - part["text_only_lo"], part["text_only_hi"] - part["text_only"]])
        ax.errorbar(part["text_only"], y - 0.27, xerr=np.nan_to_num(err), fmt="none", ecolor="k", lw=0.8)
        limit = [c + (max_gap_overall if t == OVERALL else max_gap_type)
                 for c, t in zip(part["chance"], part["question_type"])]
        for yy, lim in zip(y, limit):
            ax.plot([lim, lim], [yy - 0.45, yy + 0.45], "r--", lw=0.9)
        ax.set_yticks(y, [f"{t} (n {n})" for t, n in zip(part["question_type"], part["n"])])
        ax.set_xlim(0, 100)
        ax.set_title(f"{split}: red dashes = chance + allowed gap")
    axes[-1].set_xlabel("accuracy (%)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return fig
