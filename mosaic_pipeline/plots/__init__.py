"""Every figure of the project, as matplotlib ``Figure`` objects (no pyplot state): the quality review plots
(``quality``), the label histograms and overlap heat maps (``labels``), loss curves and score tables
(``training``). Callers render them: the Dagster metadata inline, the CLI and the DVC stages as PNG files
(``save_png``)."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..atomic import atomic_file


def save_png(figure: Figure, out: Path) -> Path:
    """``figure`` as a PNG file, written atomically."""
    with atomic_file(out) as tmp:
        figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return out
