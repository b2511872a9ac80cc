"""Metadata helpers: images and tables that the Dagster UI renders in an asset's materialization."""
from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import dagster as dg
from PIL import Image


def image_md(image: Image.Image, caption: str = "", max_side: int = 640) -> dg.MetadataValue:
    """A PIL image as markdown with an inline PNG (the UI shows it without opening files)."""
    im = image.copy()
    im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    b64 = base64.b64encode(buf.getvalue()).decode()
    return dg.MetadataValue.md(f"![{caption}](data:image/png;base64,{b64})")


def figure_md(fig, caption: str = "") -> dg.MetadataValue:
    """A matplotlib figure as inline PNG markdown; closes the figure."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return image_md(Image.open(buf), caption, max_side=1200)


def counts_table(counts: Mapping[str, int], key: str = "label", value: str = "count") -> dg.MetadataValue:
    """A two-column table, largest count first."""
    rows = [dg.TableRecord({key: k, value: int(v)}) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    schema = dg.TableSchema(columns=[dg.TableColumn(key, "string"), dg.TableColumn(value, "int")])
    return dg.MetadataValue.table(rows, schema=schema)
