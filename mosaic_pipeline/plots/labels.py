"""Plots of the labels: occlusion / truncation histograms and the frame-overlap matrix (docs/visibility.md, docs/views.md)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..visibility.overlap import FrameOverlap

RATIO_BINS = np.linspace(0.0, 1.0, 21)


def ratio_histogram(table: pd.DataFrame, scene_id: str) -> Figure:
    """Occlusion ratio (rows with unoccluded pixels) and field-of-view truncation (all rows), log counts."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    for ax, col, what in zip(fig.subplots(1, 2), ("occlusion_ratio", "fov_ratio"), ("occlusion", "truncation")):
        values = table[col].dropna().to_numpy()
        ax.hist(values, bins=RATIO_BINS, color="tab:blue" if col == "occlusion_ratio" else "tab:orange", log=True)
        ax.set(title=f"{what} ({len(values)} rows)", xlabel=col, ylabel="(frame, instance) rows", xlim=(0, 1))
    fig.suptitle(scene_id)
    return fig


def overlap_heatmap(overlap: FrameOverlap, cap: float, scene_id: str) -> Figure:
    """The IoU matrix of all frames, with the pairs above the sampler's cap outlined."""
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(overlap.matrix, vmin=0.0, vmax=1.0, cmap="viridis", interpolation="nearest")
    if len(overlap.frame_ids) > 1:
        ax.contour(overlap.matrix > cap, levels=[0.5], colors="white", linewidths=0.5)
    fig.colorbar(image, ax=ax, label="overlap (voxel IoU)")
    ax.set(title=f"{scene_id}: frame overlap (white: above cap {cap})", xlabel="frame index", ylabel="frame index")
    return fig
