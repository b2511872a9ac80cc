"""Review plots of a QA table (matplotlib figures, no pyplot state): what a reviewer looks at beside
the expectation results; and a review page's rendered questions (PIL images of their frames)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from ..quality.review_questions import COUNTED, SOURCE, TARGET, FrameView, QuestionView
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


# --- a review page's rendered question (PIL): its frames side by side, the objects boxed --------------------

ROLE_COLOURS = {TARGET: (230, 25, 75), SOURCE: (0, 110, 220), COUNTED: (230, 25, 75)}
QUERY_COLOUR = (255, 190, 0)
POINT_COLOUR = (20, 160, 60)
_MISSING_FRAME = (200, 200, 200)
_GAP, _CAPTION, _BORDER, _DASH = 6, 20, 4, 6  # pixels


def _dashed_rectangle(draw: ImageDraw.ImageDraw, xyxy: tuple[float, ...], colour: tuple[int, ...]) -> None:
    x0, y0, x1, y1 = xyxy
    for (a, b), (c, d) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        n = max(1, int(np.hypot(c - a, d - b) // _DASH))
        for i in range(0, n, 2):
            t0, t1 = i / n, min(i + 1, n) / n
            draw.line([(a + (c - a) * t0, b + (d - b) * t0), (a + (c - a) * t1, b + (d - b) * t1)], colour, 2)


def _tag(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: tuple[int, ...],
           font: ImageFont.ImageFont) -> None:
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=colour)
    draw.text(xy, text, fill=(255, 255, 255), font=font)


def _frame_tile(frame: FrameView, height: int, font: ImageFont.ImageFont) -> Image.Image:
    """One frame scaled to ``height``, boxes and points drawn, a caption above; the query frame framed."""
    if frame.image is not None:
        with Image.open(frame.image) as im:
            image = im.convert("RGB")
    else:
        image = Image.new("RGB", (height * 4 // 3, height), _MISSING_FRAME)
    scale = height / image.height
    image = image.resize((round(image.width * scale), height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for box in frame.boxes:
        xyxy = tuple(c * scale for c in box.xyxy)
        colour = ROLE_COLOURS[box.role]
        if box.hidden:
            _dashed_rectangle(draw, xyxy, colour)
        else:
            draw.rectangle(xyxy, outline=colour, width=2)
        _tag(draw, (xyxy[0] + 2, xyxy[1] + 2), box.label + (" (hidden)" if box.hidden else ""), colour, font)
    for point in frame.points:
        x, y = point.xy[0] * scale, point.xy[1] * scale
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline=POINT_COLOUR, width=2)
        _tag(draw, (x + 5, y - 16), point.label, POINT_COLOUR, font)
    tile = Image.new("RGB", (image.width + 2 * _BORDER, height + _CAPTION + 2 * _BORDER), (255, 255, 255))
    if frame.is_query:
        ImageDraw.Draw(tile).rectangle((0, _CAPTION, tile.width - 1, tile.height - 1), fill=QUERY_COLOUR)
    tile.paste(image, (_BORDER, _CAPTION + _BORDER))
    caption = f"Frame {frame.position}  {frame.frame_id}" + ("  (query)" if frame.is_query else "")
    ImageDraw.Draw(tile).text((_BORDER, 2), caption, fill=(0, 0, 0), font=font)
    return tile


def question_image(view: QuestionView, frame_height: int) -> Image.Image:
    """The frames of a question side by side (Frame 0 first), each ``frame_height`` pixels high."""
    font = ImageFont.load_default(size=13)
    tiles = [_frame_tile(f, frame_height, font) for f in view.frames]
    out = Image.new("RGB", (sum(t.width for t in tiles) + _GAP * (len(tiles) - 1), tiles[0].height), (255, 255, 255))
    x = 0
    for tile in tiles:
        out.paste(tile, (x, 0))
        x += tile.width + _GAP
    return out
